"""Where things live: the checkout's data folders, the build directory and the download cache."""

import os
from pathlib import Path

from .errors import DirectoryError

CHECKOUT = Path(__file__).resolve().parent.parent
# The data folders can be pointed elsewhere (a distro's own arch files or patches, or a test's copy).
ARCHES_DIR = Path(os.environ.get("MUSLFORGE_ARCHES_DIR") or CHECKOUT / "arches")
TOOLCHAINS_DIR = CHECKOUT / "toolchains"
PATCHES_DIR = Path(os.environ.get("MUSLFORGE_PATCHES_DIR") or CHECKOUT / "patches")
PORT_DIR = CHECKOUT / "port"  # ported source in musl's layout, overlaid on every tree
SOURCES_DIR = CHECKOUT / "sources"
CONTAINERS_DIR = CHECKOUT / "containers"
SMOKE_DIR = CHECKOUT / "tests" / "smoke"


def build_dir() -> Path:
    """All build outputs; MUSLFORGE_BUILD_DIR overrides <checkout>/build."""
    return Path(os.environ.get("MUSLFORGE_BUILD_DIR") or CHECKOUT / "build").resolve()


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


def cache_dir() -> Path:
    """Verified downloads; MUSLFORGE_CACHE overrides ~/.cache/muslforge."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "muslforge"
    return Path(os.environ.get("MUSLFORGE_CACHE") or default).resolve()


def sysroot_dir(arch: str) -> Path:
    return build_dir() / "sysroots" / arch


def log_path(task: str) -> Path:
    """build/logs/<task>.log, with ':' made file-name safe."""
    return build_dir() / "logs" / (task.replace(":", "-") + ".log")
