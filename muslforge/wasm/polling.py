"""Waiting on many descriptors: select (pselect6) and epoll, over files, pipes and sockets alike.

Every guest fd with a host fd is polled with the host's poll(2); a stream without one (a test's
BytesIO stdin) is always ready. `wait` is the one blocking poll: when the program has threads or signal
handlers it also watches the calling thread's wake-up pipe, so a signal ends the wait with EINTR
(ppoll in files.py uses it too).

epoll is kept by the host: an epoll fd holds an interest list (guest fd -> events, data) and an empty
host epoll fd (so fstat, close and dup behave), and epoll_pwait polls the listed fds. Readiness is
level-triggered; EPOLLET is accepted and reported as level-triggered (a program written for edge
triggering reads until EAGAIN, which stays correct); EPOLLONESHOT disarms an entry after it reports.
At most MAX_EPOLL_FDS entries per epoll fd.
"""

from __future__ import annotations

import errno
import os
import select
import struct
import time

from . import abi
from ._registry import syscall
from .errors import Errno
from .fdtable import OpenFile

MAX_EPOLL_FDS = 1024
_FD_SETSIZE = 1024
EPOLL_CTL_ADD, EPOLL_CTL_DEL, EPOLL_CTL_MOD = 1, 2, 3
EPOLLONESHOT, EPOLLET = 1 << 30, 1 << 31
_EPOLL_EVENT = struct.Struct("<I4xQ")      # events, (padding), data: 16 bytes on wasm32
_POLL_ALWAYS = 0x38                        # POLLERR POLLHUP POLLNVAL are reported unasked


def wait(proc, poller, wait_ms: int | None) -> list[tuple[int, int]]:
    """poller.poll(wait_ms), interruptible by a signal for the calling thread (EINTR) when the program
    has threads or signal handlers."""
    group = proc.threads
    if group.spawner is None and not group.async_signals:
        return poller.poll(wait_ms)
    thread = group.current
    wake = thread.wake_pipe()
    poller.register(wake, select.POLLIN)
    deadline = None if wait_ms is None else time.monotonic() + wait_ms / 1000
    while True:
        if group.interrupted(thread):
            group.check_stop()
            raise Errno(errno.EINTR)
        left = None if deadline is None else max(0, round((deadline - time.monotonic()) * 1000))
        ready = poller.poll(left)
        found = [(fd, mask) for fd, mask in ready if fd != wake]
        if len(found) < len(ready):
            try:
                os.read(wake, 64)
            except BlockingIOError:
                pass
        if found or (left == 0 and not group.interrupted(thread)):
            return found


def _host_fd(file: OpenFile | None) -> int | None:
    return None if file is None else file.host_fileno()


def poll_fds(proc, wanted: dict[int, int], wait_ms: int | None) -> dict[int, int]:
    """Guest fd -> revents for guest fds -> events; EBADF when one is not open."""
    poller, by_host, ready = select.poll(), {}, {}
    for fd, events in wanted.items():
        file = proc.fds.files.get(fd)
        if file is None:
            raise Errno(errno.EBADF)
        host = _host_fd(file)
        if host is None:
            ready[fd] = events & (select.POLLIN | select.POLLOUT)
        else:
            poller.register(host, events)
            by_host.setdefault(host, []).append(fd)
    if ready:
        wait_ms = 0
    if by_host:
        for host, mask in wait(proc, poller, wait_ms):
            for fd in by_host.get(host, ()):
                ready[fd] = mask & (wanted[fd] | _POLL_ALWAYS)
    elif wait_ms is None or wait_ms > 0:
        from .files import _sleep
        _sleep(proc, wait_ms)
    return {fd: mask for fd, mask in ready.items() if mask}


def _timeout_ms(proc, timeout: int) -> int | None:
    if not timeout:
        return None
    sec, nsec = abi.TIMESPEC.unpack(proc.mem.read(timeout, abi.TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < 1_000_000_000:
        raise Errno(errno.EINVAL)
    return min(sec * 1000 + (nsec + 999_999) // 1_000_000, 2**31 - 1)


# ---- select --------------------------------------------------------------------------------------

def _read_set(proc, ptr: int, nfds: int) -> set[int]:
    if not ptr:
        return set()
    bits = int.from_bytes(proc.mem.read(ptr, (nfds + 31) // 32 * 4), "little")
    return {fd for fd in range(nfds) if bits >> fd & 1}


def _write_set(proc, ptr: int, nfds: int, fds: set[int]) -> None:
    if ptr:
        bits = sum(1 << fd for fd in fds)
        proc.mem.write(ptr, bits.to_bytes((nfds + 31) // 32 * 4, "little"))


_SIGMASK_ARG = struct.Struct("<II")          # pselect6's 6th argument: {const sigset_t *ss; size_t ss_len}


@syscall("pselect6_time64")
def sys_pselect6(proc, nfds, readfds, writefds, exceptfds, timeout, sigmask_arg):
    """select(2): the fd sets are bit arrays of 32-bit words; the signal mask is in force while it
    waits (signals.wait_mask)."""
    from .signals import wait_mask
    mask, size = _SIGMASK_ARG.unpack(proc.mem.read(sigmask_arg, 8)) if sigmask_arg else (0, 0)
    with wait_mask(proc, mask, size):
        return _select(proc, nfds, readfds, writefds, exceptfds, timeout)


def _select(proc, nfds, readfds, writefds, exceptfds, timeout):
    if not 0 <= nfds <= _FD_SETSIZE:
        raise Errno(errno.EINVAL)
    sets = [_read_set(proc, ptr, nfds) for ptr in (readfds, writefds, exceptfds)]
    wanted: dict[int, int] = {}
    for fd in sets[0]:
        wanted[fd] = wanted.get(fd, 0) | select.POLLIN
    for fd in sets[1]:
        wanted[fd] = wanted.get(fd, 0) | select.POLLOUT
    for fd in sets[2]:
        wanted[fd] = wanted.get(fd, 0) | select.POLLPRI
    ready = poll_fds(proc, wanted, _timeout_ms(proc, timeout))
    hits = [{fd for fd in sets[0] if ready.get(fd, 0) & (select.POLLIN | select.POLLHUP | select.POLLERR)},
            {fd for fd in sets[1] if ready.get(fd, 0) & (select.POLLOUT | select.POLLERR)},
            {fd for fd in sets[2] if ready.get(fd, 0) & select.POLLPRI}]
    for ptr, found in zip((readfds, writefds, exceptfds), hits):
        _write_set(proc, ptr, nfds, found)
    return sum(len(found) for found in hits)


# ---- epoll ---------------------------------------------------------------------------------------

class EpollFile(OpenFile):
    """An epoll instance: its interest list, and an empty host epoll fd standing for it."""

    def __init__(self, hostfd: int):
        super().__init__(flags=abi.O_RDWR, hostfd=hostfd)
        self.interest: dict[int, tuple[int, int]] = {}     # guest fd -> (events, data)


def _epoll(proc, epfd: int) -> EpollFile:
    file = proc.fds.get(epfd)
    if not isinstance(file, EpollFile):
        raise Errno(errno.EINVAL)
    return file


@syscall("epoll_create1")
def sys_epoll_create1(proc, flags):
    if flags & ~abi.O_CLOEXEC:
        raise Errno(errno.EINVAL)
    host = select.epoll()
    try:
        hostfd = os.dup(host.fileno())
    finally:
        host.close()
    os.set_inheritable(hostfd, False)
    try:
        return proc.fds.add(EpollFile(hostfd), cloexec=bool(flags & abi.O_CLOEXEC))
    except BaseException:
        os.close(hostfd)
        raise


@syscall("epoll_ctl")
def sys_epoll_ctl(proc, epfd, op, fd, event):
    ep = _epoll(proc, epfd)
    target = proc.fds.get(fd)
    if target is ep or isinstance(target, EpollFile) or (target.hostfd is not None and
                                                         _is_regular(target.hostfd)):
        raise Errno(errno.EPERM if not isinstance(target, EpollFile) else errno.EINVAL)
    if op == EPOLL_CTL_DEL:
        if ep.interest.pop(fd, None) is None:
            raise Errno(errno.ENOENT)
        return 0
    events, data = _EPOLL_EVENT.unpack(proc.mem.read(event, _EPOLL_EVENT.size))
    if op == EPOLL_CTL_ADD:
        if fd in ep.interest:
            raise Errno(errno.EEXIST)
        if len(ep.interest) >= MAX_EPOLL_FDS:
            raise Errno(errno.ENOSPC)
    elif op == EPOLL_CTL_MOD:
        if fd not in ep.interest:
            raise Errno(errno.ENOENT)
    else:
        raise Errno(errno.EINVAL)
    ep.interest[fd] = (events, data)
    return 0


def _is_regular(hostfd: int) -> bool:
    import stat
    return stat.S_ISREG(os.fstat(hostfd).st_mode)


@syscall("epoll_pwait")
def sys_epoll_pwait(proc, epfd, events, maxevents, timeout, sigmask=0, sigsetsize=0):
    """Ready entries of the interest list, level-triggered (module doc); the sigmask is in force while
    it waits (signals.wait_mask)."""
    from .signals import wait_mask
    with wait_mask(proc, sigmask, sigsetsize):
        return _epoll_wait(proc, epfd, events, maxevents, None if timeout < 0 else timeout)


@syscall("epoll_pwait2")
def sys_epoll_pwait2(proc, epfd, events, maxevents, timeout, sigmask=0, sigsetsize=0):
    from .signals import wait_mask
    with wait_mask(proc, sigmask, sigsetsize):
        return _epoll_wait(proc, epfd, events, maxevents, _timeout_ms(proc, timeout))


def _epoll_wait(proc, epfd: int, events: int, maxevents: int, wait_ms: int | None) -> int:
    ep = _epoll(proc, epfd)
    if not 0 < maxevents <= MAX_EPOLL_FDS:
        raise Errno(errno.EINVAL)
    proc.mem.view(events, _EPOLL_EVENT.size * maxevents)
    for fd in [fd for fd in ep.interest if fd not in proc.fds.files]:
        del ep.interest[fd]                     # closed: gone from the set, as on Linux
    wanted = {fd: ev & 0xFFFF for fd, (ev, _) in ep.interest.items() if ev & 0xFFFF}
    if not wanted:
        if wait_ms != 0:
            from .files import _sleep
            _sleep(proc, wait_ms)
        return 0
    ready = poll_fds(proc, wanted, wait_ms)
    out = []
    for fd, mask in ready.items():
        if len(out) == maxevents:
            break
        ev, data = ep.interest[fd]
        out.append(_EPOLL_EVENT.pack(mask & 0xFFFFFFFF, data))
        if ev & EPOLLONESHOT:
            ep.interest[fd] = (ev & (EPOLLONESHOT | EPOLLET), data)
    proc.mem.write(events, b"".join(out))
    return len(out)

