"""Where things live: the checkout's data folders, and the build, cache, dist folders of this run.

The folders a user can move (build, cache, dist, arches, patches) come from the run's settings
(muslforge.settings); the constants are the checkout's own copies.
"""

from pathlib import Path

from .errors import DirectoryError

CHECKOUT = Path(__file__).resolve().parent.parent
ARCHES_DIR = CHECKOUT / "arches"        # the shipped arch files (settings.arches_dir may point elsewhere)
TOOLCHAINS_DIR = CHECKOUT / "toolchains"
PATCHES_DIR = CHECKOUT / "patches"      # the shipped series (settings.patches_dir may point elsewhere)
PORT_DIR = CHECKOUT / "port"  # ported source in musl's layout, overlaid on every tree
SOURCES_DIR = CHECKOUT / "sources"
CONTAINERS_DIR = CHECKOUT / "containers"
SMOKE_DIR = CHECKOUT / "tests" / "smoke"


def build_dir() -> Path:
    from . import settings  # imported when first needed: `muslforge run` stays light
    return settings.current().build_dir


def cache_dir() -> Path:
    from . import settings  # imported when first needed: `muslforge run` stays light
    return settings.current().cache_dir


def dist_dir() -> Path:
    from . import settings  # imported when first needed: `muslforge run` stays light
    return settings.current().dist_dir


def arches_dir() -> Path:
    from . import settings  # imported when first needed: `muslforge run` stays light
    return settings.current().arches_dir


def patches_dir() -> Path:
    from . import settings  # imported when first needed: `muslforge run` stays light
    return settings.current().patches_dir


def usable_dir(path: Path, variable: str) -> Path:
    """path, made if missing; a DirectoryError when it names a file or cannot be made."""
    try:
        path.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise DirectoryError(f"{variable} is {path}, which is a file, not a folder; point {variable} at a "
                             f"folder (or unset it for the default).") from None
    except OSError as exc:
        raise DirectoryError(f"cannot create {path} ({exc.strerror}); point {variable} at a writable "
                             f"folder.") from None
    return path


def sysroot_dir(arch: str) -> Path:
    return build_dir() / "sysroots" / arch


def log_path(task: str) -> Path:
    """build/logs/<task>.log, with ':' made file-name safe."""
    return build_dir() / "logs" / (task.replace(":", "-") + ".log")
