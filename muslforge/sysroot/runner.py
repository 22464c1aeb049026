"""How a built program runs for an arch: natively, under qemu-user, or in the wasm32 reference embedder."""

from __future__ import annotations

import platform
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from ..config.runmode import RunMode

if TYPE_CHECKING:
    from ..config.arch import Arch
from ..errors import MuslforgeError


def runs_natively(arch: Arch) -> bool:
    return arch.run is RunMode.NATIVE and arch.host_machine == platform.machine()


def run_argv(arch: Arch, program: Path, args: list[str], root: Path | None = None) -> list[str]:
    """argv that runs `program args...` for this arch on this host (root: the wasm sandbox directory)."""
    if arch.run is RunMode.EMBEDDER:
        sandbox = ["--dir", str(root)] if root else []
        return [sys.executable, "-m", "muslforge.wasm", *sandbox, str(program), *args]
    if arch.run is RunMode.LINK_ONLY:
        raise MuslforgeError(f"{arch.name} programs cannot run on this host (run: link-only in "
                             f"{arch.path}): {arch.notes or 'no emulator for this arch'}")
    if runs_natively(arch):
        return [str(program), *args]
    return [arch.qemu or f"qemu-{arch.name}-static", str(program), *args]
