#!/usr/bin/env python3
"""Size and imports of hello world (puts, -O2, stripped) on the wasm32 sysroot.

Goal (issue 11): <= 4,000 bytes and <= 4 imports (writev and exit_group are the floor). Prints the
size, the import list, and the same for a program that uses what hello leaves out (fclose(stdout),
fseek), so a smaller hello never costs behaviour. Floor for comparison: Debian's wasi-libc hello gave
4,006 bytes and 5 imports when the issue was filed.

    python3 bench/hello_size.py [SYSROOT]      # default: build/sysroots/wasm32
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'
CLOSE = ('#include <stdio.h>\nint main(void) { puts("x"); fseek(stdout, 0, SEEK_CUR); '
         'return fclose(stdout); }\n')


def build(sysroot: Path, source: str, out: Path) -> Path:
    from muslforge.sysroot.cc import cc_argv
    from muslforge.config.arch import load_arch
    from muslforge.config.toolchain import load_toolchain
    from muslforge import paths

    arch = load_arch(paths.ARCHES_DIR, "wasm32")
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")
    c_file = out.with_suffix(".c")
    c_file.write_text(source)
    subprocess.run(cc_argv(toolchain, arch, sysroot, ["-O2", "-s", str(c_file), "-o", str(out)]), check=True)
    return out


def imports(wasm: Path) -> list[str]:
    import wasmtime

    module = wasmtime.Module.from_file(wasmtime.Engine(), str(wasm))
    return [imp.name.removeprefix("__syscall_") for imp in module.imports]


def main() -> None:
    sysroot = Path(sys.argv[1]) if len(sys.argv) > 1 else CHECKOUT / "build" / "sysroots" / "wasm32"
    with tempfile.TemporaryDirectory() as tmp:
        for name, source in (("hello", HELLO), ("fclose(stdout)", CLOSE)):
            wasm = build(sysroot, source, Path(tmp) / f"{name.split('(')[0]}.wasm")
            names = imports(wasm)
            print(f"{name}: {wasm.stat().st_size} bytes, {len(names)} imports: {' '.join(names)}")
    print("goal for hello: <= 4000 bytes, <= 4 imports")


if __name__ == "__main__":
    main()
