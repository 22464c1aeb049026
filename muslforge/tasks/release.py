"""package:<arch>, release, assemble, verify and nightly: from built sysroots to a checked dist/<version>/.

    doit package:x86_64             build/release/<ver>/muslforge-musl-<ver>-x86_64.tar.xz + .part.json
    doit release [arches=a,b]       dist/<version>/ (tarballs, manifest.json, SHA256SUMS) from those parts
    doit assemble parts=DIR[,DIR]   the same dist/<version>/ from parts made elsewhere (CI jobs per arch)
    doit verify                     rebuild dist/<version>/ from clean elsewhere and compare byte for byte
    doit nightly [arches=a,b]       fetch, build, smoke, package, release, verify; summary + regressions
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from doit import get_var
from doit.exceptions import InvalidDodoFile
from doit.tools import config_changed

from .. import manifest, package, paths, provenance
from ..config.arch import Arch, RunMode
from . import action, creator
from .context import Context, load_context
from .sysroot import TreeUnchanged, libc_path


def chosen_arches(ctx: Context) -> list[Arch]:
    """The arches named by `arches=a,b` (doit variable) or MUSLFORGE_ARCHES, else all of them."""
    text = get_var("arches", None) or os.environ.get("MUSLFORGE_ARCHES") or ""
    names = [n.strip() for n in text.split(",") if n.strip()]
    known = {arch.name: arch for arch in ctx.arches}
    unknown = [n for n in names if n not in known]
    if unknown:
        raise InvalidDodoFile(f"arches={text}: unknown arch(es) {', '.join(unknown)}; known: "
                              f"{', '.join(sorted(known))}.")
    return [known[n] for n in sorted(set(names))] if names else list(ctx.arches)


def parts_dir(version: str) -> Path:
    return paths.build_dir() / "release" / version


def tarball_path(version: str, arch: str) -> Path:
    return parts_dir(version) / package.tarball_name(version, arch)


def release_dir(version: str) -> Path:
    return package.dist_root() / version


# ---------------------------------------------------------------------------------------- package

@creator
def package_tasks(ctx: Context):
    version = ctx.release.version
    for arch in ctx.arches:
        tarball = tarball_path(version, arch.name)
        yield {
            "name": arch.name,
            "doc": f"pack the {arch.name} sysroot into a reproducible release tarball",
            "actions": [action(do_package, lock=f"sysroot-{arch.name}", arch=arch.name, version=version,
                               toolchain=ctx.toolchain.name, unpinned=get_var("unpinned", None))],
            "file_dep": [str(libc_path(arch)), str(provenance.record_path(arch.name)), *_doc_deps(arch)],
            "task_dep": [f"smoke:{arch.name}"],  # never pack a sysroot whose smoke programs fail
            "targets": [str(tarball), str(manifest.part_path(tarball))],
            "clean": True,
            "uptodate": [config_changed(_package_inputs(ctx, arch)),
                         TreeUnchanged(paths.sysroot_dir(arch.name))],
            "verbosity": 2,
        }


def _doc_deps(arch: Arch) -> list[str]:
    return [str(package.ABI_DOC)] if arch.run is RunMode.EMBEDDER and package.ABI_DOC.is_file() else []


def _package_inputs(ctx: Context, arch: Arch) -> dict:
    return {"arch": arch.fingerprint(), "toolchain": ctx.toolchain.fingerprint(), "musl": ctx.release.sha256,
            "series": ctx.series.digest(), "format": manifest.FORMAT, "xz": package.XZ_SETTINGS["preset"],
            "epoch": package.source_date_epoch(ctx.release.source_date_epoch)}


def do_package(arch: str, version: str, toolchain: str, unpinned: str | None = None) -> None:
    ctx = load_context(version, toolchain)
    target = next(a for a in ctx.arches if a.name == arch)
    built_with = provenance.read(arch)
    provenance.check_pinned(arch, built_with, ctx.toolchain, provenance.unpinned_allowed(unpinned))
    epoch = package.source_date_epoch(ctx.release.source_date_epoch)
    tarball = package.pack_sysroot(target, paths.sysroot_dir(arch), version, parts_dir(version), epoch,
                                   tail=package.supports_tail_options(ctx.toolchain.cc))
    inputs = manifest.release_inputs(ctx.release, ctx.series, ctx.toolchain, epoch)
    from ..builtins import provenance as builtins_origin
    manifest.write_part(inputs, target, tarball, builtins=builtins_origin(ctx.toolchain, target),
                        built_with=built_with)
    print(f"PACKAGE  {arch}: {tarball} ({package.human_size(tarball)}, SOURCE_DATE_EPOCH={epoch})")


# ---------------------------------------------------------------------------------------- release

@creator
def release_task(ctx: Context, arches: list[Arch]) -> dict:
    version = ctx.release.version
    tarballs = [tarball_path(version, arch.name) for arch in arches]
    parts = [manifest.part_path(t) for t in tarballs]
    return {
        "actions": [action(do_release, lock="dist", parts=[str(p) for p in parts],
                           unpinned=get_var("unpinned", None))],
        "file_dep": [str(p) for pair in zip(tarballs, parts) for p in pair],
        "targets": [str(release_dir(version) / name)  # every file it publishes: a deleted one re-runs it
                    for name in (manifest.MANIFEST, manifest.SUMS, *(t.name for t in tarballs))],
        "uptodate": [config_changed(",".join(a.name for a in arches))],
        "clean": [(shutil.rmtree, [str(release_dir(version))], {"ignore_errors": True})],  # the whole folder
        "verbosity": 2,
    }


def do_release(parts: list[str], unpinned: str | None = None) -> None:
    folder = manifest.assemble([Path(p) for p in parts],
                               allow_unpinned=provenance.unpinned_allowed(unpinned))
    print(f"RELEASE  {folder} ({len(parts)} arch(es))")


@creator
def assemble_task(ctx: Context) -> dict:
    """`doit assemble parts=DIR[,DIR...]`: merge per-arch outputs made elsewhere into dist/<version>/."""
    sources = [s for s in (get_var("parts", None) or "").split(",") if s]
    return {"actions": [action(do_assemble, sources=sources, unpinned=get_var("unpinned", None))],
            "uptodate": [False], "verbosity": 2}


def do_assemble(sources: list[str], unpinned: str | None = None) -> None:
    from ..errors import MuslforgeError
    if not sources:
        raise MuslforgeError("Name the folders holding per-arch tarballs and parts: "
                             "doit assemble parts=DIR[,DIR]")
    folder = manifest.assemble([Path(s) for s in sources],
                               allow_unpinned=provenance.unpinned_allowed(unpinned))
    print(f"RELEASE  {folder} (assembled from {', '.join(sources)})")


# ---------------------------------------------------------------------------------------- verify, nightly

@creator
def verify_task(ctx: Context, dodo: str) -> dict:
    """`dodo`: the dodo file defining this task (pass __file__); the clean rebuild runs the same one."""
    return {"actions": [action(do_verify, version=ctx.release.version, dodo=str(dodo))], "uptodate": [False],
            "verbosity": 2}


def do_verify(version: str, dodo: str) -> None:
    from .. import verify_release
    verify_release.verify(release_dir(version), workdir=paths.build_dir() / "verify",
                          log=paths.log_path("verify"), dodo=Path(dodo))


@creator
def nightly_task(ctx: Context, arches: list[Arch], dodo: str) -> dict:
    """`previous=PATH` (doit variable) names last night's summary.json; default build/nightly/summary.json."""
    return {"actions": [action(do_nightly, version=ctx.release.version, toolchain=ctx.toolchain.name,
                               arches=[a.name for a in arches], previous=get_var("previous", None),
                               dodo=str(dodo))],
            "uptodate": [False], "verbosity": 2}


def do_nightly(version: str, toolchain: str, arches: list[str], previous: str | None, dodo: str) -> None:
    from .. import verify_release
    verify_release.nightly(version=version, toolchain=toolchain, arches=arches,
                           folder=paths.build_dir() / "nightly",
                           previous=Path(previous) if previous else None,
                           dodo=Path(dodo))
