"""`muslforge cc` and the smoke builds: clang with the sysroot's configuration file (muslforge.sysroot.flags).

The sysroot's `<triple>.cfg` is the one definition of compile and link flags, and `bin/<host triple>-cc`
runs `clang --config=<it>`; everything here runs the same command, so every route gives the same bytes.
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from .. import paths
from .buildtools import cc_wrapper
from ..config.arch import Arch
from ..config.toolchain import Toolchain
from ..errors import MuslforgeError
from .flags import Linkage, clang_config, config_name, supports_tail_options


def require_sysroot(sysroot: Path, arch: Arch) -> None:
    if not (sysroot / "lib" / "libc.a").is_file():
        raise MuslforgeError(f"No sysroot for {arch.name} at {sysroot} (lib/libc.a is missing). "
                             f"Build it first: doit build:{arch.name}")
    if not cc_wrapper(arch, sysroot).is_file():
        raise MuslforgeError(f"The {arch.name} sysroot at {sysroot} has no {cc_wrapper(arch, sysroot).name}: "
                             f"an older muslforge built it. Rebuild it: doit build:{arch.name}")


def cc_argv(toolchain: Toolchain, arch: Arch, sysroot: Path, args: list[str],
            linkage: Linkage = Linkage.STATIC) -> list[str]:
    """`clang --config=<cfg> args...`: the command bin/<host triple>-cc runs (for that linkage)."""
    return [toolchain.cc, f"--config={config_path(toolchain, arch, sysroot, linkage)}", *args]


def config_path(toolchain: Toolchain, arch: Arch, sysroot: Path, linkage: Linkage = Linkage.STATIC) -> Path:
    """The sysroot's own .cfg when it matches arch; else (an arch a test varies, or a sysroot from an older
    muslforge) one written under build/cfg/ that names the sysroot by absolute path."""
    tail = supports_tail_options(toolchain.cc)
    own = sysroot / config_name(arch, linkage)
    if own.is_file() and own.read_text() == clang_config(arch, sysroot, tail=tail, linkage=linkage):
        return own
    text = clang_config(arch, sysroot, tail=tail, root=str(sysroot), linkage=linkage)
    name = config_name(arch, linkage)
    path = paths.build_dir() / "cfg" / f"{hashlib.sha256(text.encode()).hexdigest()[:16]}-{name}"
    if not path.is_file():
        from ..release.package import write_atomically
        write_atomically(path, text.encode())
    return path
