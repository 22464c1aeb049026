"""toolchain: the pinned toolchain image, built only when no image with its input-hash tag exists."""

from __future__ import annotations

from .. import paths
from ..progress import title
from . import action, creator, uptodate
from .context import Context, load_context


@creator
def toolchain_task(ctx: Context) -> dict:
    from ..toolchain.image import recipe_files
    tc = ctx.toolchain
    return {
        "actions": [action(do_toolchain, toolchain=tc.name, backend=ctx.backend)],
        "file_dep": [str(p) for p in (*recipe_files(), tc.path)],
        "uptodate": [uptodate(_image_present, tc.name, ctx.backend)],
        "verbosity": 2,
    }


def _image_present(toolchain: str, backend: str) -> bool:
    """The image tag is computed here, when doit checks the task, not while it loads tasks."""
    if backend != "docker":
        return True  # nothing to build for the host backend
    from ..docker import image_present_fast
    from ..toolchain.image import image_tag
    return image_present_fast(image_tag(load_context(None, toolchain).toolchain))


def do_toolchain(toolchain: str, backend: str) -> None:
    from ..toolchain.image import ensure_image
    if backend != "docker":
        print(title("IMAGE", f"{toolchain}: not needed for the host backend"))
        return
    ensure_image(load_context(None, toolchain).toolchain, log=paths.log_path(f"toolchain-{toolchain}"))


def needs_image(ctx: Context) -> list[str]:
    """task_dep for tasks that run in the toolchain image."""
    return ["toolchain"] if ctx.backend == "docker" else []


@creator
def prune_task() -> dict:
    return {"actions": [action(do_prune, lock="images")], "uptodate": [False], "verbosity": 2}


def do_prune() -> None:
    """Remove muslforge/<toolchain>:<tag> images that no toolchain file names any more (never one a
    container uses), and the cached /usr copies of images gone. Only the toolchain files of this checkout count: another checkout's current image
    looks old from here, so this runs only when asked."""
    from ..config.toolchain import load_toolchain
    from ..toolchain.image import image_tag, prune_images, prune_usr_copies
    files = sorted(paths.TOOLCHAINS_DIR.glob("*.yaml"))
    toolchains = [load_toolchain(paths.TOOLCHAINS_DIR, p.stem) for p in files]
    keep = {image_tag(tc) for tc in toolchains}
    removed, busy = prune_images(keep)
    for tag in removed:
        print(title("PRUNE", f"removed {tag}"))
    for tag in busy:
        print(title("PRUNE", f"kept {tag}: a container uses it"))
    for folder in prune_usr_copies():
        print(title("PRUNE", f"removed {folder} (the /usr copy of a removed image)"))
    print(title("PRUNE", f"{len(removed)} image(s) removed, {len(busy)} in use kept; current: "
                         f"{', '.join(sorted(keep))}"))
