"""fetch and patch: from musl's mirrors to a verified tarball to a patched tree."""

from __future__ import annotations

from pathlib import Path

from doit.tools import config_changed

from .. import paths, settings
from ..files import sha256_file
from ..sources.patch import marker, prepare_tree
from ..progress import title
from . import action, creator, uptodate
from .context import Context, load_context


def tarball_path(ctx: Context):
    return paths.cache_dir() / ctx.release.file


@creator
def fetch_task(ctx: Context) -> dict:
    return {
        "actions": [action(do_fetch, version=ctx.release.version)],
        "targets": [str(tarball_path(ctx))],
        "uptodate": [config_changed(ctx.release.sha256), uptodate(cached_copy_matches, ctx.release.version)],
        "verbosity": 2,
    }


def cached_copy_matches(version: str) -> bool:
    """doit uptodate: the cached tarball still has its pinned sha256 (a copy changed since the last
    fetch makes fetch run again, which deletes it and downloads it anew)."""
    ctx = load_context(version)
    cached = tarball_path(ctx)
    return cached.is_file() and sha256_file(cached) == ctx.release.sha256


def do_fetch(version: str) -> None:
    verified_tarball(version)


def verified_tarball(version: str) -> Path:
    """The cached tarball, its sha256 (and cached signature) checked now, at use: a copy that changed
    since it was fetched is deleted and fetched again, with a warning naming it."""
    from ..sources import fetch  # requests is imported only when something is fetched
    ctx = load_context(version)
    chosen = settings.current()
    return fetch.fetch(ctx.release, cache=paths.cache_dir(), mirrors_first=list(chosen.mirrors),
                       require_signature=chosen.require_signature)


def src_root():
    return paths.build_dir() / "src"


@creator
def patch_task(ctx: Context) -> dict:
    return {
        "actions": [action(do_patch, lock=f"src-musl-{ctx.release.version}", version=ctx.release.version)],
        "file_dep": [str(tarball_path(ctx)), *map(str, ctx.series.files)],
        "targets": [str(marker(src_root(), ctx.series))],
        "verbosity": 2,
    }


def do_patch(version: str) -> None:
    ctx = load_context(version)
    tree = prepare_tree(verified_tarball(version), ctx.series, src_root(), log=paths.log_path("patch"))
    print(title("PATCH", f"musl-{version}: port/ overlay ({len(ctx.series.overlay_files)} files), "
                         f"{len(ctx.series.patches)} patch(es), syscall headers -> {tree}"))
