"""Guest path resolution, confined to one host directory (the root).

The guest sees host paths: its initial working directory is the root, getcwd() returns a host path and
absolute paths name host files. Every path is resolved here, one component at a time, following symlinks
by hand, before the host call sees it. A path whose resolution leaves the root is refused with EACCES:
an absolute path outside the root, `..` at the root, or a symlink whose target lies outside. The walk may
pass through the root's ancestors only on the way down to the root (`/` then `/home` then `/home/u/root`).
A few harmless device files are allowed outright: /dev/null, /dev/zero, /dev/random, /dev/urandom.
"""

from __future__ import annotations

import errno
import os
import stat

from .errors import EmbedderError, Errno

DEVICES = frozenset({"/dev/null", "/dev/zero", "/dev/random", "/dev/urandom"})
MAX_SYMLINKS = 40
PATH_MAX = 4096


class Sandbox:
    """Resolves guest paths against a directory (the guest's cwd or a dirfd's) inside `root`."""

    def __init__(self, root: str | os.PathLike):
        self.root = os.path.realpath(root)
        if not os.path.isdir(self.root):
            raise EmbedderError(f"the sandbox root {root} is not a directory")

    def inside(self, path: str) -> bool:
        """True when `path` (absolute, symlink-free) is the root or below it."""
        return path == self.root or path.startswith(self.root.rstrip("/") + "/")

    def _ancestor(self, path: str) -> bool:
        return path == "/" or self.root.startswith(path.rstrip("/") + "/")

    def resolve(self, base: str, path: bytes | str, *, follow: bool = True) -> str:
        """The host path for guest `path` relative to directory `base`; Errno(EACCES) if it escapes.

        Every directory component is followed; the last one only when `follow` (lstat, unlink, readlink,
        O_NOFOLLOW pass follow=False). A trailing slash is kept, so the host call still insists on a
        directory.
        """
        text = os.fsdecode(path)
        if not text:
            raise Errno(errno.ENOENT)
        if len(text) >= PATH_MAX:
            raise Errno(errno.ENAMETOOLONG)
        if text in DEVICES:
            return text
        resolved = self._walk(base, text, follow, [MAX_SYMLINKS])
        if not self.inside(resolved):
            raise Errno(errno.EACCES)
        return resolved + "/" if text.endswith("/") and resolved != "/" else resolved

    def _walk(self, base: str, text: str, follow: bool, budget: list[int]) -> str:
        current = "/" if text.startswith("/") else base
        parts = [p for p in text.split("/") if p not in ("", ".")]
        for index, part in enumerate(parts):
            last = index == len(parts) - 1
            current = self._step(current, part, follow or not last or text.endswith("/"), budget)
        return current

    def _step(self, current: str, part: str, follow: bool, budget: list[int]) -> str:
        if part == "..":
            if not self.inside(current) or current == self.root:
                raise Errno(errno.EACCES)
            return os.path.dirname(current)
        candidate = os.path.join(current, part)
        if not (self.inside(candidate) or self._ancestor(candidate)):
            raise Errno(errno.EACCES)
        if not follow:
            return candidate
        try:
            info = os.lstat(candidate)
        except FileNotFoundError:
            return candidate        # the host call reports ENOENT (or creates it) itself
        except OSError as error:
            raise Errno(error.errno or errno.EIO) from error
        if not stat.S_ISLNK(info.st_mode):
            return candidate
        budget[0] -= 1
        if budget[0] < 0:
            raise Errno(errno.ELOOP)
        target = os.readlink(candidate)
        return self._walk(current, target, True, budget)
