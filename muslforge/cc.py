"""Compile and link a program statically against a sysroot: crt objects, libc.a, compiler-rt builtins."""

from __future__ import annotations

from pathlib import Path

from .build import BUILTINS_NAME
from .config.arch import Arch
from .config.toolchain import Toolchain
from .errors import MuslforgeError

# Flags after which clang does not link (the user asked for an object, assembly or preprocessed text).
_NO_LINK = {"-c", "-S", "-E", "-M", "-MM", "-fsyntax-only"}


def require_sysroot(sysroot: Path, arch: Arch) -> None:
    if not (sysroot / "lib" / "libc.a").is_file():
        raise MuslforgeError(f"No sysroot for {arch.name} at {sysroot} (lib/libc.a is missing). "
                             f"Build it first: doit build:{arch.name}")


def cc_argv(toolchain: Toolchain, arch: Arch, sysroot: Path, args: list[str]) -> list[str]:
    """The clang command line for `muslforge cc`: user args between the crt start and end objects."""
    lib = sysroot / "lib"
    compile_flags = [toolchain.cc, f"--target={arch.triple}", "-nostdinc", "-isystem", str(sysroot / "include"),
                     *arch.cflags]
    if _NO_LINK.intersection(args):
        return [*compile_flags, *args]
    start = [lib / name for name in ("crt1.o", "crti.o") if (lib / name).is_file()]
    end = [lib / name for name in ("crtn.o",) if (lib / name).is_file()]
    return [*compile_flags, "-static", "-nostdlib", "-fuse-ld=lld", f"-L{lib}", *map(str, start), *args,
            str(lib / "libc.a"), str(lib / BUILTINS_NAME), *map(str, end), *arch.ldflags]
