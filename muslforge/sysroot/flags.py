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

Linkage: one configuration file each. STATIC (`<triple>.cfg`, the default), and on arches with a shared
libc STATIC_PIE (rcrt1.o), DYNAMIC (`<triple>-dynamic.cfg`: Scrt1.o, -lc, musl's loader path) and
SHARED (`<triple>-shared.cfg`: -fPIC -shared, no start file). One file cannot serve both programs and
shared libraries: lld links Scrt1.o's _start (and a PT_INTERP) into a -shared output too, and clang
decides what it links before it appends '$' options, so `$-shared` would not work either.
"""

from __future__ import annotations

import enum
import re
from pathlib import Path

from .build import BUILTINS_NAME
from ..config.arch import Arch
from ..errors import MuslforgeError
from .dynamic import loader_name, loader_path

CFGDIR = "<CFGDIR>"
END_OBJECTS = ("crtn.o",)


class Linkage(enum.Enum):
    """How a program is linked; each has its own configuration file (config_name)."""
    STATIC = "static"            # crt1.o ... libc.a: the default
    STATIC_PIE = "static-pie"    # rcrt1.o ... libc.a: static and position independent
    DYNAMIC = "dynamic"          # Scrt1.o ... -lc (libc.so), PT_INTERP /lib/ld-musl-<arch>.so.1
    SHARED = "shared"            # -fPIC -shared, crti.o ... -lc: a shared library


_START = {Linkage.STATIC: "crt1.o", Linkage.STATIC_PIE: "rcrt1.o", Linkage.DYNAMIC: "Scrt1.o",
          Linkage.SHARED: None}
_SUFFIX = {Linkage.STATIC: "", Linkage.STATIC_PIE: "-static-pie", Linkage.DYNAMIC: "-dynamic",
           Linkage.SHARED: "-shared"}
_NEEDS_LIBC_SO = (Linkage.DYNAMIC, Linkage.SHARED)


def linkages(sysroot: Path) -> list[Linkage]:
    """What a sysroot can link: static always; static-PIE with rcrt1.o; dynamic and shared with libc.so."""
    found = [Linkage.STATIC]
    if (sysroot / "lib" / "rcrt1.o").is_file():
        found.append(Linkage.STATIC_PIE)
    if loader_name(sysroot) and (sysroot / "lib" / "libc.so").is_file():
        found += [Linkage.DYNAMIC, Linkage.SHARED]
    return found


def target_flags(arch: Arch, root: str = CFGDIR) -> list[str]:
    return [f"--target={arch.triple}", f"--sysroot={root}"]


def compile_flags(arch: Arch, root: str = CFGDIR) -> list[str]:
    """musl's headers first, not -nostdinc: clang's own stdatomic.h, arm_neon.h, wasm_simd128.h stay."""
    return ["-nostdlibinc", "-isystem", f"{root}/include", *arch.cflags]


def link_flags(arch: Arch, root: str = CFGDIR, linkage: Linkage = Linkage.STATIC,
               loader: str | None = None) -> list[str]:
    """loader: the dynamic loader path a DYNAMIC program names (/lib/ld-musl-<arch>.so.1)."""
    mode = {Linkage.STATIC: ["-static"], Linkage.STATIC_PIE: ["-static-pie"], Linkage.SHARED: ["-fPIC", "-shared"],
            Linkage.DYNAMIC: [f"-Wl,--dynamic-linker={loader}"]}[linkage]
    return [*mode, "-nostdlib", "-fuse-ld=lld", f"-L{root}/lib", *arch.ldflags]


def link_inputs(sysroot: Path, root: str = CFGDIR, linkage: Linkage = Linkage.STATIC) -> list[str]:
    """The objects and archives every link adds, in link order (crt objects only where the sysroot has them);
    '-lc' (libc.so, recorded as DT_NEEDED as on a musl system) for dynamic and shared links."""
    lib = sysroot / "lib"
    names = [name for name in (_START[linkage], "crti.o") if name and (lib / name).is_file()]
    names += ["-lc" if linkage in _NEEDS_LIBC_SO else "libc.a", BUILTINS_NAME]
    names += [name for name in END_OBJECTS if (lib / name).is_file()]
    return [name if name.startswith("-") else f"{root}/lib/{name}" for name in names]


def require_linkage(arch: Arch, sysroot: Path, linkage: Linkage) -> str | None:
    """The loader path for a dynamic or shared link (None for the static ones); a clear error when the
    sysroot cannot link that way."""
    if linkage not in linkages(sysroot):
        why = (f"{arch.name} is static-only (shared: false in {arch.path})" if not arch.shared else
               f"{sysroot}/lib lacks what it needs (libc.so, ld-musl-*.so.1, rcrt1.o); rebuild it: "
               f"doit build:{arch.name}")
        raise MuslforgeError(f"Cannot link {linkage.value} for {arch.name}: {why}. Link statically instead.")
    return loader_path(sysroot) if linkage in _NEEDS_LIBC_SO else None


def clang_major(cc: str) -> int | None:
    """clang-22 -> 22; None when the program name carries no version."""
    found = re.search(r"(\d+)$", Path(cc).name)
    return int(found.group(1)) if found else None


def supports_tail_options(cc: str) -> bool:
    """Clang 20 added '$'-prefixed config options, appended after the user's arguments when linking."""
    major = clang_major(cc)
    return major is None or major >= 20


def config_name(arch: Arch, linkage: Linkage = Linkage.STATIC) -> str:
    """'<triple>.cfg', '<triple>-dynamic.cfg', '<triple>-shared.cfg', '<triple>-static-pie.cfg'."""
    return f"{arch.triple}{_SUFFIX[linkage]}.cfg"


def clang_config(arch: Arch, sysroot: Path, *, tail: bool = True, root: str = CFGDIR,
                 linkage: Linkage = Linkage.STATIC) -> str:
    """The text of `<triple>.cfg` for a sysroot (root: how its lines name the sysroot, normally <CFGDIR>).

    With `tail` (clang >= 20) the link inputs are '$' options: clang appends them after the user's
    files and only when it links, so `-c` and `-E` never see them. Without it (clang 19) they precede
    the user's files, which lld accepts since it resolves archives in any order.
    """
    loader = require_linkage(arch, sysroot, linkage)
    mark = "$" if tail else ""
    lines = [
        f"# clang configuration for the muslforge {arch.name} sysroot ({arch.triple}), written by muslforge.",
        f"# Use: clang --config=<path to this file> {_USE[linkage]}",
        "# (paths are relative to this file's folder, so the folder can be moved anywhere).",
        *_lines(target_flags(arch, root)),
        *_lines(compile_flags(arch, root)),
        *_lines(link_flags(arch, root, linkage, loader)),
        *(f"{mark}{path}" for path in link_inputs(sysroot, root, linkage)),
    ]
    return "\n".join(lines) + "\n"


_USE = {Linkage.STATIC: "hello.c -o hello   (a static program)",
        Linkage.STATIC_PIE: "hello.c -o hello   (a static position-independent program)",
        Linkage.DYNAMIC: "hello.c -o hello   (a dynamic program: musl's loader, libc.so)",
        Linkage.SHARED: "foo.c -o libfoo.so   (a shared library: -fPIC -shared are in here)"}


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
