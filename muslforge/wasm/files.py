"""File syscalls: I/O, open/close/seek, fd manipulation, pipes, truncation, ioctl, poll (paths: dirs.py).

Host OSErrors become -errno in host.py's dispatcher, so handlers call os.* directly. 64-bit offsets
arrive as two i32 halves in the order musl's __SYSCALL_LL_O passes them (low word first), except
llseek, which takes (fd, high, low, result*, whence) like the kernel.
"""

from __future__ import annotations

import errno
import fcntl
import os
import posixpath
import select
import stat
import struct
import time

from . import abi, polling
from ._registry import syscall
from .errors import Errno
from .fdtable import OpenFile
from .guest import u32
from .namespace import Dir, Place
from .process import SIGPIPE, send_self

# guest open flag -> host open flag; O_LARGEFILE has no host meaning and is dropped.
_OPEN_FLAGS = {
    abi.O_CREAT: os.O_CREAT, abi.O_EXCL: os.O_EXCL, abi.O_NOCTTY: os.O_NOCTTY, abi.O_TRUNC: os.O_TRUNC,
    abi.O_APPEND: os.O_APPEND, abi.O_NONBLOCK: os.O_NONBLOCK, abi.O_DSYNC: os.O_DSYNC,
    abi.O_DIRECTORY: os.O_DIRECTORY, abi.O_NOFOLLOW: os.O_NOFOLLOW, abi.O_SYNC: os.O_SYNC,
    abi.O_PATH: os.O_PATH, abi.O_TMPFILE: os.O_TMPFILE,
}
_STATUS_FLAGS = abi.O_APPEND | abi.O_NONBLOCK


def i64(low: int, high: int) -> int:
    value = (u32(high) << 32) | u32(low)
    return value - (1 << 64) if value >> 63 else value


def host_open_flags(flags: int) -> int:
    host = flags & abi.O_ACCMODE
    for guest_bit, host_bit in _OPEN_FLAGS.items():
        if flags & guest_bit == guest_bit:
            host |= host_bit
    return host | os.O_CLOEXEC


def base_dir(proc, dirfd: int) -> Dir:
    """The directory a relative path starts from: the cwd for AT_FDCWD, else the directory dirfd holds."""
    if dirfd == abi.AT_FDCWD:
        return proc.cwd
    file = proc.fds.get(dirfd)
    if file.dir is None:
        raise Errno(errno.ENOTDIR)
    return file.dir


def locate(proc, dirfd: int, ptr: int, *, follow: bool = True) -> Place:
    """Where guest path `ptr` (relative to dirfd) leads; the caller closes the Place (namespace.py)."""
    path = proc.mem.cstring(ptr)
    return proc.ns.locate(base_dir(proc, dirfd), path, follow=follow)


def _clamp(proc, buf: int, count: int) -> memoryview:
    """The guest buffer [buf, buf+count) cut to what memory holds (EFAULT when buf itself is outside)."""
    count = u32(count)
    room = proc.mem.size() - u32(buf)
    if count and room <= 0:
        raise Errno(errno.EFAULT)
    return proc.mem.view(buf, min(count, room))


def _iovecs(proc, iov: int, count: int) -> list[memoryview]:
    """The guest buffers an iovec array names, in place; EFAULT if any lies outside memory."""
    if not 0 <= count <= 1024:
        raise Errno(errno.EINVAL)
    raw = proc.mem.view(iov, abi.IOVEC.size * count)
    vecs = [abi.IOVEC.unpack_from(raw, i * abi.IOVEC.size) for i in range(count)]
    if sum(length for _, length in vecs) > 0x7FFFFFFF:
        raise Errno(errno.EINVAL)
    return [proc.mem.view(base, length) for base, length in vecs if length]


def seekable(file: OpenFile) -> int:
    if file.hostfd is None:
        raise Errno(errno.ESPIPE)
    return file.hostfd


# ---- read and write ------------------------------------------------------------------------------

def _readable(proc, file: OpenFile) -> OpenFile:
    """With threads, wait for a pipe, socket or terminal in a way a signal (a cancellation) can
    interrupt; regular files never block."""
    group = proc.threads
    if (group.spawner is not None or group.async_signals) and file.hostfd is not None \
            and not file.flags & abi.O_NONBLOCK:
        if not stat.S_ISREG(os.fstat(file.hostfd).st_mode):
            proc.threads.wait_fd(file.hostfd)
    return file


@syscall("read")
def sys_read(proc, fd, buf, count):
    return _readable(proc, proc.fds.get(fd)).readinto([_clamp(proc, buf, count)])


def _write(proc, fd: int, buffers: list[memoryview]) -> int:
    """A write to a pipe or socket with no reader: SIGPIPE (default action: exit 141), else EPIPE."""
    try:
        return proc.fds.get(fd).writefrom(buffers)
    except BrokenPipeError:
        send_self(proc, SIGPIPE)
        raise


@syscall("write")
def sys_write(proc, fd, buf, count):
    return _write(proc, fd, [proc.mem.view(buf, u32(count))])


@syscall("readv")
def sys_readv(proc, fd, iov, count):
    return _readable(proc, proc.fds.get(fd)).readinto(_iovecs(proc, iov, count))


@syscall("writev")
def sys_writev(proc, fd, iov, count):
    return _write(proc, fd, _iovecs(proc, iov, count))


@syscall("pread64")
def sys_pread64(proc, fd, buf, count, off_lo, off_hi):
    return os.preadv(seekable(proc.fds.get(fd)), [_clamp(proc, buf, count)], i64(off_lo, off_hi))


@syscall("pwrite64")
def sys_pwrite64(proc, fd, buf, count, off_lo, off_hi):
    return os.pwrite(seekable(proc.fds.get(fd)), proc.mem.view(buf, u32(count)), i64(off_lo, off_hi))


@syscall("preadv")
def sys_preadv(proc, fd, iov, count, off_lo, off_hi):
    vecs = _iovecs(proc, iov, count)
    return os.preadv(seekable(proc.fds.get(fd)), vecs, i64(off_lo, off_hi)) if vecs else 0


@syscall("pwritev")
def sys_pwritev(proc, fd, iov, count, off_lo, off_hi):
    vecs = _iovecs(proc, iov, count)
    return os.pwritev(seekable(proc.fds.get(fd)), vecs, i64(off_lo, off_hi)) if vecs else 0


# ---- open, close, seek ---------------------------------------------------------------------------

@syscall("openat")
def sys_openat(proc, dirfd, path, flags, mode=0):
    """Through the namespace; /dev/std{in,out,err} and /dev/fd/N duplicate the guest's own fd."""
    follow = not flags & abi.O_NOFOLLOW
    cloexec = bool(flags & abi.O_CLOEXEC)
    with locate(proc, dirfd, path, follow=follow) as place:
        if place.device is not None and place.device.guest_fd is not None:
            return proc.fds.add(proc.fds.get(place.device.guest_fd), cloexec=cloexec)
        file = open_place(proc, place, flags, mode & 0o7777 & ~proc.umask)
    try:
        return proc.fds.add(file, cloexec=cloexec)
    except Errno:
        file.refs = 1
        file.release()
        raise


_WRITE_FLAGS = abi.O_TRUNC | abi.O_APPEND


def open_place(proc, place: Place, flags: int, mode: int) -> OpenFile:
    """A new open file description for `place` (a device, a directory, or an entry of a directory)."""
    status = flags & ~(abi.O_CREAT | abi.O_EXCL | abi.O_TRUNC | abi.O_CLOEXEC)
    writes = flags & abi.O_ACCMODE != abi.O_RDONLY or flags & _WRITE_FLAGS
    if place.device is not None:
        if flags & abi.O_DIRECTORY:
            raise Errno(errno.ENOTDIR)
        host = host_open_flags(flags) & ~(os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW)
        return OpenFile(flags=status, hostfd=os.open(place.device.host, host))
    if place.name is None:
        return _open_dir(proc, place.dir, flags, status, writes)
    if place.dir.virtual:
        raise Errno(errno.EACCES if flags & abi.O_CREAT else errno.ENOENT)
    if place.dir.mount.read_only and (writes or flags & abi.O_CREAT and not _exists(place)):
        raise Errno(errno.EROFS)
    hostfd = os.open(place.name, host_open_flags(flags) | os.O_NOFOLLOW, mode, dir_fd=place.dir.fd)
    if not stat.S_ISDIR(os.fstat(hostfd).st_mode):
        return OpenFile(flags=status, hostfd=hostfd)
    guest = posixpath.join(place.dir.guest, place.name)
    return OpenFile(flags=status, hostfd=hostfd, dir=Dir(guest, place.dir.mount, hostfd))


def _exists(place: Place) -> bool:
    try:
        os.stat(place.name, dir_fd=place.dir.fd, follow_symlinks=False)
        return True
    except FileNotFoundError:
        return False


def _open_dir(proc, where: Dir, flags: int, status: int, writes: bool) -> OpenFile:
    """A directory the path named itself (`.`, a mount root, a virtual directory)."""
    if writes or flags & abi.O_CREAT:
        raise Errno(errno.EISDIR)
    if where.virtual:             # an empty read-only host directory stands in for reads and fstat
        hostfd = os.open(proc.stand_in, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        return OpenFile(flags=status, hostfd=hostfd, dir=Dir(where.guest))
    hostfd = os.open(".", host_open_flags(flags), dir_fd=where.fd)
    return OpenFile(flags=status, hostfd=hostfd, dir=Dir(where.guest, where.mount, hostfd))


@syscall("open")
def sys_open(proc, path, flags, mode=0):
    return sys_openat(proc, abi.AT_FDCWD, path, flags, mode)


@syscall("close")
def sys_close(proc, fd):
    proc.fds.close(fd)
    return 0


@syscall("_llseek")
def sys_llseek(proc, fd, off_hi, off_lo, result, whence):
    file = proc.fds.get(fd)
    if not 0 <= whence <= 4:
        raise Errno(errno.EINVAL)
    position = _seek(file, i64(off_lo, off_hi), whence)
    proc.mem.store_u64(result, position)
    return 0


def _seek(file: OpenFile, offset: int, whence: int) -> int:
    """lseek; on a directory the position is the getdents64 cursor (d_off values), as seekdir expects."""
    hostfd = seekable(file)
    if whence == os.SEEK_SET and file.dir_entries is not None and offset >= 0:
        file.dir_pos = offset
        return offset
    if whence == os.SEEK_CUR and file.dir_entries is not None and offset == 0:
        return file.dir_pos
    return os.lseek(hostfd, offset, whence)


@syscall("lseek")
def sys_lseek(proc, fd, offset, whence):
    position = _seek(proc.fds.get(fd), offset, whence)
    if position > 0x7FFFFFFF:
        raise Errno(errno.EOVERFLOW)
    return position


# ---- fd manipulation -----------------------------------------------------------------------------

@syscall("fcntl64")
def sys_fcntl(proc, fd, cmd, arg=0):
    file = proc.fds.get(fd)
    if cmd in (abi.F_DUPFD, abi.F_DUPFD_CLOEXEC):
        return proc.fds.add(file, cloexec=cmd == abi.F_DUPFD_CLOEXEC, start=arg)
    if cmd == abi.F_GETFD:
        return abi.FD_CLOEXEC if fd in proc.fds.cloexec else 0
    if cmd == abi.F_SETFD:
        (proc.fds.cloexec.add if arg & abi.FD_CLOEXEC else proc.fds.cloexec.discard)(fd)
        return 0
    if cmd == abi.F_GETFL:
        return file.flags
    if cmd == abi.F_SETFL:
        return _set_status_flags(file, arg)
    if cmd in _LOCK_COMMANDS:
        return _record_lock(proc, file, _LOCK_COMMANDS[cmd], arg)
    raise Errno(errno.EINVAL)


# Record locks are the host's own on the host fd, so they really lock against other processes and
# guests: guest command -> host command. The 32-bit F_GETLK (5..7) takes the same 64-bit struct in musl.
_LOCK_COMMANDS = {
    abi.F_GETLK: fcntl.F_GETLK, abi.F_SETLK: fcntl.F_SETLK, abi.F_SETLKW: fcntl.F_SETLKW,
    5: fcntl.F_GETLK, 6: fcntl.F_SETLK, 7: fcntl.F_SETLKW,
    abi.F_OFD_GETLK: abi.F_OFD_GETLK, abi.F_OFD_SETLK: abi.F_OFD_SETLK, abi.F_OFD_SETLKW: abi.F_OFD_SETLKW,
}
# struct flock: short l_type, l_whence; off_t l_start, l_len; pid_t l_pid (the guest's and x86_64/
# aarch64 hosts' layouts agree; packed here in the host's native form).
_HOST_FLOCK = struct.Struct("hhqqi4x")


def _record_lock(proc, file: OpenFile, host_cmd: int, arg: int) -> int:
    if file.hostfd is None:
        raise Errno(errno.EBADF if file.stream is not None else errno.EINVAL)
    kind, whence, start, length, pid = abi.FLOCK.unpack(proc.mem.read(arg, abi.FLOCK.size))
    if kind not in (0, 1, 2) or whence not in (0, 1, 2):         # F_RDLCK F_WRLCK F_UNLCK
        raise Errno(errno.EINVAL)
    if (kind == 0 and file.flags & abi.O_ACCMODE == abi.O_WRONLY) or \
            (kind == 1 and file.flags & abi.O_ACCMODE == abi.O_RDONLY):
        raise Errno(errno.EBADF)
    result = fcntl.fcntl(file.hostfd, host_cmd, _HOST_FLOCK.pack(kind, whence, start, length, pid))
    if host_cmd in (fcntl.F_GETLK, abi.F_OFD_GETLK):
        kind, whence, start, length, pid = _HOST_FLOCK.unpack(result)
        proc.mem.write(arg, abi.FLOCK.pack(kind, whence, start, length, pid))
    return 0


def _set_status_flags(file: OpenFile, arg: int) -> int:
    file.flags = (file.flags & ~_STATUS_FLAGS) | (arg & _STATUS_FLAGS)
    if file.hostfd is not None:
        host = fcntl.fcntl(file.hostfd, fcntl.F_GETFL) & ~(os.O_APPEND | os.O_NONBLOCK)
        host |= (os.O_APPEND if arg & abi.O_APPEND else 0) | (os.O_NONBLOCK if arg & abi.O_NONBLOCK else 0)
        fcntl.fcntl(file.hostfd, fcntl.F_SETFL, host)
    return 0


@syscall("dup")
def sys_dup(proc, fd):
    return proc.fds.add(proc.fds.get(fd))


@syscall("dup3")
def sys_dup3(proc, oldfd, newfd, flags):
    if oldfd == newfd or flags & ~abi.O_CLOEXEC:
        raise Errno(errno.EINVAL)
    if not 0 <= newfd < proc.fds.limit:
        raise Errno(errno.EBADF)
    return proc.fds.install(proc.fds.get(oldfd), newfd, cloexec=bool(flags & abi.O_CLOEXEC))


@syscall("dup2")
def sys_dup2(proc, oldfd, newfd):
    proc.fds.get(oldfd)
    return newfd if oldfd == newfd else sys_dup3(proc, oldfd, newfd, 0)


@syscall("pipe2")
def sys_pipe2(proc, fds, flags):
    if flags & ~(abi.O_CLOEXEC | abi.O_NONBLOCK):
        raise Errno(errno.EINVAL)
    proc.mem.read(fds, 8)                 # EFAULT before creating anything
    read_end, write_end = os.pipe2(os.O_CLOEXEC | (os.O_NONBLOCK if flags & abi.O_NONBLOCK else 0))
    status = flags & abi.O_NONBLOCK
    cloexec = bool(flags & abi.O_CLOEXEC)
    guest_read = proc.fds.add(OpenFile(flags=status, hostfd=read_end), cloexec=cloexec)
    guest_write = proc.fds.add(OpenFile(flags=abi.O_WRONLY | status, hostfd=write_end), cloexec=cloexec)
    proc.mem.write(fds, abi.IOVEC.pack(guest_read, guest_write))
    return 0


@syscall("pipe")
def sys_pipe(proc, fds):
    return sys_pipe2(proc, fds, 0)


@syscall("ftruncate64")
def sys_ftruncate64(proc, fd, len_lo, len_hi=0):
    file = proc.fds.get(fd)
    if file.hostfd is None or file.flags & abi.O_ACCMODE == 0:
        raise Errno(errno.EINVAL)
    os.ftruncate(file.hostfd, i64(len_lo, len_hi))
    return 0


@syscall("fsync", "fdatasync")
def sys_fsync(proc, fd):
    file = proc.fds.get(fd)
    if file.hostfd is not None:
        os.fsync(file.hostfd)
    elif file.stream is not None:
        file.stream.flush()
    return 0


# ---- terminals -----------------------------------------------------------------------------------

@syscall("ioctl")
def sys_ioctl(proc, fd, request, arg=0):
    """Only TIOCGWINSZ (what musl's isatty and stdout buffering ask): a tty answers, others -ENOTTY."""
    file = proc.fds.get(fd)
    if u32(request) != abi.TIOCGWINSZ or not file.isatty():
        raise Errno(errno.ENOTTY)
    try:
        size = os.get_terminal_size(file.host_fileno())
    except (OSError, TypeError, ValueError):
        import shutil

        size = shutil.get_terminal_size()
    proc.mem.write(arg, abi.WINSIZE.pack(size.lines, size.columns, 0, 0))
    return 0


# ---- polling -------------------------------------------------------------------------------------

_POLLFD = struct.Struct("<ihh")
_POLLIN, _POLLOUT, _POLLNVAL = 0x1, 0x4, 0x20


@syscall("ppoll_time64")
def sys_ppoll(proc, fds, nfds, timeout, sigmask=0, sigsetsize=0):
    """poll(2) over host fds; a stream without a host fd is always ready; the sigmask is in force
    while it waits (signals.wait_mask)."""
    from .signals import wait_mask
    with wait_mask(proc, sigmask, sigsetsize):
        return _ppoll(proc, fds, nfds, timeout)


def _ppoll(proc, fds, nfds, timeout):
    if not 0 <= nfds <= 1024:
        raise Errno(errno.EINVAL)
    entries = [_POLLFD.unpack_from(proc.mem.read(fds, 8 * nfds), 8 * i) for i in range(nfds)]
    wait_ms = None if timeout == 0 else _timeout_ms(proc, timeout)
    revents, poller, watched = [0] * nfds, select.poll(), {}
    for index, (fd, events, _) in enumerate(entries):
        if fd < 0:
            continue
        file = proc.fds.files.get(fd)
        hostfd = file.host_fileno() if file is not None else None
        if file is None:
            revents[index] = _POLLNVAL
        elif hostfd is None:
            revents[index] = events & (_POLLIN | _POLLOUT)
        else:
            poller.register(hostfd, events & 0xFFFF)
            watched.setdefault(hostfd, []).append(index)
    if any(revents):
        wait_ms = 0
    for hostfd, mask in polling.wait(proc, poller, wait_ms) if watched else _sleep(proc, wait_ms):
        for index in watched[hostfd]:
            revents[index] = mask & (entries[index][1] | 0x38)       # + POLLERR POLLHUP POLLNVAL
    out = b"".join(_POLLFD.pack(fd, events, revents[i]) for i, (fd, events, _) in enumerate(entries))
    proc.mem.write(fds, out)
    return sum(1 for r in revents if r)


def _timeout_ms(proc, timeout: int) -> int:
    sec, nsec = abi.TIMESPEC.unpack(proc.mem.read(timeout, abi.TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise Errno(errno.EINVAL)
    return min(sec * 1000 + (nsec + 999_999) // 1_000_000, 2**31 - 1)


def _sleep(proc, wait_ms: int | None) -> list:
    """Nothing to watch: sleep for the timeout, -EINTR when a signal for the thread comes first. For
    ever (pause()) only with threads or signal handlers (another thread, a timer, another process can
    send one); else it would hang (refused)."""
    if wait_ms is None and proc.threads.spawner is None and not proc.threads.async_signals:
        raise Errno(errno.EINVAL)                   # nothing could ever end the wait
    deadline = None if wait_ms is None else time.monotonic_ns() + wait_ms * 1_000_000
    if proc.threads.sleep_until(deadline):
        raise Errno(errno.EINTR)
    return []


# ---- odds and ends -------------------------------------------------------------------------------

@syscall("fallocate")
def sys_fallocate(proc, fd, mode, off_lo, off_hi, len_lo, len_hi):
    if mode:
        raise Errno(errno.EOPNOTSUPP)
    os.posix_fallocate(seekable(proc.fds.get(fd)), i64(off_lo, off_hi), i64(len_lo, len_hi))
    return 0


@syscall("flock")
def sys_flock(proc, fd, operation):
    """BSD whole-file locks, the host's own (they lock against other processes and guests)."""
    file = proc.fds.get(fd)
    if file.hostfd is None:
        raise Errno(errno.EINVAL)
    if operation & ~(fcntl.LOCK_NB | fcntl.LOCK_SH | fcntl.LOCK_EX | fcntl.LOCK_UN):
        raise Errno(errno.EINVAL)
    fcntl.flock(file.hostfd, operation)
    return 0


@syscall("fadvise64_64", "sync", "syncfs")
def sys_advice(proc, *args):
    """Hints and whole-system syncs: accepted (fd checked when there is one)."""
    if args:
        proc.fds.get(args[0])
    return 0
