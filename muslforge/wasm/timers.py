"""Interval timers and POSIX timers: alarm/setitimer(ITIMER_REAL), timer_create/settime/gettime/delete.

One host thread per process (started when the guest arms its first timer) sleeps until the earliest
expiry and posts the timer's signal (signals.post: delivered even into a compute loop). Periodic timers
re-arm themselves; expiries that pass while the signal is still pending count as overruns
(timer_getoverrun). A process has at most MAX_TIMERS POSIX timers (then EAGAIN, as Linux answers past
RLIMIT_SIGPENDING). ITIMER_REAL counts on the monotonic clock; ITIMER_VIRTUAL and ITIMER_PROF (CPU time)
are EINVAL: the host cannot count a guest's CPU time to the microsecond. Timer clocks: REALTIME and
MONOTONIC (and BOOTTIME), absolute settings with TIMER_ABSTIME.
"""

from __future__ import annotations

import errno
import struct
import threading
import time

from . import abi
from ._registry import syscall
from .errors import Errno
from .process import _bit
from .signals import post, post_process

MAX_TIMERS = 32
ITIMER_REAL = 0
SIGALRM = 14
SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID = 0, 1, 4
_NS = 1_000_000_000
_ITIMERVAL = struct.Struct("<iiii")          # it_interval {sec, usec}, it_value {sec, usec}: 32-bit longs
_ITIMERSPEC = struct.Struct("<qqqq")         # it_interval {sec, nsec}, it_value {sec, nsec}: time64
_KSIGEVENT = struct.Struct("<iiii")          # sigev_value, sigev_signo, sigev_notify, sigev_tid
_CLOCKS = {abi.CLOCK_REALTIME: time.CLOCK_REALTIME, abi.CLOCK_MONOTONIC: time.CLOCK_MONOTONIC,
           abi.CLOCK_BOOTTIME: time.CLOCK_MONOTONIC}


class Timer:
    """One timer: its signal, how it notifies, when it fires next and how often."""

    def __init__(self, signo: int, notify: int):
        self.signo, self.notify = signo, notify
        self.thread: object = None          # SIGEV_THREAD_ID's thread, else None: the process
        self.due: int | None = None         # time.monotonic_ns() of the next expiry; None: disarmed
        self.interval = 0
        self.overrun = 0
        self.clock = time.CLOCK_MONOTONIC   # what TIMER_ABSTIME values count on


class Timers:
    """Every timer of one process and the host thread that fires them."""

    def __init__(self, proc):
        self.proc = proc
        self.cond = threading.Condition()
        self.posix: dict[int, Timer] = {}
        self.real = Timer(SIGALRM, SIGEV_SIGNAL)
        self._next_id = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="muslforge-timers", daemon=True)
        self._thread.start()

    def create(self, timer: Timer) -> int:
        with self.cond:
            if len(self.posix) >= MAX_TIMERS:
                raise Errno(errno.EAGAIN)
            while self._next_id in self.posix:
                self._next_id = (self._next_id + 1) % 0x7FFFFFFF
            timer_id, self._next_id = self._next_id, self._next_id + 1
            self.posix[timer_id] = timer
            return timer_id

    def get(self, timer_id: int) -> Timer:
        timer = self.posix.get(timer_id)
        if timer is None:
            raise Errno(errno.EINVAL)
        return timer

    def arm(self, timer: Timer, due: int | None, interval: int) -> tuple[int, int]:
        """Set a timer (due None or 0 value disarms it); the old (value left, interval) in ns."""
        with self.cond:
            old = self.left(timer)
            timer.due, timer.interval, timer.overrun = due, interval, 0
            self.cond.notify()
            return old

    @staticmethod
    def left(timer: Timer) -> tuple[int, int]:
        if timer.due is None:
            return 0, timer.interval
        return max(1, timer.due - time.monotonic_ns()), timer.interval

    def delete(self, timer_id: int) -> None:
        with self.cond:
            if self.posix.pop(timer_id, None) is None:
                raise Errno(errno.EINVAL)
            self.cond.notify()

    def close(self) -> None:
        with self.cond:
            self._closed = True
            self.cond.notify()

    def _run(self) -> None:
        with self.cond:
            while not self._closed:
                now = time.monotonic_ns()
                armed = [t for t in (self.real, *self.posix.values()) if t.due is not None]
                for timer in armed:
                    if timer.due <= now:
                        self._fire(timer, now)
                upcoming = [t.due for t in armed if t.due is not None]
                self.cond.wait(None if not upcoming else max(0, min(upcoming) - now) / _NS)

    def _fire(self, timer: Timer, now: int) -> None:
        if timer.interval:
            missed = (now - timer.due) // timer.interval
            timer.overrun += missed
            timer.due += (missed + 1) * timer.interval
        else:
            timer.due = None
        if timer.notify == SIGEV_NONE:
            return
        thread = timer.thread
        if thread is not None:
            if thread.pending & _bit(timer.signo):
                timer.overrun += 1
            post(self.proc, thread, timer.signo)
        else:
            post_process(self.proc, timer.signo)


def _timers(proc) -> Timers:
    if proc.timers is None:
        proc.timers = Timers(proc)
    return proc.timers


def _us(sec: int, usec: int) -> int:
    if sec < 0 or not 0 <= usec < 1_000_000:
        raise Errno(errno.EINVAL)
    return sec * _NS + usec * 1000


def _ns(sec: int, nsec: int) -> int:
    if sec < 0 or not 0 <= nsec < _NS:
        raise Errno(errno.EINVAL)
    return sec * _NS + nsec


def _itimerval(left: int, interval: int) -> bytes:
    def split(ns: int) -> tuple[int, int]:
        sec, rest = divmod(ns, _NS)
        return min(sec, 0x7FFFFFFF), (rest + 999) // 1000 if sec < 0x7FFFFFFF else 0
    return _ITIMERVAL.pack(*split(interval), *split(left))


@syscall("setitimer")
def sys_setitimer(proc, which, new, old):
    if which != ITIMER_REAL:
        raise Errno(errno.EINVAL)
    isec, iusec, vsec, vusec = _ITIMERVAL.unpack(proc.mem.read(new, _ITIMERVAL.size))
    interval, value = _us(isec, iusec), _us(vsec, vusec)
    if old:
        proc.mem.view(old, _ITIMERVAL.size)
    timers = _timers(proc)
    left, old_interval = timers.arm(timers.real, time.monotonic_ns() + value if value else None, interval)
    if old:
        proc.mem.write(old, _itimerval(left, old_interval))
    return 0


@syscall("getitimer")
def sys_getitimer(proc, which, value):
    if which != ITIMER_REAL:
        raise Errno(errno.EINVAL)
    left, interval = (0, 0) if proc.timers is None else Timers.left(proc.timers.real)
    proc.mem.write(value, _itimerval(left, interval))
    return 0


@syscall("timer_create")
def sys_timer_create(proc, clock, sevp, timer_id_ptr):
    if clock not in _CLOCKS:
        raise Errno(errno.EINVAL)
    timer = Timer(SIGALRM, SIGEV_SIGNAL)
    if sevp:
        _, signo, notify, tid = _KSIGEVENT.unpack(proc.mem.read(sevp, _KSIGEVENT.size))
        if notify not in (SIGEV_SIGNAL, SIGEV_NONE, SIGEV_THREAD_ID):
            raise Errno(errno.EINVAL)
        if notify != SIGEV_NONE and not 1 <= signo < abi.NSIG:
            raise Errno(errno.EINVAL)
        timer = Timer(signo, notify)
        if notify == SIGEV_THREAD_ID:
            timer.thread = proc.threads.find(tid)
            if timer.thread is None:
                raise Errno(errno.EINVAL)
    proc.mem.view(timer_id_ptr, 4)
    timer.clock = _CLOCKS[clock]
    timer_id = _timers(proc).create(timer)
    proc.mem.write(timer_id_ptr, timer_id.to_bytes(4, "little"))
    return 0


@syscall("timer_settime64")
def sys_timer_settime(proc, timer_id, flags, new, old):
    timers = _timers(proc)
    timer = timers.get(timer_id)
    isec, insec, vsec, vnsec = _ITIMERSPEC.unpack(proc.mem.read(new, _ITIMERSPEC.size))
    interval, value = _ns(isec, insec & 0xFFFFFFFF), _ns(vsec, vnsec & 0xFFFFFFFF)
    if old:
        proc.mem.view(old, _ITIMERSPEC.size)
    due = None
    if value:
        now = time.monotonic_ns()
        if flags & abi.TIMER_ABSTIME:
            value -= time.clock_gettime_ns(timer.clock)
        due = now + max(0, value)
    left, old_interval = timers.arm(timer, due, interval)
    if old:
        proc.mem.write(old, _ITIMERSPEC.pack(*divmod(old_interval, _NS), *divmod(left, _NS)))
    return 0


@syscall("timer_gettime64")
def sys_timer_gettime(proc, timer_id, value):
    left, interval = Timers.left(_timers(proc).get(timer_id))
    proc.mem.write(value, _ITIMERSPEC.pack(*divmod(interval, _NS), *divmod(left, _NS)))
    return 0


@syscall("timer_getoverrun")
def sys_timer_getoverrun(proc, timer_id):
    return min(_timers(proc).get(timer_id).overrun, 0x7FFFFFFF)


@syscall("timer_delete")
def sys_timer_delete(proc, timer_id):
    _timers(proc).delete(timer_id)
    return 0
