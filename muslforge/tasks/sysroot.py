"""build:<arch> and smoke:<arch>: a sysroot per arch, and its smoke programs run."""

from __future__ import annotations

import os
from pathlib import Path

from doit.tools import config_changed

from ..sysroot import libc_abi as abi, buildtools, provenance
from .. import paths
from ..backend import make
from ..sysroot.buildtools import cc_wrapper
from ..sysroot.build import BuildPlan, build_sysroot
from ..config.arch import Arch
from ..sources.patch import marker, tree_dir
from ..sysroot.smoke import discover, libraries, run_smoke
from . import action, creator
from .context import Context, load_context
from .builtins import builtins_path
from .sources import src_root
from .toolchain import needs_image
from ..progress import title


def libc_path(arch: Arch) -> Path:
    return paths.sysroot_dir(arch.name) / "lib" / "libc.a"


class TreeUnchanged:
    """doit uptodate: the folder's whole tree (tree_digest) is the one recorded when the task last ran.

    The digest is recorded after the task's actions, so build records the sysroot it produced, and
    smoke and package the one they tested and packed. A file deleted or edited by hand makes all three
    run again; a rebuild that gives the same bytes does not re-run smoke or package.
    """

    def __init__(self, root: Path):
        self.root = root

    def digest(self) -> str | None:
        from ..release.package import tree_digest
        return tree_digest(self.root) if self.root.is_dir() else None

    def __call__(self, task, values) -> bool:
        task.value_savers.append(lambda: {"tree": self.digest()})
        recorded = values.get("tree")
        return recorded is not None and recorded == self.digest()


@creator
def build_tasks(ctx: Context):
    for arch in ctx.arches:
        yield {
            "name": arch.name,
            "doc": f"build the {arch.name} sysroot ({arch.triple})",
            "actions": [action(do_build, lock=f"sysroot-{arch.name}", arch=arch.name,
                               version=ctx.release.version, toolchain=ctx.toolchain.name, backend=ctx.backend)],
            "file_dep": [str(marker(src_root(), ctx.series)), str(builtins_path(arch))],
            "task_dep": needs_image(ctx),
            "targets": [str(libc_path(arch)), str(cc_wrapper(arch, paths.sysroot_dir(arch.name))),
                        str(provenance.record_path(arch.name))],
            "uptodate": [config_changed({"arch": arch.fingerprint(), "toolchain": ctx.toolchain.fingerprint(),
                                         "musl": ctx.release.sha256, "series": ctx.series.digest(),
                                         "tools": buildtools.FORMAT}),
                         TreeUnchanged(paths.sysroot_dir(arch.name))],  # a hand-edited sysroot is rebuilt
            "verbosity": 2,
        }


def do_build(arch: str, version: str, toolchain: str, backend: str) -> None:
    ctx = load_context(version, toolchain, backend)
    target = _arch(ctx, arch)
    where = make(backend, ctx.toolchain)
    plan = BuildPlan(arch=target, tree=tree_dir(src_root(), ctx.series),
                     objdir=paths.build_dir() / "obj" / arch, sysroot=paths.sysroot_dir(arch),
                     log=_fresh_log(f"build:{arch}"), jobs=os.cpu_count() or 1,
                     abi_list=abi.list_path(arch, version))
    build_sysroot(plan, where, builtins_path(target))
    built_with = provenance.read(arch)
    print(title("BUILT", f"{arch}: {built_with['compiler']['version']} ({where.name} backend, "
                         f"{'pinned versions' if built_with['pinned'] else 'NOT the pinned versions'})"))


@creator
def smoke_tasks(ctx: Context):
    for arch in ctx.arches:
        smoke_files = [p for program in discover(paths.SMOKE_DIR, arch)
                       for p in program.source.parent.glob(program.name + ".*")]
        smoke_files += libraries(paths.SMOKE_DIR, arch)
        yield {
            "name": arch.name,
            "doc": f"compile and run the smoke programs for {arch.name}",
            "actions": [action(do_smoke, lock=f"sysroot-{arch.name}", arch=arch.name,
                               version=ctx.release.version, toolchain=ctx.toolchain.name, backend=ctx.backend)],
            "file_dep": [str(libc_path(arch)), *sorted(map(str, smoke_files))],
            "task_dep": needs_image(ctx),
            "targets": [str(smoke_report(arch.name))],
            "uptodate": [TreeUnchanged(paths.sysroot_dir(arch.name))],
            "verbosity": 2,
        }


def smoke_report(arch: str) -> Path:
    return paths.build_dir() / "smoke" / f"{arch}.json"


def do_smoke(arch: str, version: str, toolchain: str, backend: str) -> None:
    ctx = load_context(version, toolchain, backend)
    target = _arch(ctx, arch)
    run_smoke(arch=target, sysroot=paths.sysroot_dir(arch), backend=make(backend, ctx.toolchain), smoke_dir=paths.SMOKE_DIR,
              workdir=paths.build_dir() / "smoke" / arch, report=smoke_report(arch),
              log=_fresh_log(f"smoke:{arch}"))


def _arch(ctx: Context, name: str) -> Arch:
    return next(a for a in ctx.arches if a.name == name)


def _fresh_log(task: str) -> Path:
    log = paths.log_path(task)
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    return log
