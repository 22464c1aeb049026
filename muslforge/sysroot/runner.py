"""How a built program runs for an arch: natively, under qemu-user, or in the wasm32 reference embedder.

A dynamically linked program (one with a PT_INTERP loader path) runs against the sysroot it was linked
with: under qemu-user with the sysroot as the library root (`qemu -L SYSROOT`, so /lib/ld-musl-*.so.1
and /lib/libc.so come from it), natively by starting the sysroot's own loader with the program
(`SYSROOT/lib/ld-musl-x86_64.so.1 PROGRAM ARGS`), so the host needs no musl installed.
"""

from __future__ import annotations

import fnmatch
import platform
import posixpath
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.runmode import RunMode

if TYPE_CHECKING:
    from ..config.arch import Arch
from ..errors import MuslforgeError
from .dynamic import LOADER_GLOB, interpreter


def runs_natively(arch: Arch) -> bool:
    return arch.run is RunMode.NATIVE and arch.host_machine == platform.machine()


def run_argv(arch: Arch, program: Path, args: list[str], root: Path | None = None,
             sysroot: Path | None = None) -> list[str]:
    """argv that runs `program args...` for this arch on this host (root: the wasm sandbox directory;
    sysroot: where a dynamic program's loader and libc.so come from)."""
    if arch.run is RunMode.EMBEDDER:
        sandbox = ["--dir", str(root)] if root else []
        return [sys.executable, "-m", "muslforge.wasm", *sandbox, str(program), *args]
    if arch.run is RunMode.LINK_ONLY:
        raise MuslforgeError(f"{arch.name} programs cannot run on this host (run: link-only in "
                             f"{arch.path}): {arch.notes or 'no emulator for this arch'}")
    loader = _sysroot_loader(arch, program, sysroot)
    if runs_natively(arch):
        return [str(loader), str(program), *args] if loader else [str(program), *args]
    qemu = arch.qemu or f"qemu-{arch.name}-static"
    library_root = ["-L", str(sysroot)] if loader else []
    return [qemu, *library_root, str(program), *args]


def _sysroot_loader(arch: Arch, program: Path, sysroot: Path | None) -> Path | None:
    """The sysroot's copy of the loader a dynamic program names; None for a static program."""
    wanted = interpreter(program)
    if wanted is None or not fnmatch.fnmatch(posixpath.basename(wanted), LOADER_GLOB):
        return None  # static, or not linked against musl (a host program runs as it is)
    if sysroot is None:
        raise MuslforgeError(f"{program} is dynamically linked (loader {wanted}) but no sysroot was given "
                             f"to load it from.")
    loader = sysroot / "lib" / posixpath.basename(wanted)
    if not loader.exists():
        raise MuslforgeError(f"{program} is dynamically linked and needs the loader {wanted}, which the "
                             f"{arch.name} sysroot {sysroot} does not have (lib/{loader.name}). Was it "
                             f"linked for another arch, or is the sysroot static-only? Rebuild it with "
                             f"doit build:{arch.name}, or link statically.")
    return loader
