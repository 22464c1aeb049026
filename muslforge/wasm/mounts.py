"""The guest's file system layout: which host directories it sees where, /tmp, /dev, its first cwd.

Default (no mounts given): `root` (or the host's cwd) is mounted read-write at its own absolute path and
is the cwd, so paths print the same inside and out. Every guest also gets a private, empty /tmp (a
fresh host directory removed at exit; `tmp=` keeps a given host directory instead) and /dev/shm, unless
a mount is given there, and the device nodes of namespace.HOST_DEVICES and /dev/std{in,out,err},
/dev/fd/N. The directories above mounts are virtual and read-only (namespace.py).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Sequence
from pathlib import Path

from .errors import EmbedderError, Errno
from .namespace import MAX_SYMLINKS, Dir, Namespace, normalize


class MountSpec:
    """`--dir HOST[::GUEST]` (read_only: `--ro-dir`); guest None means the host path's absolute form."""

    __slots__ = ("host", "guest", "read_only")

    def __init__(self, *, host: Path, guest: str | None = None, read_only: bool = False):
        self.host, self.guest, self.read_only = Path(host), guest, read_only

    def __repr__(self) -> str:
        return f"MountSpec(host={self.host!r}, guest={self.guest!r}, read_only={self.read_only})"

    @classmethod
    def parse(cls, text: str, *, read_only: bool = False) -> MountSpec:
        host, sep, guest = text.partition("::")
        if not host or (sep and not guest.startswith("/")):
            raise EmbedderError(f"mount '{text}' must be HOST or HOST::/GUEST/PATH (an absolute guest path)")
        return cls(host=Path(host), guest=guest or None, read_only=read_only)

    def guest_path(self) -> str:
        return normalize(self.guest or os.path.realpath(self.host))


def build_namespace(root: Path | None, mounts: Sequence[MountSpec],
                    tmp: Path | None) -> tuple[Namespace, str]:
    """The namespace and the private host work directory (the stand-in and the private /tmp, /dev/shm)."""
    if not mounts:
        mounts = [MountSpec(host=Path(root if root is not None else os.getcwd()))]
    workdir = _private_dir()
    ns = Namespace()
    try:
        for name in ("empty", "tmp", "shm"):
            os.mkdir(os.path.join(workdir, name), 0o700)
        os.chmod(os.path.join(workdir, "empty"), 0o555)
        for spec in mounts:
            _mount(ns, spec)
        if "/tmp" not in ns.mounts:
            ns.mount(str(tmp) if tmp is not None else os.path.join(workdir, "tmp"), "/tmp")
        if "/dev/shm" not in ns.mounts:
            ns.mount(os.path.join(workdir, "shm"), "/dev/shm")
        ns.add_standard_devices()
    except BaseException:
        ns.close()
        remove_workdir(workdir)
        raise
    return ns, workdir


def _private_dir() -> str:
    """A new 0700 directory in the host's temp folder (what tempfile.mkdtemp does, without its imports)."""
    base = os.environ.get("TMPDIR") or "/tmp"
    for _ in range(100):
        path = os.path.join(base, f"muslforge-guest-{os.urandom(6).hex()}")
        try:
            os.mkdir(path, 0o700)
            return path
        except FileExistsError:
            continue
    raise EmbedderError(f"cannot make a private directory in {base}")


def _mount(ns: Namespace, spec: MountSpec) -> None:
    if not spec.host.is_dir():
        raise EmbedderError(f"cannot mount {spec.host}: not a directory; --dir and --ro-dir take an "
                            "existing host directory")
    ns.mount(spec.host, spec.guest_path(), read_only=spec.read_only)


def initial_cwd(ns: Namespace, root: Path | None, mounts: Sequence[MountSpec], cwd: str | None) -> Dir:
    """The guest's first working directory: `cwd`, else the first mount's guest path (an owned Dir)."""
    if cwd is None:
        cwd = mounts[0].guest_path() if mounts else next(iter(ns.mounts))
    if not cwd.startswith("/"):
        raise EmbedderError(f"--cwd {cwd} must be an absolute guest path")
    try:
        found = ns.walk(ns.root(), [p for p in cwd.split("/") if p], [MAX_SYMLINKS])
    except (Errno, OSError):
        raise EmbedderError(f"--cwd {cwd}: no such directory in the guest's file system (mount a host "
                            "directory there with --dir HOST::GUEST)") from None
    kept = found.keep() if not found.owned else found
    if kept is not found:
        found.close()
    return kept


def remove_workdir(workdir: str) -> None:
    """Remove the private work directory even where the guest took away write permission.

    Only directories at or below workdir are ever made writable, each opened without following a
    symlink and checked to be where its name says: the names below workdir are the guest's, and the
    directory above it is the host's shared temp folder.
    """
    import shutil

    workdir = os.path.realpath(workdir)  # so that each directory's /proc/self/fd link can be compared

    def inside(path: str) -> bool:
        return path == workdir or path.startswith(workdir + os.sep)

    def make_writable(path: str) -> None:
        if not inside(path):
            return
        fd = os.open(path, os.O_PATH | os.O_NOFOLLOW | os.O_DIRECTORY)
        try:
            if os.readlink(f"/proc/self/fd/{fd}") == path:
                os.chmod(f"/proc/self/fd/{fd}", 0o700)
        finally:
            os.close(fd)

    def unlock(function, path, _):
        with contextlib.suppress(OSError):
            make_writable(os.path.dirname(path))
            make_writable(path)
            function(path)
    shutil.rmtree(workdir, onerror=unlock)
