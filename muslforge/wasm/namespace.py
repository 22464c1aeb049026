"""The guest's file namespace: mounts of held host directory fds, read-only ancestors, /dev and /tmp.

Paths are capabilities. Each mount is a host directory opened once (an O_PATH fd) and shown at a guest
path; the directories above mounts are virtual and read-only; /dev holds a few device nodes. A guest
path is resolved from a held fd (the root, the cwd, or a guest-open directory), one component at a
time with O_NOFOLLOW, so the kernel never follows a symlink or `..` on the guest's behalf: a symlink's
text is read and resolved again in the guest's namespace, and `..` at a mount's root leads to the
mount's virtual parent. A run of plain components inside a mount is looked up in one openat2 call with
RESOLVE_BENEATH | RESOLVE_NO_SYMLINKS | RESOLVE_NO_MAGICLINKS when the kernel has it (anything else falls
back to the walk). No guest path ever becomes a host path string: host calls get (dir_fd, one name).
Refusals are the errno Linux gives a process that cannot see outside: ENOENT, ENOTDIR, ELOOP, EXDEV
across mounts, EROFS in read-only mounts, EACCES for creating in a virtual directory.
"""

from __future__ import annotations

import ctypes
import errno
import os
import posixpath
import stat
from typing import NamedTuple

from .errors import EmbedderError, Errno

MAX_SYMLINKS = 40
PATH_MAX = 4096
_O_PATH_DIR = os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC
_O_PATH_NOFOLLOW = os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC

# Host device nodes a guest may open by their usual names.
HOST_DEVICES = {"null": "/dev/null", "zero": "/dev/zero", "full": "/dev/full", "random": "/dev/random",
                "urandom": "/dev/urandom"}
STDIO_DEVICES = {"stdin": 0, "stdout": 1, "stderr": 2}


# Plain classes with __slots__, not dataclasses: importing dataclasses (and inspect) costs start-up time.

class Mount:
    """A host directory shown at `guest`; `fd` is held for the life of the process."""

    __slots__ = ("guest", "host", "fd", "read_only", "ident", "nested")

    def __init__(self, guest: str, host: str, fd: int, read_only: bool, ident: tuple[int, int]):
        self.guest, self.host, self.fd, self.read_only, self.ident = guest, host, fd, read_only, ident
        self.nested = False     # another mount or virtual node lies below it (no openat2 fast path)


class Device(NamedTuple):
    """A device node: a host device opened by its fixed host path, or one of the guest's own fds."""

    guest: str
    host: str | None = None
    guest_fd: int | None = None


class Dir:
    """A guest directory: a host fd inside `mount`, or a virtual directory (fd None)."""

    __slots__ = ("guest", "mount", "fd", "owned")

    def __init__(self, guest: str, mount: Mount | None = None, fd: int | None = None, owned: bool = False):
        self.guest, self.mount, self.fd = guest, mount, fd
        self.owned = owned      # the walk opened `fd` and must close it

    @property
    def virtual(self) -> bool:
        return self.fd is None

    def close(self) -> None:
        if self.owned and self.fd is not None:
            os.close(self.fd)
            self.fd, self.owned = None, False

    def keep(self) -> Dir:
        """A copy that owns its own fd (for the cwd and open directories), leaving self as it was."""
        fd = None if self.fd is None else os.dup(self.fd)
        return Dir(self.guest, self.mount, fd, owned=fd is not None)


class Place:
    """Where a path leads: `dir` itself (name None), the entry `name` in `dir`, or a device."""

    __slots__ = ("dir", "name", "device")

    def __init__(self, dir: Dir, name: str | None = None, device: Device | None = None):
        self.dir, self.name, self.device = dir, name, device

    def close(self) -> None:
        self.dir.close()

    def __enter__(self) -> Place:
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    @property
    def read_only(self) -> bool:
        return self.dir.virtual or self.dir.mount is None or self.dir.mount.read_only

    def writable(self) -> None:
        """Errno for changing an entry here: EROFS in a read-only mount, EACCES in a virtual directory."""
        if self.device is not None or self.name is None:
            raise Errno(errno.EBUSY if self.device is None else errno.EACCES)
        if self.dir.virtual:
            raise Errno(errno.EACCES)
        if self.dir.mount.read_only:
            raise Errno(errno.EROFS)


class Namespace:
    """Every mount and virtual node, keyed by guest path."""

    def __init__(self):
        self.mounts: dict[str, Mount] = {}
        self.vdirs: set[str] = {"/"}
        self.devices: dict[str, Device] = {}
        self.roots: dict[tuple[int, int], Mount] = {}

    def mount(self, host: str | os.PathLike, guest: str, *, read_only: bool = False) -> Mount:
        """Show host directory `host` at absolute guest path `guest` (EmbedderError when it can't)."""
        guest = normalize(guest)
        if guest in self.mounts or guest in self.devices:
            raise EmbedderError(f"two mounts at the guest path {guest}; give each --dir its own ::GUEST path")
        try:
            fd = os.open(host, _O_PATH_DIR)
        except OSError as error:
            raise EmbedderError(f"cannot mount {host} at {guest}: {error.strerror}; "
                                "give an existing host directory") from None
        info = os.fstat(fd)
        mount = Mount(guest, os.fspath(host), fd, read_only, (info.st_dev, info.st_ino))
        self.mounts[guest] = mount
        self.roots.setdefault(mount.ident, mount)
        self._add_ancestors(guest)
        self._mark_nested()
        return mount

    def add_device(self, guest: str, *, host: str | None = None, guest_fd: int | None = None) -> None:
        guest = normalize(guest)
        self.devices[guest] = Device(guest, host, guest_fd)
        self._add_ancestors(guest)
        self._mark_nested()

    def add_standard_devices(self) -> None:
        for name, host in HOST_DEVICES.items():
            self.add_device(f"/dev/{name}", host=host)
        for name, fd in STDIO_DEVICES.items():
            self.add_device(f"/dev/{name}", guest_fd=fd)
        self.vdirs.add("/dev/fd")

    def _add_ancestors(self, guest: str) -> None:
        parent = posixpath.dirname(guest)
        while parent not in self.vdirs and parent not in self.mounts:
            self.vdirs.add(parent)
            parent = posixpath.dirname(parent)

    def _mark_nested(self) -> None:
        inner = set(self.mounts) | set(self.devices) | self.vdirs
        for mount in self.mounts.values():
            prefix = mount.guest.rstrip("/") + "/"
            mount.nested = any(path.startswith(prefix) for path in inner if path != mount.guest)

    def close(self) -> None:
        for mount in self.mounts.values():
            os.close(mount.fd)
        self.mounts.clear()

    # ---- guest paths -> places -------------------------------------------------------------------

    def at(self, guest: str) -> Dir | None:
        """The Dir for a mount root or virtual directory at this exact guest path, else None."""
        mount = self.mounts.get(guest)
        if mount is not None:
            return Dir(guest, mount, mount.fd)
        return Dir(guest) if guest in self.vdirs else None

    def root(self) -> Dir:
        return self.at("/")

    def children(self, guest: str) -> list[str]:
        """Names of the mounts, virtual directories and devices directly below `guest`."""
        names = {posixpath.basename(p) for p in (*self.mounts, *self.vdirs, *self.devices)
                 if p != "/" and posixpath.dirname(p) == guest}
        return sorted(names)

    def locate(self, base: Dir, path: bytes | str, *, follow: bool = True) -> Place:
        """Resolve guest `path` from `base` (see the module doc). The caller closes the Place."""
        text = os.fsdecode(path)
        if not text:
            raise Errno(errno.ENOENT)
        if len(text) >= PATH_MAX:
            raise Errno(errno.ENAMETOOLONG)
        return self._locate(base, text, follow, [MAX_SYMLINKS])

    def _locate(self, base: Dir, text: str, follow: bool, budget: list[int]) -> Place:
        start = self.root() if text.startswith("/") else base
        parts = [p for p in text.split("/") if p]
        must_dir = text.endswith("/")
        if not parts:
            return Place(_borrow(start))
        parent = self.walk(start, parts[:-1], budget)
        try:
            return self._final(parent, parts[-1], follow or must_dir, must_dir, budget)
        except BaseException:
            parent.close()
            raise

    def _final(self, parent: Dir, name: str, follow: bool, must_dir: bool, budget: list[int]) -> Place:
        """The last component: a directory itself, a device, or an entry (symlinks followed if asked)."""
        if name in (".", ".."):
            return Place(_replace(parent, self._step(parent, name, budget)))
        special = self._special(parent, name)
        if special is not None:
            if isinstance(special, Device):
                if must_dir:
                    raise Errno(errno.ENOTDIR)
                return Place(parent, name, special)
            parent.close()
            return Place(special)
        if parent.virtual or not follow:
            return Place(parent, name)
        try:
            info = os.stat(name, dir_fd=parent.fd, follow_symlinks=False)
        except FileNotFoundError:
            return Place(parent, name)
        if stat.S_ISLNK(info.st_mode):
            target = _readlink(parent, name, budget)
            place = self._locate(parent, target + ("/" if must_dir else ""), True, budget)
            place.dir = _replace(parent, place.dir)
            return place
        if must_dir and not stat.S_ISDIR(info.st_mode):
            raise Errno(errno.ENOTDIR)
        return Place(parent, name)

    def walk(self, start: Dir, parts: list[str], budget: list[int]) -> Dir:
        """The directory reached through `parts` from `start`, every component a directory."""
        current = _borrow(start)
        index = 0
        try:
            while index < len(parts):
                fast = self._fast_run(current, parts, index)
                if fast is not None:
                    nxt, index = fast
                else:
                    nxt, index = self._step(current, parts[index], budget), index + 1
                current = _replace(current, nxt)
            return current
        except BaseException:
            current.close()
            raise

    def _fast_run(self, current: Dir, parts: list[str], index: int) -> tuple[Dir, int] | None:
        """openat2 over the longest run of plain components (no `.`/`..`) in a mount with nothing nested."""
        if current.virtual or current.mount.nested or not _OPENAT2.available:
            return None
        end = index
        while end < len(parts) and parts[end] not in (".", ".."):
            end += 1
        if end - index < 2:
            return None
        fd = _OPENAT2(current.fd, "/".join(parts[index:end]), _O_PATH_DIR)
        if fd is None:
            return None           # any failure: the walk finds the exact errno component by component
        guest = posixpath.join(current.guest, *parts[index:end])
        return Dir(guest, current.mount, fd, owned=True), end

    def _special(self, parent: Dir, name: str) -> Dir | Device | None:
        guest = posixpath.join(parent.guest, name)
        device = self.devices.get(guest)
        if device is not None:
            return device
        if parent.guest == "/dev/fd" and name.isdigit():
            return Device(guest, guest_fd=int(name))
        return self.at(guest)

    def _step(self, current: Dir, part: str, budget: list[int]) -> Dir:
        """One directory component from `current` (which the caller still owns)."""
        if part == ".":
            return current
        if part == "..":
            return self._parent(current)
        special = self._special(current, part)
        if isinstance(special, Device):
            raise Errno(errno.ENOTDIR)
        if special is not None:
            return special
        if current.virtual:
            raise Errno(errno.ENOENT)
        fd = os.open(part, _O_PATH_NOFOLLOW, dir_fd=current.fd)
        try:
            mode = os.fstat(fd).st_mode
        except BaseException:
            os.close(fd)
            raise
        if stat.S_ISDIR(mode):
            return Dir(posixpath.join(current.guest, part), current.mount, fd, owned=True)
        os.close(fd)
        if not stat.S_ISLNK(mode):
            raise Errno(errno.ENOTDIR)
        target = _readlink(current, part, budget)
        return self.walk(self.root() if target.startswith("/") else current,
                         [p for p in target.split("/") if p], budget)

    def _parent(self, current: Dir) -> Dir:
        """`..`: inside a mount the host parent, at a mount root (or virtual) the guest's parent path."""
        if not current.virtual:
            info = os.fstat(current.fd)
            root = self.roots.get((info.st_dev, info.st_ino))
            if root is None:
                fd = os.open("..", _O_PATH_DIR | os.O_NOFOLLOW, dir_fd=current.fd)
                return Dir(posixpath.dirname(current.guest), current.mount, fd, owned=True)
            guest = root.guest
        else:
            guest = current.guest
        parent = posixpath.dirname(guest)
        found = self.at(parent)
        if found is not None:
            return found
        return self.walk(self.root(), [p for p in parent.split("/") if p], [MAX_SYMLINKS])


def _replace(old: Dir, new: Dir) -> Dir:
    """Move on from `old` to `new`: close old's fd unless new is (a view of) the same fd."""
    if new is old:
        return new
    if old.fd is not None and new.fd == old.fd:
        new.owned, old.owned = new.owned or old.owned, False
    old.close()
    return new


def _borrow(d: Dir) -> Dir:
    """A non-owning view of `d`, so closing what a walk returns never closes the cwd or a mount."""
    return Dir(d.guest, d.mount, d.fd)


def _readlink(parent: Dir, name: str, budget: list[int]) -> str:
    budget[0] -= 1
    if budget[0] < 0:
        raise Errno(errno.ELOOP)
    return os.readlink(name, dir_fd=parent.fd)


def normalize(guest: str) -> str:
    if not guest.startswith("/"):
        raise EmbedderError(f"guest path {guest!r} must be absolute")
    return posixpath.normpath(guest).replace("//", "/")


# ---- openat2 through ctypes ----------------------------------------------------------------------

class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


class _Openat2:
    """openat2(dirfd, path, flags, RESOLVE_BENEATH|NO_SYMLINKS|NO_MAGICLINKS): an fd or None."""

    NR = 437                          # the same number on every Linux architecture
    RESOLVE = 0x08 | 0x04 | 0x02      # BENEATH | NO_SYMLINKS | NO_MAGICLINKS

    def __init__(self):
        self.libc = ctypes.CDLL(None, use_errno=True)
        self.libc.syscall.restype = ctypes.c_long
        self.available = True
        probe = self(os.open("/", _O_PATH_DIR), ".", _O_PATH_DIR, close_dirfd=True)
        if probe is None:
            self.available = False
        else:
            os.close(probe)

    def __call__(self, dirfd: int, path: str, flags: int, *, close_dirfd: bool = False) -> int | None:
        how = _OpenHow(flags, 0, self.RESOLVE)
        fd = self.libc.syscall(ctypes.c_long(self.NR), ctypes.c_int(dirfd), os.fsencode(path),
                               ctypes.byref(how), ctypes.c_size_t(ctypes.sizeof(how)))
        if close_dirfd:
            os.close(dirfd)
        return fd if fd >= 0 else None


_OPENAT2 = _Openat2()


def renameat2(old: Place, new: Place, flags: int) -> None:
    """renameat2(2) between two (dir fd, name) places; flags as the guest gave them (RENAME_NOREPLACE...)."""
    libc = _OPENAT2.libc
    result = libc.renameat2(old.dir.fd, os.fsencode(old.name), new.dir.fd, os.fsencode(new.name),
                            ctypes.c_uint(flags))
    if result != 0:
        code = ctypes.get_errno()
        raise OSError(code, os.strerror(code))
