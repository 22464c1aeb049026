"""builtins:<arch>: compiler-rt's builtins for an arch, built with compiler-rt's CMake (or taken from the
cache), into build/builtins/<arch>/; build:<arch> copies them into the sysroot."""

from __future__ import annotations

import os
from pathlib import Path

from doit.tools import config_changed

from .. import paths
from ..backend import make
from ..config.arch import Arch
from ..sources.patch import marker, tree_dir
from . import action, creator
from .context import Context, load_context
from .sources import src_root
from .toolchain import needs_image


def builtins_path(arch: Arch) -> Path:
    from ..toolchain.builtins import ARCHIVE_NAME
    return paths.build_dir() / "builtins" / arch.name / ARCHIVE_NAME


@creator
def builtins_tasks(ctx: Context):
    from ..toolchain.builtins import RECIPE
    for arch in ctx.arches:
        yield {
            "name": arch.name,
            "doc": f"build compiler-rt's builtins for {arch.name} with its CMake (cached per arch and toolchain)",
            "actions": [action(do_builtins, lock=f"builtins-{arch.name}", arch=arch.name,
                               version=ctx.release.version, toolchain=ctx.toolchain.name, backend=ctx.backend)],
            "file_dep": [str(marker(src_root(), ctx.series))],  # musl's headers, which the builtins include
            "task_dep": needs_image(ctx),
            "targets": [str(builtins_path(arch))],
            "uptodate": [config_changed({"arch": arch.fingerprint(), "toolchain": ctx.toolchain.fingerprint(),
                                         "backend": ctx.backend, "recipe": RECIPE})],
            "verbosity": 2,
        }


def do_builtins(arch: str, version: str, toolchain: str, backend: str) -> None:
    from ..toolchain.builtins import provide
    ctx = load_context(version, toolchain, backend)
    target = next(a for a in ctx.arches if a.name == arch)
    log = paths.log_path(f"builtins:{arch}")
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    provide(target, make(backend, ctx.toolchain), tree=tree_dir(src_root(), ctx.series),
            musl=f"{ctx.release.sha256} {ctx.series.digest()}",
            work=paths.build_dir() / "obj" / f"builtins-{arch}", out=builtins_path(target),
            cache=paths.cache_dir(), log=log, jobs=os.cpu_count() or 1)
