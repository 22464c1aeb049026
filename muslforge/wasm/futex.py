"""Host futexes for guest threads on one shared memory: wait queues keyed by guest address.

A guest thread that waits blocks its host thread on its own `wakeup` event (no busy waiting, the GIL is
released while it sleeps). Lost wake-ups cannot happen: WAIT compares the guest word with the expected
value under the queue lock, and a waker's store to the word happens before its WAKE takes that lock.
A wait also ends early when the waiting thread is interrupted (a signal it does not block, a
cancellation, the whole program stopping): futex_time64 then returns -EINTR after the signal ran.

Private and shared futexes are the same here: every thread of the program shares one memory and no other
process can map it. Priority-inheritance operations are -ENOSYS (musl then reports ENOTSUP for
PTHREAD_PRIO_INHERIT mutexes).
"""

from __future__ import annotations

import errno
import threading
import time
from typing import Any

from .errors import Errno

FUTEX_WAIT, FUTEX_WAKE, FUTEX_REQUEUE, FUTEX_CMP_REQUEUE = 0, 1, 3, 4
FUTEX_WAIT_BITSET, FUTEX_WAKE_BITSET = 9, 10
FUTEX_PRIVATE_FLAG, FUTEX_CLOCK_REALTIME = 128, 256
FUTEX_BITSET_MATCH_ANY = 0xFFFFFFFF
# The robust-mutex word: the owner's tid in the low bits, and the flags the kernel (here: the host) sets.
FUTEX_WAITERS, FUTEX_OWNER_DIED, FUTEX_TID_MASK = 0x80000000, 0x40000000, 0x3FFFFFFF
_MAX_COUNT = 0x7FFFFFFF


class Waiter:
    """One thread waiting at one address (requeue moves it to another). (Plain classes here and in
    threads.py: importing dataclasses costs `muslforge run` start-up time.)"""

    __slots__ = ("addr", "bitset", "wakeup", "woken", "untimed", "interrupted")

    def __init__(self, addr: int, bitset: int, wakeup: threading.Event, woken: bool = False,
                 untimed: bool = False, interrupted: Any = None):
        self.addr, self.bitset, self.wakeup, self.woken = addr, bitset, wakeup, woken
        self.untimed = untimed
        self.interrupted = interrupted    # () -> bool: a signal (or the end) is on its way to this waiter


class Deadlock(Exception):
    """Every thread of the program would wait on a futex with no timeout."""

    def __init__(self, threads: int):
        super().__init__(threads)
        self.threads = threads


class FutexTable:
    """Every wait queue of one program. `mem` reads the guest word (4-aligned u32)."""

    def __init__(self):
        self.queues: dict[int, list[Waiter]] = {}
        self.lock = threading.Lock()
        self.untimed = 0              # queued waiters without a timeout

    def wait(self, mem: Any, addr: int, expected: int, deadline_ns: int | None, bitset: int,
             wakeup: threading.Event, interrupted, threads: int = 0) -> int:
        """Block until woken (0), the deadline passes (-ETIMEDOUT) or `interrupted()` (-EINTR).

        deadline_ns is on time.monotonic_ns(); None waits for ever. -EAGAIN when the word is not
        `expected` any more. Deadlock when this untimed wait would make all `threads` threads wait
        untimed: nothing could ever wake them.
        """
        _check_aligned(addr)
        if bitset == 0:
            raise Errno(errno.EINVAL)
        with self.lock:
            if mem.load_u32(addr) != expected & 0xFFFFFFFF:
                raise Errno(errno.EAGAIN)
            if deadline_ns is None and self.untimed + 1 >= threads and self._stuck() + 1 >= threads:
                raise Deadlock(threads)
            waiter = Waiter(addr, bitset, wakeup, untimed=deadline_ns is None, interrupted=interrupted)
            self.untimed += waiter.untimed
            self.queues.setdefault(addr, []).append(waiter)
            wakeup.clear()
        try:
            while not waiter.woken and not interrupted():
                if deadline_ns is None:
                    wakeup.wait()
                else:
                    left = deadline_ns - time.monotonic_ns()
                    if left <= 0:
                        break
                    wakeup.wait(left / 1e9)
                wakeup.clear()
        finally:
            with self.lock:
                woken = waiter.woken
                if not woken:
                    self._remove(waiter)
        if woken:
            return 0
        if interrupted():
            raise Errno(errno.EINTR)
        raise Errno(errno.ETIMEDOUT)

    def wake(self, addr: int, count: int, bitset: int = FUTEX_BITSET_MATCH_ANY) -> int:
        """Wake up to `count` waiters at addr whose bitset intersects `bitset`; how many woke."""
        _check_aligned(addr)
        if bitset == 0:
            raise Errno(errno.EINVAL)
        with self.lock:
            return self._wake_locked(addr, _count(count), bitset)

    def requeue(self, mem: Any, addr: int, wake: int, addr2: int, move: int,
                expected: int | None = None) -> int:
        """Wake `wake` waiters at addr and move up to `move` others to addr2 (CMP_: only while
        *addr == expected, else -EAGAIN). Returns the number woken plus the number moved."""
        _check_aligned(addr)
        _check_aligned(addr2)
        with self.lock:
            if expected is not None and mem.load_u32(addr) != expected & 0xFFFFFFFF:
                raise Errno(errno.EAGAIN)
            done = self._wake_locked(addr, _count(wake), FUTEX_BITSET_MATCH_ANY)
            queue = self.queues.get(addr, [])
            moving, stay = queue[:_count(move)], queue[_count(move):]
            for waiter in moving:
                waiter.addr = addr2
            self._set(addr, stay)
            if moving:
                self.queues.setdefault(addr2, []).extend(moving)
            return done + len(moving)

    def _stuck(self) -> int:
        """Waiters without a timeout that no signal is about to interrupt."""
        return sum(1 for queue in self.queues.values() for w in queue
                   if w.untimed and not (w.interrupted and w.interrupted()))

    def waiting(self, addr: int) -> int:
        """How many threads wait at addr (tests)."""
        with self.lock:
            return len(self.queues.get(addr, ()))

    def _wake_locked(self, addr: int, count: int, bitset: int) -> int:
        queue = self.queues.get(addr, [])
        woken = [w for w in queue if w.bitset & bitset][:count]
        for waiter in woken:
            waiter.woken = True
            self.untimed -= waiter.untimed
            waiter.wakeup.set()
        self._set(addr, [w for w in queue if not w.woken])
        return len(woken)

    def _remove(self, waiter: Waiter) -> None:
        queue = self.queues.get(waiter.addr, [])
        if waiter in queue:
            queue.remove(waiter)
            self.untimed -= waiter.untimed
            self._set(waiter.addr, queue)

    def _set(self, addr: int, queue: list[Waiter]) -> None:
        if queue:
            self.queues[addr] = queue
        else:
            self.queues.pop(addr, None)


def _count(value: int) -> int:
    """A count argument as the kernel reads it: an int, negative meaning 'all'."""
    value &= 0xFFFFFFFF
    return _MAX_COUNT if value >> 31 else value


def _check_aligned(addr: int) -> None:
    if addr & 3:
        raise Errno(errno.EINVAL)
