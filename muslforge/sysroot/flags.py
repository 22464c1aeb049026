"""How a program is compiled and linked against a sysroot: the one definition every route uses.

The definition is written once, as a clang configuration file `<triple>.cfg` in the sysroot's top folder.
`muslforge cc`, the sysroot's `bin/<host triple>-cc`, the smoke builds and a release tarball all run
`clang --config=<that file> ...`, so the same command gives the same bytes every way.

Its lines, in order (every path relative to the file, clang's `<CFGDIR>`, so the folder can move):
  target      --target, --sysroot                                   (every invocation)
  compile     -nostdlibinc -isystem <CFGDIR>/include, arch cflags   (musl's headers; clang's own
                                                                     intrinsics headers stay reachable)
  link        -static -nostdlib -fuse-ld=lld -L<CFGDIR>/lib, arch ldflags
  inputs      crt1.o crti.o ... libc.a builtins crtn.o              ('$' tail options: after the user's
                                                                     files, and only when clang links)
Clang claims every option that comes from a configuration file, so a compile-only option never warns on
a link line and a link option never warns on a `-c` line: `-Werror` builds stay clean both ways.

Linkage: STATIC is what the sysroots are today. DYNAMIC (shared libc, `-shared` objects) is a separate
configuration file with its own link flags and inputs; `link_flags` and `link_inputs` are where it goes.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from .build import BUILTINS_NAME
from ..config.arch import Arch

CFGDIR = "<CFGDIR>"
START_OBJECTS = ("crt1.o", "crti.o")
END_OBJECTS = ("crtn.o",)


class Linkage(enum.Enum):
    STATIC = "static"
    DYNAMIC = "dynamic"


def target_flags(arch: Arch, root: str = CFGDIR) -> list[str]:
    return [f"--target={arch.triple}", f"--sysroot={root}"]


def compile_flags(arch: Arch, root: str = CFGDIR) -> list[str]:
    """musl's headers first, not -nostdinc: clang's own stdatomic.h, arm_neon.h, wasm_simd128.h stay."""
    return ["-nostdlibinc", "-isystem", f"{root}/include", *arch.cflags]


def link_flags(arch: Arch, root: str = CFGDIR, linkage: Linkage = Linkage.STATIC) -> list[str]:
    if linkage is not Linkage.STATIC:
        raise NotImplementedError(f"{linkage.value} linking is not defined yet")
    return ["-static", "-nostdlib", "-fuse-ld=lld", f"-L{root}/lib", *arch.ldflags]


def link_inputs(sysroot: Path, root: str = CFGDIR, linkage: Linkage = Linkage.STATIC) -> list[str]:
    """The objects and archives every link adds, in link order (crt objects only where the sysroot has them)."""
    if linkage is not Linkage.STATIC:
        raise NotImplementedError(f"{linkage.value} linking is not defined yet")
    lib = sysroot / "lib"
    names = [name for name in START_OBJECTS if (lib / name).is_file()]
    names += ["libc.a", BUILTINS_NAME]
    names += [name for name in END_OBJECTS if (lib / name).is_file()]
    return [f"{root}/lib/{name}" for name in names]


def clang_major(cc: str) -> int | None:
    """clang-22 -> 22; None when the program name carries no version."""
    found = re.search(r"(\d+)$", Path(cc).name)
    return int(found.group(1)) if found else None


def supports_tail_options(cc: str) -> bool:
    """Clang 20 added '$'-prefixed config options, appended after the user's arguments when linking."""
    major = clang_major(cc)
    return major is None or major >= 20


def config_name(arch: Arch) -> str:
    return f"{arch.triple}.cfg"


def clang_config(arch: Arch, sysroot: Path, *, tail: bool = True, root: str = CFGDIR,
                 linkage: Linkage = Linkage.STATIC) -> str:
    """The text of `<triple>.cfg` for a sysroot (root: how its lines name the sysroot, normally <CFGDIR>).

    With `tail` (clang >= 20) the link inputs are '$' options: clang appends them after the user's
    files and only when it links, so `-c` and `-E` never see them. Without it (clang 19) they precede
    the user's files, which lld accepts since it resolves archives in any order.
    """
    mark = "$" if tail else ""
    lines = [
        f"# clang configuration for the muslforge {arch.name} sysroot ({arch.triple}), written by muslforge.",
        "# Use: clang --config=<path to this file> hello.c -o hello   (static link; paths are relative",
        "# to this file's folder, so the folder can be moved anywhere).",
        *_lines(target_flags(arch, root)),
        *_lines(compile_flags(arch, root)),
        *_lines(link_flags(arch, root, linkage)),
        *(f"{mark}{path}" for path in link_inputs(sysroot, root, linkage)),
    ]
    return "\n".join(lines) + "\n"


def _lines(flags: list[str]) -> list[str]:
    """One option a line; '-isystem DIR' stays on one line."""
    lines: list[str] = []
    for flag in flags:
        if lines and lines[-1] == "-isystem":
            lines[-1] = f"-isystem {_quote(flag)}"
        else:
            lines.append(_quote(flag))
    return lines


def _quote(arg: str) -> str:
    """Quote one argument the way clang's config-file tokenizer reads it back."""
    if arg and not re.search(r"[\s\"'\\#$]", arg):
        return arg
    return '"' + arg.replace("\\", "\\\\").replace('"', '\\"') + '"'
