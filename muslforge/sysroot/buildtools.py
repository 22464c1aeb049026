"""What lets any build system use a sysroot: compiler and binutils wrappers, CMake and Meson cross files.

Written into the sysroot at build time (so every sysroot and every release tarball has them):

    <triple>.cfg                         the flags (muslforge.sysroot.flags): clang --config=<it>
    <triple>-{dynamic,shared,static-pie}.cfg   the same for the other link modes (shared-libc arches)
    bin/<host triple>-cc                 sh: exec clang-22 --config=<sysroot>/<triple>.cfg "$@" (the
                                         other .cfg for --dynamic / MUSLFORGE_LINK=dynamic, -shared...)
    bin/<host triple>-{ar,ranlib,nm,strip,objdump,objcopy,readelf,size,strings}   llvm tools
    bin/<host triple>-run                runs a built program: muslforge run --arch <arch>
    share/muslforge/toolchain.cmake      -DCMAKE_TOOLCHAIN_FILE=; ctest runs through muslforge run
    share/muslforge/meson-cross.ini      --cross-file; exe_wrapper is muslforge run
    share/muslforge/static-only.cmake    (included by toolchain.cmake) SHARED libraries become STATIC

`<host triple>` is Arch.tool_prefix: a triple stock config.sub accepts, so `./configure --host=<it>` with
bin/ on PATH finds the compiler like any cross toolchain's. The wrappers are plain sh (no Python per
call) and find the sysroot from their own path, so the folder can move. MUSLFORGE_CLANG, MUSLFORGE_AR,
... name other programs (clang-22 may be called clang elsewhere).
"""

from __future__ import annotations

import os
from pathlib import Path

from ..config.arch import Arch, RunMode
from ..config.toolchain import Toolchain
from .flags import Linkage, clang_config, config_name, linkages, supports_tail_options

# Bump when the generated files change: the build's up-to-date check includes it (tasks/sysroot.py).
FORMAT = 5
BINUTILS = ("ar", "ranlib", "nm", "strip")        # named in toolchains/<name>.yaml
MORE_TOOLS = ("objdump", "objcopy", "readelf", "size", "strings")  # llvm-<tool> beside its llvm-nm
CMAKE_FILE = "share/muslforge/toolchain.cmake"
STATIC_ONLY_FILE = "share/muslforge/static-only.cmake"
MESON_FILE = "share/muslforge/meson-cross.ini"

# Meson's cpu_family and the byte order, by the clang triple's cpu field.
_CPU = {
    "x86_64": ("x86_64", "little"), "i386": ("x86", "little"), "i686": ("x86", "little"),
    "aarch64": ("aarch64", "little"), "armv7": ("arm", "little"), "riscv64": ("riscv64", "little"),
    "riscv32": ("riscv32", "little"), "powerpc64le": ("ppc64", "little"), "powerpc": ("ppc", "big"),
    "s390x": ("s390x", "big"), "loongarch64": ("loongarch64", "little"), "mips64el": ("mips64", "little"),
    "wasm32": ("wasm32", "little"),
}


def tool_name(arch: Arch, tool: str) -> str:
    """'aarch64-linux-musl-cc': the file name in bin/."""
    return f"{arch.tool_prefix}-{tool}"


def cc_wrapper(arch: Arch, sysroot: Path) -> Path:
    return sysroot / "bin" / tool_name(arch, "cc")


def write_all(arch: Arch, toolchain: Toolchain, sysroot: Path) -> list[Path]:
    """Write every file above into sysroot (a staging folder: it is renamed into place whole)."""
    tail = supports_tail_options(toolchain.cc)
    available = linkages(sysroot)
    files = {config_name(arch, linkage): clang_config(arch, sysroot, tail=tail, linkage=linkage)
             for linkage in available}
    files.update({CMAKE_FILE: cmake_toolchain(arch, Linkage.DYNAMIC in available), STATIC_ONLY_FILE: STATIC_ONLY,
                  MESON_FILE: meson_cross(arch)})
    scripts = {f"bin/{tool_name(arch, 'cc')}": cc_script(arch, toolchain.cc, available),
               f"bin/{tool_name(arch, 'run')}": run_script(arch)}
    for tool in BINUTILS:
        scripts[f"bin/{tool_name(arch, tool)}"] = tool_script(arch, tool, getattr(toolchain, tool))
    for tool in MORE_TOOLS:  # libtool's configure looks for <host>-objdump; build scripts for the rest
        program = toolchain.nm.replace("-nm", f"-{tool}", 1)
        scripts[f"bin/{tool_name(arch, tool)}"] = tool_script(arch, tool, program)
    written = []
    for name, text in [*files.items(), *scripts.items()]:
        path = sysroot / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
        os.chmod(path, 0o755 if name in scripts else 0o644)
        written.append(path)
    return written


_FIND_ROOT = r'''self=$0
if [ -L "$self" ]; then self=$(readlink -f "$self"); fi
case $self in */*) ;; *) self=./$self ;; esac
dir=${self%/*}
case $dir in */bin) root=${dir%/bin} ;; bin) root=. ;; *) root=$dir/.. ;; esac
'''


def cc_script(arch: Arch, cc: str, available: list[Linkage] | None = None) -> str:
    return (f"#!/bin/sh\n"
            f"# {tool_name(arch, 'cc')}: clang for the muslforge {arch.name} sysroot, written by muslforge.\n"
            f"# The same flags as `muslforge cc --arch {arch.name}` and the release: this sysroot's\n"
            f"# {config_name(arch)}. MUSLFORGE_CLANG names another clang (default {cc}).\n"
            f"{_link_choice(arch, available or [Linkage.STATIC])}"
            f"{_FIND_ROOT}"
            f"{_or_in_the_image(arch, 'cc', 'CLANG', cc)}"
            f'exec "$program" "--config=$root/$cfg" "$@"\n')


def _link_choice(arch: Arch, available: list[Linkage]) -> str:
    """sh that sets $cfg: static by default; `--dynamic` (taken out of the arguments) or
    MUSLFORGE_LINK=dynamic for a dynamic program; -shared and -static-pie pick their own file."""
    names = {linkage: config_name(arch, linkage) for linkage in available}
    if Linkage.DYNAMIC not in names:  # static-only: the arguments go to clang untouched
        return (f"cfg={names[Linkage.STATIC]} link=${{MUSLFORGE_LINK:-static}}\n"
                f'for arg in "$@"; do case $arg in --dynamic) link=dynamic ;; esac; done\n'
                f'if [ "$link" = dynamic ]; then\n'
                f'  echo "{tool_name(arch, "cc")}: the {arch.name} sysroot is static-only (no libc.so): '
                f'no dynamic linking" >&2; exit 2\nfi\n')
    return (f"# static by default; --dynamic or MUSLFORGE_LINK=dynamic: a dynamic program (musl's loader);\n"
            f"# -shared: a shared library; -static-pie: a static PIE. Each has its own .cfg here.\n"
            f"link=${{MUSLFORGE_LINK:-static}} shared= pie=\n"
            f'for arg in "$@"; do\n  shift\n  case $arg in\n'
            f"    --dynamic) link=dynamic; continue ;;\n    -shared) shared=1 ;;\n    -static-pie) pie=1 ;;\n"
            f'  esac\n  set -- "$@" "$arg"\ndone\n'
            f"if [ -n \"$shared\" ]; then link=shared; elif [ -n \"$pie\" ]; then link=static-pie; fi\n"
            f"case $link in\n"
            + "".join(f"  {linkage.value}) cfg={name} ;;\n" for linkage, name in names.items())
            + f'  *) echo "{tool_name(arch, "cc")}: MUSLFORGE_LINK is \'$link\'; it must be static or dynamic" >&2; '
              f"exit 2 ;;\nesac\n"
              f"export MUSLFORGE_LINK=$link  # the same choice if this runs again in the toolchain image\n")


def tool_script(arch: Arch, tool: str, program: str) -> str:
    return (f"#!/bin/sh\n# {tool} for the muslforge {arch.name} sysroot: {program} "
            f"(MUSLFORGE_{tool.upper()} names another).\n"
            f"{_FIND_ROOT}"
            f"{_or_in_the_image(arch, tool, tool.upper(), program)}"
            f'exec "$program" "$@"\n')


def _or_in_the_image(arch: Arch, tool: str, variable: str, program: str) -> str:
    """Without the program on this machine, `muslforge cc` runs this same script in the toolchain's
    Docker image (a host with Docker but no LLVM): MUSLFORGE_CC_SYSROOT and MUSLFORGE_CC_TOOL say which."""
    return (f"program=${{MUSLFORGE_{variable}:-{program}}}\n"
            f'if ! command -v "$program" >/dev/null && command -v muslforge >/dev/null; then\n'
            f'  MUSLFORGE_CC_SYSROOT=$root MUSLFORGE_CC_TOOL={tool} exec muslforge cc --arch {arch.name} "$@"\n'
            f"fi\n")


def run_script(arch: Arch) -> str:
    return (f"#!/bin/sh\n# Runs a program built for {arch.name}: natively, under qemu-user or in muslforge's\n"
            f"# wasm32 embedder. Needs muslforge on PATH. Usable as autotools' LOG_COMPILER.\n"
            f'exec muslforge run --arch {arch.name} "$@"\n')


def emulator(arch: Arch) -> list[str]:
    """How build systems should run this arch's programs (empty: nothing here can)."""
    return [] if arch.run is RunMode.LINK_ONLY else ["muslforge", "run", "--arch", arch.name]


def _cpu(arch: Arch) -> tuple[str, str, str]:
    cpu = arch.triple.split("-")[0]
    family, endian = _CPU.get(cpu, (cpu, "little"))
    return cpu, family, endian


def cmake_toolchain(arch: Arch, shared: bool = False) -> str:
    cpu, _family, _endian = _cpu(arch)
    prefix = arch.tool_prefix
    lines = [
        f"# CMake toolchain file for the muslforge {arch.name} sysroot ({arch.triple}), written by muslforge.",
        "#   cmake -DCMAKE_TOOLCHAIN_FILE=<sysroot>/share/muslforge/toolchain.cmake -S src -B build",
        "# Tests (ctest) and try_run run through CMAKE_CROSSCOMPILING_EMULATOR: `muslforge run` when it is",
        "# on PATH, else the arch's qemu-user; set it yourself to use another runner.",
        'get_filename_component(MUSLFORGE_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)',
        "set(CMAKE_SYSTEM_NAME Linux)",
        f"set(CMAKE_SYSTEM_PROCESSOR {cpu})",
        f'set(CMAKE_C_COMPILER "${{MUSLFORGE_SYSROOT}}/bin/{prefix}-cc")',
        *(f'set(CMAKE_{tool.upper()} "${{MUSLFORGE_SYSROOT}}/bin/{prefix}-{tool}" CACHE FILEPATH "")'
          for tool in (*BINUTILS, "objdump", "objcopy", "readelf")),
        'set(CMAKE_FIND_ROOT_PATH "${MUSLFORGE_SYSROOT}")',
        "set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)",
        "set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)",
        *_cmake_linking(shared),
        *_cmake_emulator(arch),
    ]
    return "\n".join(lines) + "\n"


def _cmake_linking(shared: bool) -> list[str]:
    static_only = ['set(CMAKE_USER_MAKE_RULES_OVERRIDE "${CMAKE_CURRENT_LIST_DIR}/static-only.cmake")']
    if not shared:
        return ["# A static-only sysroot: add_library(SHARED) builds a static library (with CMake's warning).",
                *static_only]
    return ["# Static by default: add_library(SHARED) builds a static library (with CMake's warning). With",
            "# MUSLFORGE_LINK=dynamic in the environment (configure and build), programs link dynamically",
            "# against libc.so and SHARED libraries are shared (bin/<triple>-cc reads the same variable).",
            'if(NOT "$ENV{MUSLFORGE_LINK}" STREQUAL "dynamic")',
            *(f"  {line}" for line in static_only),
            "endif()"]


def _cmake_emulator(arch: Arch) -> list[str]:
    if arch.run is RunMode.LINK_ONLY:
        return [f"# {arch.name} programs cannot run here (run: link-only): no emulator."]
    lines = ["if(NOT CMAKE_CROSSCOMPILING_EMULATOR)",
             "  find_program(MUSLFORGE_PROGRAM muslforge)",
             "  if(MUSLFORGE_PROGRAM)",
             f'    set(CMAKE_CROSSCOMPILING_EMULATOR "${{MUSLFORGE_PROGRAM}};run;--arch;{arch.name}")']
    if arch.qemu:
        lines += ["  else()",
                  f"    find_program(MUSLFORGE_QEMU {arch.qemu})",
                  '    if(MUSLFORGE_QEMU)',
                  '      set(CMAKE_CROSSCOMPILING_EMULATOR "${MUSLFORGE_QEMU}")',
                  "    endif()"]
    return [*lines, "  endif()", "endif()"]


STATIC_ONLY = """\
# Included by muslforge's toolchain.cmake (CMAKE_USER_MAKE_RULES_OVERRIDE), after CMake's platform files:
# the sysroot links statically only, so SHARED and MODULE libraries are built as STATIC ones.
set_property(GLOBAL PROPERTY TARGET_SUPPORTS_SHARED_LIBS FALSE)
"""


def meson_cross(arch: Arch) -> str:
    cpu, family, endian = _cpu(arch)
    prefix = arch.tool_prefix
    wrapper = emulator(arch)
    lines = [
        f"# Meson cross file for the muslforge {arch.name} sysroot ({arch.triple}), written by muslforge.",
        "#   meson setup build --cross-file <sysroot>/share/muslforge/meson-cross.ini",
        "# (paths are relative to this file: Meson >= 0.58 replaces @DIRNAME@ with its folder)",
        "[constants]",
        "sysroot = '@DIRNAME@' / '..' / '..'",
        "",
        "[binaries]",
        f"c = sysroot / 'bin' / '{prefix}-cc'",
        *(f"{tool} = sysroot / 'bin' / '{prefix}-{tool}'" for tool in BINUTILS),
        *([f"exe_wrapper = [{', '.join(repr(a) for a in wrapper)}]"] if wrapper else []),
        "",
        "[built-in options]",
        "default_library = 'static'",
        "",
        "[properties]",
        "needs_exe_wrapper = true",
        "",
        "[host_machine]",
        "system = 'linux'",
        f"cpu_family = '{family}'",
        f"cpu = '{cpu}'",
        f"endian = '{endian}'",
    ]
    return "\n".join(lines) + "\n"
