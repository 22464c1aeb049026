"""File-system namespace syscalls: stat, directories, links, permissions, times, the working directory.

Every path goes through the namespace (files.locate, namespace.py); host OSErrors become -errno in host.py.
"""

from __future__ import annotations

import errno
import os
import posixpath
import stat
import time
from types import SimpleNamespace

from . import abi
from ._registry import syscall
from .errors import Errno
from .fdtable import OpenFile
from .files import base_dir, i64, locate, seekable
from .guest import u32
from .namespace import Dir, Place, renameat2

# ---- stat ----------------------------------------------------------------------------------------

def _split_ns(ns: int) -> tuple[int, int]:
    return divmod(ns, 1_000_000_000)


def pack_stat(st: os.stat_result) -> bytes:
    return abi.STAT.pack(
        st.st_dev, st.st_ino, st.st_mode, st.st_nlink, st.st_uid, st.st_gid, st.st_rdev,
        st.st_size, st.st_blksize, st.st_blocks,
        *_split_ns(st.st_atime_ns), *_split_ns(st.st_mtime_ns), *_split_ns(st.st_ctime_ns))


def pack_statx(st: os.stat_result) -> bytes:
    birth = getattr(st, "st_birthtime_ns", st.st_ctime_ns)
    return abi.STATX.pack(
        abi.STATX_BASIC_STATS, st.st_blksize, 0, st.st_nlink, st.st_uid, st.st_gid, st.st_mode & 0xFFFF,
        st.st_ino, st.st_size, st.st_blocks, 0,
        *_split_ns(st.st_atime_ns), *_split_ns(birth), *_split_ns(st.st_ctime_ns),
        *_split_ns(st.st_mtime_ns),
        os.major(st.st_rdev), os.minor(st.st_rdev), os.major(st.st_dev), os.minor(st.st_dev))


def _stream_stat(file: OpenFile) -> SimpleNamespace:
    """A stream without a host fd (a BytesIO in tests) looks like a pipe, or a tty when it says so."""
    mode = (stat.S_IFCHR | 0o620) if file.isatty() else (stat.S_IFIFO | 0o600)
    now = time.time_ns()
    return SimpleNamespace(st_dev=0, st_ino=0, st_mode=mode, st_nlink=1, st_uid=os.getuid(),
                           st_gid=os.getgid(), st_rdev=0, st_size=0, st_blksize=4096, st_blocks=0,
                           st_atime_ns=now, st_mtime_ns=now, st_ctime_ns=now)


def fd_stat(file: OpenFile) -> os.stat_result:
    hostfd = file.host_fileno()
    return os.fstat(hostfd) if hostfd is not None else _stream_stat(file)


def place_stat(proc, place: Place) -> os.stat_result:
    """stat of what a path led to: a device, a directory (virtual ones as the stand-in), an entry."""
    if place.device is not None:
        if place.device.guest_fd is not None:
            return fd_stat(proc.fds.get(place.device.guest_fd))
        return os.stat(place.device.host)
    if place.name is None:
        return os.stat(proc.stand_in) if place.dir.virtual else os.stat(place.dir.fd)
    if place.dir.virtual:
        raise Errno(errno.ENOENT)
    return os.stat(place.name, dir_fd=place.dir.fd, follow_symlinks=False)


def path_stat(proc, dirfd: int, path: int, flags: int) -> os.stat_result:
    if flags & abi.AT_EMPTY_PATH and proc.mem.cstring(path) == b"":
        if dirfd == abi.AT_FDCWD:
            return place_stat(proc, Place(proc.cwd))
        return fd_stat(proc.fds.get(dirfd))
    with locate(proc, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW) as place:
        return place_stat(proc, place)


@syscall("fstat")
def sys_fstat(proc, fd, buf):
    proc.mem.write(buf, pack_stat(fd_stat(proc.fds.get(fd))))
    return 0


@syscall("newfstatat")
def sys_fstatat(proc, dirfd, path, buf, flags):
    proc.mem.write(buf, pack_stat(path_stat(proc, dirfd, path, flags)))
    return 0


@syscall("stat")
def sys_stat(proc, path, buf):
    return sys_fstatat(proc, abi.AT_FDCWD, path, buf, 0)


@syscall("lstat")
def sys_lstat(proc, path, buf):
    return sys_fstatat(proc, abi.AT_FDCWD, path, buf, abi.AT_SYMLINK_NOFOLLOW)


@syscall("statx")
def sys_statx(proc, dirfd, path, flags, mask, buf):
    proc.mem.write(buf, pack_statx(path_stat(proc, dirfd, path, flags)))
    return 0


# ---- directories ---------------------------------------------------------------------------------

_DT = {stat.S_IFDIR: abi.DT_DIR, stat.S_IFREG: abi.DT_REG, stat.S_IFLNK: abi.DT_LNK,
       stat.S_IFCHR: abi.DT_CHR, stat.S_IFBLK: abi.DT_BLK, stat.S_IFIFO: abi.DT_FIFO,
       stat.S_IFSOCK: abi.DT_SOCK}


def _dir_entries(proc, file: OpenFile) -> list[tuple[int, int, bytes]]:
    """`.`, `..`, the host entries, then the mounts, virtual directories and devices shown here."""
    here = os.fstat(file.hostfd)
    entries = [(here.st_ino, abi.DT_DIR, b"."), (here.st_ino, abi.DT_DIR, b"..")]
    seen = set()
    if not file.dir.virtual:
        with os.scandir(file.hostfd) as scan:
            for entry in sorted(scan, key=lambda e: e.name):
                info = entry.stat(follow_symlinks=False)
                seen.add(entry.name)
                entries.append((entry.inode(), _DT.get(stat.S_IFMT(info.st_mode), abi.DT_UNKNOWN),
                                os.fsencode(entry.name)))
    for name in proc.ns.children(file.dir.guest):
        if name not in seen:
            kind = abi.DT_CHR if posixpath.join(file.dir.guest, name) in proc.ns.devices else abi.DT_DIR
            entries.append((here.st_ino + 1 + len(entries), kind, os.fsencode(name)))
    return entries


@syscall("getdents64")
def sys_getdents64(proc, fd, dirp, count):
    file = proc.fds.get(fd)
    if file.hostfd is None or not file.is_dir:
        raise Errno(errno.ENOTDIR)
    if file.dir_entries is None or file.dir_pos == 0:
        file.dir_entries = _dir_entries(proc, file)    # (re)read at the start, as rewinddir expects
    out = bytearray()
    count = u32(count)
    while file.dir_pos < len(file.dir_entries):
        ino, kind, name = file.dir_entries[file.dir_pos]
        reclen = (abi.DIRENT64.size + len(name) + 1 + 7) & ~7
        if len(out) + reclen > count:
            if not out:
                raise Errno(errno.EINVAL)
            break
        record = abi.DIRENT64.pack(ino, file.dir_pos + 1, reclen, kind) + name
        out += record.ljust(reclen, b"\0")
        file.dir_pos += 1
    proc.mem.write(dirp, bytes(out))
    return len(out)


def _changing(place: Place, *, exists_errno: int | None = None) -> None:
    """Refuse to change `place` where the guest may not: EEXIST (when asked) for a mount, virtual
    directory or device that is there already, EROFS in a read-only mount, EACCES in a virtual one."""
    if exists_errno is not None and (place.name is None or place.device is not None):
        raise Errno(exists_errno)
    place.writable()


@syscall("mkdirat")
def sys_mkdirat(proc, dirfd, path, mode):
    with locate(proc, dirfd, path, follow=False) as place:
        if place.dir.virtual and place.name is not None and place.device is None:
            raise Errno(errno.EACCES)
        _changing(place, exists_errno=errno.EEXIST)
        os.mkdir(place.name, mode & 0o7777 & ~proc.umask, dir_fd=place.dir.fd)
    return 0


@syscall("mkdir")
def sys_mkdir(proc, path, mode):
    return sys_mkdirat(proc, abi.AT_FDCWD, path, mode)


@syscall("unlinkat")
def sys_unlinkat(proc, dirfd, path, flags):
    if flags & ~abi.AT_REMOVEDIR:
        raise Errno(errno.EINVAL)
    with locate(proc, dirfd, path, follow=False) as place:
        if place.dir.virtual and place.name is not None and place.device is None:
            raise Errno(errno.ENOENT)
        _changing(place)
        if flags & abi.AT_REMOVEDIR:
            os.rmdir(place.name, dir_fd=place.dir.fd)
        else:
            info = os.stat(place.name, dir_fd=place.dir.fd, follow_symlinks=False)
            if stat.S_ISDIR(info.st_mode):
                raise Errno(errno.EISDIR)
            os.unlink(place.name, dir_fd=place.dir.fd)
    return 0


@syscall("unlink")
def sys_unlink(proc, path):
    return sys_unlinkat(proc, abi.AT_FDCWD, path, 0)


@syscall("rmdir")
def sys_rmdir(proc, path):
    return sys_unlinkat(proc, abi.AT_FDCWD, path, abi.AT_REMOVEDIR)


@syscall("renameat")
def sys_renameat(proc, olddirfd, oldpath, newdirfd, newpath):
    return sys_renameat2(proc, olddirfd, oldpath, newdirfd, newpath, 0)


@syscall("rename")
def sys_rename(proc, oldpath, newpath):
    return sys_renameat2(proc, abi.AT_FDCWD, oldpath, abi.AT_FDCWD, newpath, 0)


@syscall("renameat2")
def sys_renameat2(proc, olddirfd, oldpath, newdirfd, newpath, flags):
    if flags & ~7:                        # RENAME_NOREPLACE, RENAME_EXCHANGE, RENAME_WHITEOUT
        raise Errno(errno.EINVAL)
    with locate(proc, olddirfd, oldpath, follow=False) as old, \
            locate(proc, newdirfd, newpath, follow=False) as new:
        _two_places(old, new)
        renameat2(old, new, flags)
    return 0


def _two_places(old: Place, new: Place) -> None:
    """rename and link: both ends must be entries of directories in one writable mount."""
    if old.dir.virtual and old.name is not None and old.device is None:
        raise Errno(errno.ENOENT)
    if old.dir.mount is not new.dir.mount and not old.dir.virtual and not new.dir.virtual:
        raise Errno(errno.EXDEV)          # before EROFS, as Linux checks
    _changing(old)
    _changing(new)


@syscall("faccessat")
def sys_faccessat(proc, dirfd, path, mode, flags=0):
    """The kernel's faccessat has no flags argument; musl's wasm32 import passes one (ignored)."""
    return sys_faccessat2(proc, dirfd, path, mode, 0)


@syscall("access")
def sys_access(proc, path, mode):
    return sys_faccessat2(proc, abi.AT_FDCWD, path, mode, 0)


@syscall("faccessat2")
def sys_faccessat2(proc, dirfd, path, mode, flags):
    if mode & ~7:
        raise Errno(errno.EINVAL)
    with locate(proc, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW) as place:
        place_stat(proc, place)           # ENOENT before EACCES, as the kernel does
        if mode & 2 and place.read_only and place.device is None:
            raise Errno(errno.EROFS if not place.dir.virtual else errno.EACCES)
        if not mode or place.device is not None or place.dir.virtual:
            return 0
        effective = bool(flags & abi.AT_EACCESS)
        name, fd = (place.name, place.dir.fd) if place.name is not None else (".", place.dir.fd)
        if not os.access(name, mode, dir_fd=fd, effective_ids=effective, follow_symlinks=False):
            raise Errno(errno.EACCES)
    return 0


@syscall("readlinkat")
def sys_readlinkat(proc, dirfd, path, buf, size):
    """A link's text, as stored: the guest resolves it in its own namespace."""
    if size <= 0:
        raise Errno(errno.EINVAL)
    with locate(proc, dirfd, path, follow=False) as place:
        if place.name is None or place.device is not None or place.dir.virtual:
            raise Errno(errno.EINVAL if place.name is None or place.device is not None else errno.ENOENT)
        text = os.fsencode(os.readlink(place.name, dir_fd=place.dir.fd))
    text = text[:u32(size)]
    proc.mem.write(buf, text)
    return len(text)


@syscall("readlink")
def sys_readlink(proc, path, buf, size):
    return sys_readlinkat(proc, abi.AT_FDCWD, path, buf, size)


@syscall("symlinkat")
def sys_symlinkat(proc, target, newdirfd, linkpath):
    text = proc.mem.cstring(target)
    if not text:
        raise Errno(errno.ENOENT)
    with locate(proc, newdirfd, linkpath, follow=False) as place:
        if place.dir.virtual and place.name is not None and place.device is None:
            raise Errno(errno.EACCES)
        _changing(place, exists_errno=errno.EEXIST)
        os.symlink(text, place.name, dir_fd=place.dir.fd)
    return 0


@syscall("symlink")
def sys_symlink(proc, target, linkpath):
    return sys_symlinkat(proc, target, abi.AT_FDCWD, linkpath)


@syscall("linkat")
def sys_linkat(proc, olddirfd, oldpath, newdirfd, newpath, flags):
    if flags & ~(abi.AT_SYMLINK_FOLLOW | abi.AT_EMPTY_PATH):
        raise Errno(errno.EINVAL)
    follow = bool(flags & abi.AT_SYMLINK_FOLLOW)
    with locate(proc, olddirfd, oldpath, follow=follow) as old, \
            locate(proc, newdirfd, newpath, follow=False) as new:
        if old.name is None and old.device is None:
            raise Errno(errno.EPERM)      # hard links to directories
        _two_places(old, new)
        os.link(old.name, new.name, src_dir_fd=old.dir.fd, dst_dir_fd=new.dir.fd, follow_symlinks=False)
    return 0


@syscall("link")
def sys_link(proc, oldpath, newpath):
    return sys_linkat(proc, abi.AT_FDCWD, oldpath, abi.AT_FDCWD, newpath, 0)


def _pinned(proc, place: Place) -> int:
    """An O_PATH fd of the object at `place` (not following a final symlink); the caller closes it."""
    if place.device is not None:
        raise Errno(errno.EPERM)
    if place.name is None:
        if place.dir.virtual:
            raise Errno(errno.EPERM)
        return os.open(".", os.O_PATH | os.O_CLOEXEC, dir_fd=place.dir.fd)
    if place.dir.virtual:
        raise Errno(errno.ENOENT)
    return os.open(place.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=place.dir.fd)


def _by_fd(fd: int) -> str:
    """The host's own name for an fd it holds (the kernel resolves it to that exact inode)."""
    return f"/proc/self/fd/{fd}"


@syscall("fchmodat", "fchmodat2")
def sys_fchmodat(proc, dirfd, path, mode, flags=0):
    with locate(proc, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW) as place:
        if place.read_only and place.device is None:
            raise Errno(errno.EROFS if not place.dir.virtual else errno.EPERM)
        fd = _pinned(proc, place)
    try:
        if stat.S_ISLNK(os.fstat(fd).st_mode):
            raise Errno(errno.EOPNOTSUPP)     # Linux cannot change a symlink's mode either
        os.chmod(_by_fd(fd), mode & 0o7777)
    finally:
        os.close(fd)
    return 0


@syscall("truncate64")
def sys_truncate64(proc, path, len_lo, len_hi=0):
    """By the inode a pinned O_PATH fd holds: no open file is made (which would drop the guest's
    record locks on close)."""
    length = i64(len_lo, len_hi)
    if length < 0:
        raise Errno(errno.EINVAL)
    with locate(proc, abi.AT_FDCWD, path) as place:
        if place.read_only and place.device is None:
            raise Errno(errno.EROFS if not place.dir.virtual else errno.EACCES)
        fd = _pinned(proc, place)
    try:
        mode = os.fstat(fd).st_mode
        if stat.S_ISDIR(mode):
            raise Errno(errno.EISDIR)
        if stat.S_ISLNK(mode):
            raise Errno(errno.ELOOP)
        os.truncate(_by_fd(fd), length)
    finally:
        os.close(fd)
    return 0


@syscall("chmod")
def sys_chmod(proc, path, mode):
    return sys_fchmodat(proc, abi.AT_FDCWD, path, mode, 0)


@syscall("fchmod")
def sys_fchmod(proc, fd, mode):
    os.chmod(seekable(proc.fds.get(fd)), mode & 0o7777)
    return 0


@syscall("utimensat_time64")
def sys_utimensat(proc, dirfd, path, times, flags):
    """times == NULL sets both to now; UTIME_NOW/UTIME_OMIT are honoured; path NULL means dirfd."""
    if path == 0:
        return _utime_fd(proc, seekable(proc.fds.get(dirfd)), times)
    with locate(proc, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW) as place:
        if place.read_only and place.device is None:
            raise Errno(errno.EROFS if not place.dir.virtual else errno.EACCES)
        if place.device is not None:
            return 0
        name, fd = (place.name, place.dir.fd) if place.name is not None else (".", place.dir.fd)
        current = os.stat(name, dir_fd=fd, follow_symlinks=False)
        os.utime(name, ns=_times(proc, times, current), dir_fd=fd, follow_symlinks=False)
    return 0


def _utime_fd(proc, hostfd: int, times: int) -> int:
    os.utime(hostfd, ns=_times(proc, times, os.fstat(hostfd)))
    return 0


def _times(proc, times: int, current: os.stat_result) -> tuple[int, int]:
    if times == 0:
        now = time.time_ns()
        return now, now
    raw = proc.mem.read(times, 2 * abi.TIMESPEC.size)
    pair = [abi.TIMESPEC.unpack_from(raw, i * abi.TIMESPEC.size) for i in range(2)]
    old = (current.st_atime_ns, current.st_mtime_ns)
    return tuple(_utime_ns(sec, nsec, old[i]) for i, (sec, nsec) in enumerate(pair))


def _utime_ns(sec: int, nsec: int, old: int) -> int:
    utime_now, utime_omit = (1 << 30) - 1, (1 << 30) - 2
    if nsec == utime_now:
        return time.time_ns()
    if nsec == utime_omit:
        return old
    if not 0 <= nsec < 1_000_000_000:
        raise Errno(errno.EINVAL)
    return sec * 1_000_000_000 + nsec


# ---- working directory ---------------------------------------------------------------------------

@syscall("chdir")
def sys_chdir(proc, path):
    with locate(proc, abi.AT_FDCWD, path) as place:
        if place.device is not None:
            raise Errno(errno.ENOTDIR)
        if place.name is None:
            target = place.dir.keep()
        else:
            if place.dir.virtual:
                raise Errno(errno.ENOENT)
            fd = os.open(place.name, os.O_PATH | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC,
                         dir_fd=place.dir.fd)
            target = Dir(posixpath.join(place.dir.guest, place.name), place.dir.mount, fd, owned=True)
    proc.set_cwd(target)
    return 0


@syscall("fchdir")
def sys_fchdir(proc, fd):
    proc.set_cwd(base_dir(proc, fd).keep())
    return 0


@syscall("getcwd")
def sys_getcwd(proc, buf, size):
    """Linux returns the length including the NUL."""
    text = os.fsencode(proc.cwd.guest) + b"\0"
    if len(text) > u32(size):
        raise Errno(errno.ERANGE)
    proc.mem.write(buf, text)
    return len(text)


@syscall("umask")
def sys_umask(proc, mask):
    old, proc.umask = proc.umask, mask & 0o777
    return old


@syscall("fchownat")
def sys_fchownat(proc, dirfd, path, uid, gid, flags):
    with locate(proc, dirfd, path, follow=not flags & abi.AT_SYMLINK_NOFOLLOW) as place:
        if place.read_only and place.device is None:
            raise Errno(errno.EROFS if not place.dir.virtual else errno.EPERM)
        if place.device is not None:
            raise Errno(errno.EPERM)
        name, fd = (place.name, place.dir.fd) if place.name is not None else (".", place.dir.fd)
        os.chown(name, uid, gid, dir_fd=fd, follow_symlinks=False)
    return 0


@syscall("fchown")
def sys_fchown(proc, fd, uid, gid):
    os.chown(seekable(proc.fds.get(fd)), uid, gid)
    return 0
