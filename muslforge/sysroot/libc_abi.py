"""The libc ABI check: the global symbols a built libc.a defines, against a checked-in list.

abi/<arch>-musl-<version>.symbols holds one symbol a line. A build that loses a listed symbol fails (a
program that linked yesterday would not link today); new symbols are reported, and the list is updated
with `python3 -m muslforge.sysroot.libc_abi LIBC_A LIST`.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Callable

from .. import paths, proc
from ..errors import MuslforgeError, report
from ..files import write_atomically

Output = Callable[[list[str]], str]


def list_path(arch: str, version: str) -> Path:
    return paths.CHECKOUT / "abi" / f"{arch}-musl-{version}.symbols"


def defined_symbols(libc_a: Path, nm: str, output: Output = proc.output) -> list[str]:
    """Sorted, unique global symbols defined by the archive (llvm-nm --defined-only -g)."""
    names = set()
    for line in output([nm, "--defined-only", "-g", "--format=just-symbols", str(libc_a)]).splitlines():
        name = line.strip()
        if name and not name.endswith(":"):  # member headers in nm's archive output
            names.add(name)
    return sorted(names)


def check(symbols: list[str], expected: Path) -> list[str]:
    """Raise MuslforgeError naming every listed symbol that is gone; return the new ones."""
    listed = set(expected.read_text(encoding="utf-8").split())
    missing = sorted(listed - set(symbols))
    if missing:
        shown = ", ".join(missing[:20]) + (f" and {len(missing) - 20} more" if len(missing) > 20 else "")
        raise MuslforgeError(f"ABI check: libc.a no longer defines {len(missing)} symbol(s) listed in "
                             f"{expected}: {shown}. If that is intended, regenerate the list: "
                             f"python3 -m muslforge.sysroot.libc_abi <sysroot>/lib/libc.a {expected}")
    return sorted(set(symbols) - listed)


def write(symbols: list[str], target: Path) -> None:
    write_atomically(target, "".join(f"{name}\n" for name in symbols))


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        return report("muslforge.sysroot.libc_abi", MuslforgeError("usage: python3 -m muslforge.sysroot.libc_abi LIBC_A LIST"))
    try:
        symbols = defined_symbols(Path(argv[0]), os.environ.get("NM", "llvm-nm-22"))
        write(symbols, Path(argv[1]))
    except (MuslforgeError, KeyboardInterrupt) as error:
        return report("muslforge.sysroot.libc_abi", error)
    print(f"{len(symbols)} symbols -> {argv[1]}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
