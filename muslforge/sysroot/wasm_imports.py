"""The wasm32 syscall manifest: every `env.__syscall_*` import a libc.a can need, with its signature.

Derived from the built archive, never written by hand: `llvm-nm` tells which `__syscall_*` symbols the
archive leaves undefined (the ones the linked module imports), and the import section of each member (a
wasm object file) gives the import's module, name and function type. One name with two signatures is an error: the static-syscall ABI
promises one fixed signature per syscall (docs/wasm32-abi.md).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import proc
from ..errors import MuslforgeError
from ..files import write_atomically

PREFIX = "__syscall_"
FORMAT = 1
_VALTYPES = {0x7F: "i32", 0x7E: "i64", 0x7D: "f32", 0x7C: "f64", 0x7B: "v128", 0x70: "funcref",
             0x6F: "externref"}


class ManifestError(MuslforgeError):
    """libc.a is not a wasm archive, or its syscall imports contradict each other."""


@dataclass(frozen=True, slots=True, kw_only=True)
class Import:
    module: str
    name: str
    params: tuple[str, ...]
    results: tuple[str, ...]


def generate(libc_a: Path, nm: str = "llvm-nm-22", output: Callable[[list[str]], str] = proc.output) -> dict:
    """The manifest of `libc_a` as a JSON-ready dict (sorted, so equal inputs give equal bytes).

    `output` runs nm and returns its stdout (the build passes its backend's, so nm may live in a container).
    """
    libc_a = Path(libc_a)
    syscalls = _unresolved_syscalls(libc_a, nm, output)
    found: dict[str, dict] = {}
    for member, data in _ar_members(libc_a):
        for imp in _function_imports(data, f"{libc_a}({member})"):
            if imp.name in syscalls:
                _merge(found, imp, member, libc_a)
    missing = sorted(syscalls - set(found))
    if missing:
        raise ManifestError(f"{libc_a}: {', '.join(missing[:5])} referenced but not imported from a module; "
                            f"was libc built with SYSCALL_STATIC (the wasm32 patches)?")
    return {"format": FORMAT, "archive": libc_a.name, "count": len(found),
            "syscalls": {name: found[name] for name in sorted(found)}}


def write(libc_a: Path, out_json: Path, nm: str = "llvm-nm-22",
          output: Callable[[list[str]], str] = proc.output) -> dict:
    """Generate the manifest of `libc_a` and write it to `out_json` atomically; return it."""
    manifest = generate(libc_a, nm, output)
    write_atomically(Path(out_json), json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    return manifest


def _merge(found: dict[str, dict], imp: Import, member: str, libc_a: Path) -> None:
    entry = {"module": imp.module, "params": len(imp.params),
             "signature": f"({', '.join(imp.params)}) -> ({', '.join(imp.results)})", "members": []}
    have = found.setdefault(imp.name, entry)
    if (have["module"], have["signature"]) != (entry["module"], entry["signature"]):
        raise ManifestError(f"{libc_a}: {imp.name} is imported as {have['module']} {have['signature']} by "
                            f"{have['members'][0]} but as {entry['module']} {entry['signature']} by {member}; "
                            f"every syscall needs one signature (pad calls in syscall_static.h).")
    if member not in have["members"]:
        have["members"].append(member)
        have["members"].sort()


def _unresolved_syscalls(libc_a: Path, nm: str, output: Callable[[list[str]], str]) -> set[str]:
    """__syscall_* symbols some member leaves undefined and no member defines (from `nm -A` lines).

    A wasm object lists every undefined function in its import section, so the import section alone
    would also name musl's own helpers (__syscall_ret); what the archive does not define is what the
    final module imports.
    """
    defined, undefined = set(), set()
    for line in output([nm, "-A", str(libc_a)]).splitlines():
        fields = line.split()
        if len(fields) < 3 or not fields[-1].startswith(PREFIX):
            continue
        (undefined if fields[-2] in ("U", "w") else defined).add(fields[-1])
    return undefined - defined


def _ar_members(path: Path) -> Iterator[tuple[str, bytes]]:
    """(name, bytes) of each regular member of a System V / GNU ar archive."""
    data = path.read_bytes()
    if not data.startswith(b"!<arch>\n"):
        raise ManifestError(f"{path}: not an ar archive (no '!<arch>' header); expected the built libc.a.")
    pos, longnames = 8, b""
    while pos + 60 <= len(data):
        header = data[pos:pos + 60]
        name = header[:16].decode("ascii", "replace").rstrip()
        size = int(header[48:58].decode("ascii").strip() or 0)
        body = data[pos + 60:pos + 60 + size]
        pos += 60 + size + (size & 1)
        if name == "//":
            longnames = body
        elif name.startswith("/") and name[1:].isdigit():
            start = int(name[1:])
            yield longnames[start:longnames.index(b"/\n", start)].decode(), body
        elif not name.startswith("/"):
            yield name.rstrip("/"), body


def _leb(data: bytes, pos: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        byte = data[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        shift += 7
        if byte < 0x80:
            return value, pos


def _name(data: bytes, pos: int) -> tuple[str, int]:
    length, pos = _leb(data, pos)
    return data[pos:pos + length].decode("utf-8"), pos + length


def _sections(data: bytes, where: str) -> dict[int, bytes]:
    if data[:4] != b"\0asm":
        raise ManifestError(f"{where}: not a wasm object file; the manifest exists only for wasm32 libc.a.")
    pos, sections = 8, {}
    while pos < len(data):
        section_id = data[pos]
        size, pos = _leb(data, pos + 1)
        sections.setdefault(section_id, data[pos:pos + size])
        pos += size
    return sections


def _types(section: bytes) -> list[tuple[tuple[str, ...], tuple[str, ...]]]:
    count, pos = _leb(section, 0)
    types = []
    for _ in range(count):
        pos += 1  # 0x60: func type
        lists = []
        for _ in range(2):
            n, pos = _leb(section, pos)
            lists.append(tuple(_VALTYPES.get(b, hex(b)) for b in section[pos:pos + n]))
            pos += n
        types.append((lists[0], lists[1]))
    return types


def _skip_limits(section: bytes, pos: int) -> int:
    flags = section[pos]
    _, pos = _leb(section, pos + 1)
    if flags & 1:
        _, pos = _leb(section, pos)
    return pos


def _function_imports(data: bytes, where: str) -> list[Import]:
    sections = _sections(data, where)
    if 2 not in sections:
        return []
    types = _types(sections.get(1, b"\0"))
    section = sections[2]
    count, pos = _leb(section, 0)
    imports = []
    for _ in range(count):
        module, pos = _name(section, pos)
        name, pos = _name(section, pos)
        kind = section[pos]
        pos += 1
        if kind == 0:       # function
            index, pos = _leb(section, pos)
            imports.append(Import(module=module, name=name, params=types[index][0], results=types[index][1]))
        elif kind == 1:     # table: reftype, limits
            pos = _skip_limits(section, pos + 1)
        elif kind == 2:     # memory: limits
            pos = _skip_limits(section, pos)
        elif kind == 3:     # global: valtype, mutability
            pos += 2
        elif kind == 4:     # tag: attribute, type index
            _, pos = _leb(section, pos + 1)
        else:
            raise ManifestError(f"{where}: unknown import kind {kind}; is llvm newer than this parser?")
    return imports
