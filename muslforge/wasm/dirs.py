"""File-system namespace syscalls: stat, directories, links, permissions, times, the working directory.

Every path goes through the sandbox (files.guest_path); host OSErrors become -errno in host.py.
"""

from __future__ import annotations

import errno
import os
import stat
import time
from types import SimpleNamespace

from . import abi
from ._registry import syscall
from .errors import Errno
from .fdtable import OpenFile
from .files import base_dir, guest_path, seekable
from .guest import u32

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


def path_stat(proc, dirfd: int, path: int, flags: int) -> os.stat_result:
    if flags & abi.AT_EMPTY_PATH and proc.mem.cstring(path) == b"":
        if dirfd == abi.AT_FDCWD:
            return os.stat(proc.cwd)
        return fd_stat(proc.fds.get(dirfd))
    follow = not flags & abi.AT_SYMLINK_NOFOLLOW
    return os.stat(guest_path(proc, dirfd, path, follow=follow), follow_symlinks=follow)


@syscall("fstat")
def sys_fstat(proc, fd, buf):
    proc.mem.write(buf, pack_stat(fd_stat(proc.fds.get(fd))))
    return 0


@syscall("newfstatat", "fstatat")
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


def _dir_entries(file: OpenFile) -> list[tuple[int, int, bytes]]:
    here = os.fstat(file.hostfd)
    parent = os.stat(os.path.dirname(file.path) or "/")
    entries = [(here.st_ino, abi.DT_DIR, b"."), (parent.st_ino, abi.DT_DIR, b"..")]
    with os.scandir(file.hostfd) as scan:
        for entry in sorted(scan, key=lambda e: e.name):
            info = entry.stat(follow_symlinks=False)
            entries.append((entry.inode(), _DT.get(stat.S_IFMT(info.st_mode), abi.DT_UNKNOWN),
                            os.fsencode(entry.name)))
    return entries


@syscall("getdents64")
def sys_getdents64(proc, fd, dirp, count):
    file = proc.fds.get(fd)
    if file.hostfd is None or not file.is_dir:
        raise Errno(errno.ENOTDIR)
    if file.dir_entries is None or file.dir_pos == 0:
        file.dir_entries = _dir_entries(file)      # (re)read at the start, as rewinddir expects
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


@syscall("mkdirat")
def sys_mkdirat(proc, dirfd, path, mode):
    os.mkdir(guest_path(proc, dirfd, path, follow=False).rstrip("/") or "/", mode & 0o7777)
    return 0


@syscall("unlinkat")
def sys_unlinkat(proc, dirfd, path, flags):
    target = guest_path(proc, dirfd, path, follow=False)
    if flags & abi.AT_REMOVEDIR:
        os.rmdir(target)
    elif os.path.isdir(target) and not os.path.islink(target):
        raise Errno(errno.EISDIR)
    else:
        os.unlink(target)
    return 0


@syscall("renameat")
def sys_renameat(proc, olddirfd, oldpath, newdirfd, newpath):
    return sys_renameat2(proc, olddirfd, oldpath, newdirfd, newpath, 0)


@syscall("renameat2")
def sys_renameat2(proc, olddirfd, oldpath, newdirfd, newpath, flags):
    old = guest_path(proc, olddirfd, oldpath, follow=False)
    new = guest_path(proc, newdirfd, newpath, follow=False)
    if flags & ~1:                        # only RENAME_NOREPLACE
        raise Errno(errno.EINVAL)
    if flags and os.path.lexists(new):
        raise Errno(errno.EEXIST)
    os.rename(old, new)
    return 0


@syscall("faccessat")
def sys_faccessat(proc, dirfd, path, mode, flags=0):
    """The kernel's faccessat has no flags argument; musl's wasm32 import passes one (ignored)."""
    return sys_faccessat2(proc, dirfd, path, mode, 0)


@syscall("faccessat2")
def sys_faccessat2(proc, dirfd, path, mode, flags):
    follow = not flags & abi.AT_SYMLINK_NOFOLLOW
    target = guest_path(proc, dirfd, path, follow=follow)
    if mode & ~7:
        raise Errno(errno.EINVAL)
    os.stat(target, follow_symlinks=follow)       # ENOENT before EACCES, as the kernel does
    if mode and not os.access(target, mode, effective_ids=bool(flags & abi.AT_EACCESS)):
        raise Errno(errno.EACCES)
    return 0


@syscall("readlinkat")
def sys_readlinkat(proc, dirfd, path, buf, size):
    """A link's text; a link whose target resolves outside the root answers EACCES."""
    link = guest_path(proc, dirfd, path, follow=False)
    text = os.fsencode(os.readlink(link))
    proc.sandbox.resolve(os.path.dirname(link), text)      # refuses escaping targets
    if size <= 0:
        raise Errno(errno.EINVAL)
    text = text[:u32(size)]
    proc.mem.write(buf, text)
    return len(text)


@syscall("symlinkat")
def sys_symlinkat(proc, target, newdirfd, linkpath):
    os.symlink(proc.mem.cstring(target), guest_path(proc, newdirfd, linkpath, follow=False))
    return 0


@syscall("linkat")
def sys_linkat(proc, olddirfd, oldpath, newdirfd, newpath, flags):
    old = guest_path(proc, olddirfd, oldpath, follow=bool(flags & abi.AT_SYMLINK_FOLLOW))
    os.link(old, guest_path(proc, newdirfd, newpath, follow=False), follow_symlinks=False)
    return 0


@syscall("fchmodat")
def sys_fchmodat(proc, dirfd, path, mode, flags=0):
    os.chmod(guest_path(proc, dirfd, path), mode & 0o7777)
    return 0


@syscall("fchmod")
def sys_fchmod(proc, fd, mode):
    os.chmod(seekable(proc.fds.get(fd)), mode & 0o7777)
    return 0


@syscall("utimensat", "utimensat_time64")
def sys_utimensat(proc, dirfd, path, times, flags):
    """times == NULL sets both to now; UTIME_NOW/UTIME_OMIT are honoured."""
    follow = not flags & abi.AT_SYMLINK_NOFOLLOW
    target = (fd_stat_target(proc, dirfd) if path == 0
              else guest_path(proc, dirfd, path, follow=follow))
    current = os.stat(target, follow_symlinks=follow)
    if times == 0:
        os.utime(target, follow_symlinks=follow)
        return 0
    raw = proc.mem.read(times, 2 * abi.TIMESPEC.size)
    pair = [abi.TIMESPEC.unpack_from(raw, i * abi.TIMESPEC.size) for i in range(2)]
    old = (current.st_atime_ns, current.st_mtime_ns)
    ns = tuple(_utime_ns(sec, nsec, old[i]) for i, (sec, nsec) in enumerate(pair))
    os.utime(target, ns=ns, follow_symlinks=follow)
    return 0


def fd_stat_target(proc, fd: int) -> int | str:
    file = proc.fds.get(fd)
    return file.host_fileno() if file.host_fileno() is not None else file.path


def _utime_ns(sec: int, nsec: int, old: int) -> int:
    utime_now, utime_omit = (1 << 30) - 1, (1 << 30) - 2
    if nsec == utime_now:
        return time.time_ns()
    if nsec == utime_omit:
        return old
    return sec * 1_000_000_000 + nsec


# ---- working directory ---------------------------------------------------------------------------

@syscall("chdir")
def sys_chdir(proc, path):
    target = guest_path(proc, abi.AT_FDCWD, path)
    if not os.path.isdir(target):
        raise Errno(errno.ENOTDIR if os.path.exists(target) else errno.ENOENT)
    proc.cwd = os.path.normpath(target)
    return 0


@syscall("fchdir")
def sys_fchdir(proc, fd):
    proc.cwd = base_dir(proc, fd)
    return 0


@syscall("getcwd")
def sys_getcwd(proc, buf, size):
    """Linux returns the length including the NUL."""
    text = os.fsencode(proc.cwd) + b"\0"
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
    follow = not flags & abi.AT_SYMLINK_NOFOLLOW
    os.chown(guest_path(proc, dirfd, path, follow=follow), uid, gid, follow_symlinks=follow)
    return 0


@syscall("fchown")
def sys_fchown(proc, fd, uid, gid):
    os.chown(seekable(proc.fds.get(fd)), uid, gid)
    return 0
