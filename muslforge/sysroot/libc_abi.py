"""The libc ABI check: the global symbols a built libc.a defines and libc.so exports, against
checked-in lists.

abi/<arch>-musl-<version>.symbols (libc.a) and abi/<arch>-musl-<version>.libc.so.symbols (libc.so's
dynamic symbol table) hold one symbol a line. A build that loses a listed symbol fails (a program that
linked yesterday would not link today, or would not load); new symbols are reported, and a list is
updated with `python3 -m muslforge.sysroot.libc_abi LIBRARY LIST` (a libc.a or a libc.so).
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable

from .. import paths, proc
from ..errors import MuslforgeError, report
from ..files import write_atomically

Output = Callable[[list[str]], str]


def list_path(arch: str, version: str) -> Path:
    return paths.CHECKOUT / "abi" / f"{arch}-musl-{version}.symbols"


def shared_list_path(static_list: Path) -> Path:
    """The libc.so list beside a libc.a list: x86_64-musl-1.2.6.symbols -> x86_64-musl-1.2.6.libc.so.symbols."""
    return static_list.with_name(static_list.name.removesuffix(".symbols") + ".libc.so.symbols")


def defined_symbols(library: Path, nm: str, output: Output = proc.output) -> list[str]:
    """Sorted, unique global symbols an archive defines (llvm-nm --defined-only -g), or a shared
    object exports (the same over its dynamic symbol table, -D)."""
    dynamic = ["-D"] if Path(library).suffix == ".so" else []
    names = set()
    argv = [nm, *dynamic, "--defined-only", "-g", "--format=just-symbols", str(library)]
    for line in output(argv).splitlines():
        name = line.strip()
        if name and not name.endswith(":"):  # member headers in nm's archive output
            names.add(name)
    return sorted(names)


def check(symbols: list[str], expected: Path, library: str = "libc.a") -> list[str]:
    """Raise MuslforgeError naming every listed symbol that is gone; return the new ones."""
    listed = set(expected.read_text(encoding="utf-8").split())
    missing = sorted(listed - set(symbols))
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise MuslforgeError(f"ABI check: {library} no longer defines {len(missing)} symbol(s) listed in "
                             f"{expected}: {shown}. If that is intended, regenerate the list: "
                             f"python3 -m muslforge.sysroot.libc_abi <sysroot>/lib/{library} {expected}")
    return sorted(set(symbols) - listed)


def write(symbols: list[str], target: Path) -> None:
    write_atomically(target, "".join(f"{name}\n" for name in symbols))


def _nm() -> str:
    """The nm setting (NM), else the run's toolchain's llvm-nm."""
    from .. import paths, settings
    from ..config.toolchain import load_toolchain

    chosen = settings.current()
    return chosen.nm or load_toolchain(paths.TOOLCHAINS_DIR, chosen.toolchain).nm


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        return report("muslforge.sysroot.libc_abi",
                      MuslforgeError("usage: python3 -m muslforge.sysroot.libc_abi LIBRARY LIST "
                                     "(LIBRARY: a libc.a or a libc.so)"))
    try:
        symbols = defined_symbols(Path(argv[0]), _nm())
        write(symbols, Path(argv[1]))
    except (MuslforgeError, KeyboardInterrupt) as error:
        return report("muslforge.sysroot.libc_abi", error)
    print(f"{len(symbols)} symbols -> {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
