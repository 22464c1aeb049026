"""Clock and sleep syscalls (time64: struct timespec is {int64 tv_sec; long tv_nsec; padding})."""

from __future__ import annotations

import errno
import time

from . import abi
from ._registry import syscall
from .errors import Errno

_CLOCKS = {
    abi.CLOCK_REALTIME: time.CLOCK_REALTIME,
    abi.CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
    abi.CLOCK_PROCESS_CPUTIME_ID: time.CLOCK_PROCESS_CPUTIME_ID,
    abi.CLOCK_THREAD_CPUTIME_ID: time.CLOCK_THREAD_CPUTIME_ID,
    abi.CLOCK_MONOTONIC_RAW: getattr(time, "CLOCK_MONOTONIC_RAW", time.CLOCK_MONOTONIC),
    abi.CLOCK_REALTIME_COARSE: time.CLOCK_REALTIME,
    abi.CLOCK_MONOTONIC_COARSE: time.CLOCK_MONOTONIC,
    abi.CLOCK_BOOTTIME: getattr(time, "CLOCK_BOOTTIME", time.CLOCK_MONOTONIC),
}
_NS = 1_000_000_000


def _host_clock(clock: int) -> int:
    try:
        return _CLOCKS[clock]
    except KeyError:
        raise Errno(errno.EINVAL) from None


def write_timespec(proc, addr: int, ns: int) -> None:
    proc.mem.write(addr, abi.TIMESPEC.pack(*divmod(ns, _NS)))


def read_timespec(proc, addr: int) -> int:
    sec, nsec = abi.TIMESPEC.unpack(proc.mem.read(addr, abi.TIMESPEC.size))
    if sec < 0 or not 0 <= nsec < _NS:
        raise Errno(errno.EINVAL)
    return sec * _NS + nsec


@syscall("clock_gettime64")
def sys_clock_gettime(proc, clock, ts):
    write_timespec(proc, ts, time.clock_gettime_ns(_host_clock(clock)))
    return 0


@syscall("clock_getres_time64")
def sys_clock_getres(proc, clock, ts):
    resolution = time.clock_getres(_host_clock(clock))
    if ts:
        write_timespec(proc, ts, max(1, round(resolution * _NS)))
    return 0


@syscall("nanosleep")
def sys_nanosleep(proc, req, rem):
    return sys_clock_nanosleep(proc, abi.CLOCK_MONOTONIC, 0, req, rem)


@syscall("clock_nanosleep_time64")
def sys_clock_nanosleep(proc, clock, flags, req, rem):
    """Sleeps in the host until the time or a signal for this thread (-EINTR, the time left in *rem
    for a relative sleep), as on Linux."""
    host = _host_clock(clock)
    wanted = read_timespec(proc, req)
    if flags & abi.TIMER_ABSTIME:
        wanted -= time.clock_gettime_ns(host)
    deadline = time.monotonic_ns() + max(0, wanted)
    if not proc.threads.sleep_until(deadline):
        return 0
    if rem and not flags & abi.TIMER_ABSTIME:
        write_timespec(proc, rem, max(0, deadline - time.monotonic_ns()))
    raise Errno(errno.EINTR)
