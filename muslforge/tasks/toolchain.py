"""toolchain: the pinned toolchain image, built only when no image with its input-hash tag exists."""

from __future__ import annotations

from .. import paths
from . import action, creator, uptodate
from .context import Context, load_context


def backend_at_load() -> str:
    """The backend the build tasks will most likely use, decided without importing docker-py.

    auto counts as docker when a daemon address exists; the actions then check for real (muslforge.backend)
    and fall back to the host with a notice.
    """
    from ..backend import wanted_backend
    from ..docker import daemon_address_exists
    wanted = wanted_backend()
    if wanted != "auto":
        return wanted
    return "docker" if daemon_address_exists() else "host"


@creator
def toolchain_task(ctx: Context) -> dict:
    from ..image import recipe_files
    tc = ctx.toolchain
    return {
        "actions": [action(do_toolchain, toolchain=tc.name)],
        "file_dep": [str(p) for p in (*recipe_files(), tc.path)],
        "uptodate": [uptodate(_image_present, tc.name)],
        "verbosity": 2,
    }


def _image_present(toolchain: str) -> bool:
    """The image tag is computed here, not while doit loads tasks: it runs dpkg, which `doit list`
    must not need."""
    if backend_at_load() != "docker":
        return True  # nothing to build for the host backend
    from ..docker import image_present_fast
    from ..image import image_tag
    return image_present_fast(image_tag(load_context(None, toolchain).toolchain))


def do_toolchain(toolchain: str) -> None:
    from ..backend import DockerBackend, choose
    from ..image import ensure_image
    ctx = load_context(None, toolchain)
    if not isinstance(choose(ctx.toolchain), DockerBackend):
        print(f"IMAGE    {toolchain}: not needed for the host backend")
        return
    ensure_image(ctx.toolchain, log=paths.log_path(f"toolchain-{toolchain}"))


def needs_image() -> list[str]:
    """task_dep for tasks that run in the toolchain image."""
    return ["toolchain"] if backend_at_load() == "docker" else []


@creator
def prune_task() -> dict:
    return {"actions": [action(do_prune, lock="images")], "uptodate": [False], "verbosity": 2}


def do_prune() -> None:
    """Remove muslforge/<toolchain>:<tag> images that no toolchain file names any more (never one a
    container uses). Only the toolchain files of this checkout count: another checkout's current image
    looks old from here, so this runs only when asked."""
    from ..config.toolchain import load_toolchain
    from ..image import image_tag, prune_images
    files = sorted(paths.TOOLCHAINS_DIR.glob("*.yaml"))
    toolchains = [load_toolchain(paths.TOOLCHAINS_DIR, p.stem) for p in files]
    keep = {image_tag(tc) for tc in toolchains}
    removed, busy = prune_images(keep)
    for tag in removed:
        print(f"PRUNE    removed {tag}")
    for tag in busy:
        print(f"PRUNE    kept {tag}: a container uses it")
    print(f"PRUNE    {len(removed)} image(s) removed, {len(busy)} in use kept; current: "
          f"{', '.join(sorted(keep))}")
