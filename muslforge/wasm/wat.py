"""Tiny hand-written test programs: a WAT module that imports syscalls and exports what the ABI requires.

    wasm = syscall_module({"write": 3}, '(drop (call $write (i32.const 1) (i32.const 64) (i32.const 3)))',
                          data={64: b"hi\\n"})

Each syscall named in `syscalls` (name -> parameter count) is imported as env.__syscall_<name> and
callable as $<name>; `body` is the body of `_start(param $p i32)`; every import is also re-exported as
`sys_<name>` so tests can call it directly on an Instance. Uses wasmtime.wat2wasm (imported lazily).
"""

from __future__ import annotations

from collections.abc import Mapping


def _data(segments: Mapping[int, bytes]) -> str:
    parts = []
    for offset, blob in segments.items():
        escaped = "".join(f"\\{b:02x}" for b in blob)
        parts.append(f'  (data (i32.const {offset}) "{escaped}")')
    return "\n".join(parts)


def syscall_module_text(syscalls: Mapping[str, int], body: str = "", *, data: Mapping[int, bytes] = {},
                        heap_base: int = 65536, pages: int = 2, extra: str = "") -> str:
    imports = "\n".join(
        f'  (import "env" "__syscall_{name}" (func ${name} (param{" i32" * count}) (result i32)))'
        for name, count in syscalls.items())
    wrappers = "\n".join(
        f'  (func (export "sys_{name}") (param{" i32" * count}) (result i32)'
        f' (call ${name} {" ".join(f"(local.get {i})" for i in range(count))}))'
        for name, count in syscalls.items())
    return (f"(module\n{imports}\n  (memory (export \"memory\") {pages})\n"
            f"  (global (export \"__heap_base\") i32 (i32.const {heap_base}))\n{_data(data)}\n{extra}\n"
            f"{wrappers}\n  (func (export \"_start\") (param $p i32)\n{body}\n  )\n)\n")


def syscall_module(syscalls: Mapping[str, int], body: str = "", **options) -> bytes:
    import wasmtime

    return wasmtime.wat2wasm(syscall_module_text(syscalls, body, **options))
