"""package:<arch>, release, assemble, verify and nightly: from built sysroots to a checked dist/<version>/.

    doit package:x86_64             build/release/<ver>/muslforge-musl-<ver>-x86_64.tar.xz + .part.json
    doit release [arches=a,b]       dist/<version>/ (tarballs, manifest.json, SHA256SUMS) from those parts
    doit assemble parts=DIR[,DIR]   the same dist/<version>/ from parts made elsewhere (CI jobs per arch)
    doit verify                     rebuild dist/<version>/ from clean elsewhere and compare byte for byte
    doit nightly [arches=a,b]       fetch, build, smoke, package, release, verify; summary + regressions
"""

from __future__ import annotations

import shutil
from pathlib import Path

from doit import get_var
from doit.exceptions import InvalidDodoFile
from doit.tools import config_changed

from ..release import manifest, package
from .. import paths, settings
from ..sysroot import provenance
from ..config.arch import Arch, RunMode
from ..progress import title
from . import action, creator
from .context import Context, load_context
from .sysroot import TreeUnchanged, libc_path
from .toolchain import needs_image


def chosen_arches(ctx: Context) -> list[Arch]:
    """The arches the settings name (`arches=a,b`, MUSLFORGE_ARCHES), else all of them."""
    names = list(settings.current().arches)
    text = ",".join(names)
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
    from ..toolchain.builtins import provenance as builtins_origin
    manifest.write_part(inputs, target, tarball, builtins=builtins_origin(ctx.toolchain, built_with),
                        built_with=built_with, sysroot=paths.sysroot_dir(arch))
    print(title("PACKAGE", f"{arch}: {tarball} ({package.human_size(tarball)}, SOURCE_DATE_EPOCH={epoch})"))


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
    print(title("RELEASE", f"{folder} ({len(parts)} arch(es))"))


@creator
def assemble_task(ctx: Context) -> dict:
    """`doit assemble parts=DIR[,DIR...]`: merge per-arch outputs made elsewhere into dist/<version>/."""
    return {"actions": [action(do_assemble, unpinned=get_var("unpinned", None))], "uptodate": [False],
            "verbosity": 2,
            "params": [{"name": "parts", "long": "parts", "type": str, "default": "",
                        "help": "folders holding per-arch tarballs and .part.json files, comma-separated"}]}


def do_assemble(parts: str, unpinned: str | None = None) -> None:
    from ..errors import MuslforgeError
    sources = [s for s in parts.split(",") if s]
    if not sources:
        raise MuslforgeError("Name the folders holding per-arch tarballs and parts: "
                             "doit assemble --parts DIR[,DIR]")
    folder = manifest.assemble([Path(s) for s in sources],
                               allow_unpinned=provenance.unpinned_allowed(unpinned))
    print(title("RELEASE", f"{folder} (assembled from {', '.join(sources)})"))


# ---------------------------------------------------------------------------------------- verify, nightly

@creator
def verify_task(ctx: Context, dodo: str) -> dict:
    """`dodo`: the dodo file defining this task (pass __file__); the clean rebuild runs the same one."""
    return {"actions": [action(do_verify, version=ctx.release.version, dodo=str(dodo))], "uptodate": [False],
            "verbosity": 2}


def do_verify(version: str, dodo: str) -> None:
    from ..release import reproduce as verify_release
    verify_release.verify(release_dir(version), workdir=paths.build_dir() / "verify",
                          log=paths.log_path("verify"), dodo=Path(dodo))


@creator
def nightly_task(ctx: Context, arches: list[Arch], dodo: str) -> dict:
    """Every step of a release as doit task dependencies, then verify as its own action (so it runs after
    release); doit runs them (going past a failure: report.wants_continue) and report.Reporter writes the
    summary at the end, the action's result recorded as the `verify` step."""
    steps = [f"{verb}:{arch.name}" for arch in arches for verb in ("build", "smoke", "package")]
    return {"actions": [action(do_verify, version=ctx.release.version, dodo=str(dodo))],
            "task_dep": ["fetch", *needs_image(ctx), *steps, "release"],
            "params": [{"name": "previous", "long": "previous", "type": str, "default": "",
                        "help": "last night's summary.json to compare with (default: "
                                "build/nightly/summary.json)"}],
            "uptodate": [False], "verbosity": 2}
