"""Guest threads: each one a new instance of the module on the program's shared memory, on a host thread.

A module that imports a shared `env.memory` and exports `__wasm_thread_start` (the wasm32-threads arch,
docs/wasm32-abi.md section 6) can create threads. `clone` with musl's thread flags instantiates the module
again on the same memory in a new wasmtime Store and calls `__wasm_thread_start(tid, stack, tls)` on a new
host thread. Guest code runs without the GIL (wasmtime is entered through ctypes), so threads run in
parallel; host functions take the GIL as Python code does.

Per thread: the tid, the signal mask and pending signals, the clear-child-tid address (zeroed and
futex-woken when the thread ends: pthread_join waits on it), the robust list (mutexes it still holds are
marked FUTEX_OWNER_DIED when it ends) and a wake-up event that futex waits, sleeps and polls block on, so
a signal, a cancellation or the end of the program interrupts them.

`exit` ends one thread; `exit_group` (and a fatal signal, a trap, a deadlock, a stop from the host) ends
them all: every thread is woken, and wasmtime's epoch interruption stops those running guest code.
"""

from __future__ import annotations

import errno
import os
import select
import threading
import time
from typing import Any

from ._registry import syscall
from .errors import Errno, ProcessExit
from .futex import (FUTEX_BITSET_MATCH_ANY, FUTEX_CLOCK_REALTIME, FUTEX_CMP_REQUEUE, FUTEX_OWNER_DIED, FUTEX_PRIVATE_FLAG, FUTEX_REQUEUE, FUTEX_TID_MASK, FUTEX_WAIT, FUTEX_WAIT_BITSET, FUTEX_WAITERS, FUTEX_WAKE, FUTEX_WAKE_BITSET, Deadlock, FutexTable)
from .guest import u32

MAIN_TID = 1
DEFAULT_MAX_THREADS = 64
THREAD_START = "__wasm_thread_start"
# musl's pthread_create: CLONE_VM|CLONE_FS|CLONE_FILES|CLONE_SIGHAND|CLONE_THREAD|CLONE_SYSVSEM|CLONE_SETTLS|
# CLONE_PARENT_SETTID|CLONE_CHILD_CLEARTID|CLONE_DETACHED. A thread needs the first five; anything that
# would make a new process (no CLONE_VM) is -ENOSYS: there is one memory.
CLONE_VM, CLONE_FS, CLONE_FILES, CLONE_SIGHAND, CLONE_VFORK = 0x100, 0x200, 0x400, 0x800, 0x4000
CLONE_THREAD, CLONE_SETTLS, CLONE_PARENT_SETTID, CLONE_CHILD_CLEARTID = 0x10000, 0x80000, 0x100000, 0x200000
_THREAD_FLAGS = CLONE_VM | CLONE_FS | CLONE_FILES | CLONE_SIGHAND | CLONE_THREAD
_ROBUST_LIST_LIMIT = 2048           # as the kernel's ROBUST_LIST_LIMIT: a hostile list can't loop the host
_JOIN_GRACE = 2.0                   # seconds the host waits for stopped threads to leave guest code


class ThreadExit(BaseException):
    """Raised from `exit` to end the calling guest thread (not the program)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


class GroupStopped(BaseException):
    """Raised in a guest thread that was blocked or running when the program ended elsewhere."""


class GuestThread:
    """The host's view of one guest thread."""

    def __init__(self, tid: int, sigmask: int = 0, pending: int = 0, table: Any = None):
        self.tid, self.sigmask, self.pending = tid, sigmask, pending
        self.table = table                 # this instance's __indirect_function_table
        self.clear_tid = 0                 # CLONE_CHILD_CLEARTID / set_tid_address
        self.robust_list = 0               # set_robust_list head
        self.wakeup = threading.Event()
        self.host: threading.Thread | None = None
        self.scratch = 0                   # guest memory for siginfo/ucontext (Process.signal_scratch)
        self.wake_fds: tuple[int, int] | None = None   # a pipe that interrupts a poll on host fds
        self.altstack = (0, 2, 0)          # sigaltstack: ss_sp, ss_flags (SS_DISABLE), ss_size
        self.handler_depth = 0             # SA_ONSTACK handlers running on this thread (SS_ONSTACK)
        self.epoch_callback: Any = None    # signals.install: its store's epoch deadline callback
        self.async_error: BaseException | None = None   # why a handler run at a safe point failed
        self.siginfo: dict[int, bytes] = {}    # sigqueue's siginfo of a pending signal (si_value)

    def interrupt(self) -> None:
        """End whatever wait this thread is blocked in (it then looks at why)."""
        self.wakeup.set()
        if self.wake_fds is not None:
            try:
                os.write(self.wake_fds[1], b"!")
            except OSError:           # full (already woken) or closed (the thread ended)
                pass

    def wake_pipe(self) -> int:
        if self.wake_fds is None:
            self.wake_fds = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
        return self.wake_fds[0]

    def close(self) -> None:
        fds, self.wake_fds = self.wake_fds, None
        for fd in fds or ():
            os.close(fd)


class ThreadGroup:
    """Every thread of one program, the futex table, the limit, and how the program ends."""

    def __init__(self, *, max_threads: int = DEFAULT_MAX_THREADS):
        self.max_threads = max_threads
        self.futexes = FutexTable()
        self.lock = threading.Lock()
        self.main = GuestThread(MAIN_TID)
        self.live: dict[int, GuestThread] = {MAIN_TID: self.main}
        self._next_tid = MAIN_TID + 1
        self._local = threading.local()
        self.status: int | None = None          # set once by the first thread that ends the program
        self.stopping = threading.Event()
        self.spawner: Any = None                # set by host.py for threaded modules: starts instances
        self.async_signals = False              # a handler is installed: blocking reads are interruptible

    # -- the calling thread ------------------------------------------------------------------------

    @property
    def current(self) -> GuestThread:
        return getattr(self._local, "thread", self.main)

    def bind(self, thread: GuestThread) -> None:
        self._local.thread = thread

    def interrupted(self, thread: GuestThread) -> bool:
        """True when a wait of `thread` must end: a signal it does not block, or the program ending."""
        return bool(thread.pending & ~thread.sigmask) or self.stopping.is_set()

    def sleep_until(self, deadline_ns: int | None) -> bool:
        """Block the calling thread until time.monotonic_ns() reaches deadline_ns (None: for ever);
        True when a signal interrupted it first (GroupStopped when the program ended meanwhile)."""
        thread = self.current
        thread.wakeup.clear()
        while not self.interrupted(thread):
            left = None if deadline_ns is None else deadline_ns - time.monotonic_ns()
            if left is not None and left <= 0:
                return False
            thread.wakeup.wait(None if left is None else left / 1e9)
            thread.wakeup.clear()
        self.check_stop()
        return True

    def wait_fd(self, fd: int, events: int = select.POLLIN) -> None:
        """In a program with threads or signal handlers, block until the host fd is ready for `events`, or raise -EINTR
        when a signal for the calling thread comes first (a read then can be cancelled)."""
        if self.spawner is None and not self.async_signals:
            return
        thread = self.current
        poller = select.poll()
        poller.register(fd, events)
        wake = thread.wake_pipe()
        poller.register(wake, select.POLLIN)
        while not self.interrupted(thread):
            ready = poller.poll()
            if any(ready_fd == fd for ready_fd, _ in ready):
                return
            try:
                os.read(wake, 64)
            except BlockingIOError:
                pass
        self.check_stop()
        raise Errno(errno.EINTR)

    def check_stop(self) -> None:
        if self.stopping.is_set():
            raise GroupStopped()

    # -- creating and ending threads ---------------------------------------------------------------

    def add(self) -> GuestThread:
        """A new thread record with a fresh tid, or -EAGAIN at the --max-threads limit."""
        with self.lock:
            if len(self.live) >= self.max_threads or self.stopping.is_set():
                raise Errno(errno.EAGAIN)
            tid = self._next_tid
            self._next_tid = tid + 1 if tid < FUTEX_TID_MASK else MAIN_TID + 1
            thread = GuestThread(tid, sigmask=self.current.sigmask)
            self.live[tid] = thread
            return thread

    def find(self, tid: int) -> GuestThread | None:
        with self.lock:
            return self.live.get(tid)

    def finish(self, thread: GuestThread, mem: Any) -> None:
        """What the kernel does when a thread ends: robust mutexes, then clear and wake clear_tid."""
        if mem is not None and not self.stopping.is_set():
            try:
                release_robust_list(self, mem, thread)
                if thread.clear_tid:
                    mem.write(thread.clear_tid, b"\0\0\0\0")
                    self.futexes.wake(thread.clear_tid, 1)
            except Errno:
                pass
        with self.lock:
            self.live.pop(thread.tid, None)
            last = not self.live
        thread.close()
        if last:
            self.end(self.status if self.status is not None else 0)

    def end(self, status: int) -> None:
        """The program ends with `status` (the first caller wins): wake and stop every thread."""
        with self.lock:
            if self.status is None:
                self.status = status & 0xFF
            threads = list(self.live.values())
        self.stopping.set()
        for thread in threads:
            thread.interrupt()
        if self.spawner is not None:
            self.spawner.interrupt()

    def wait_all(self, timeout: float | None = None) -> int:
        """Block until the program has ended; its exit status."""
        self.stopping.wait(timeout)
        return self.status if self.status is not None else 0

    def join(self) -> None:
        """Give stopped threads a moment to leave guest code (they are daemons: none outlives us)."""
        deadline = time.monotonic() + _JOIN_GRACE
        with self.lock:
            hosts = [t.host for t in self.live.values() if t.host is not None]
        for host in hosts:
            host.join(max(0.0, deadline - time.monotonic()))


def release_robust_list(group: ThreadGroup, mem: Any, thread: GuestThread) -> None:
    """Mark every robust mutex the ended thread still owns FUTEX_OWNER_DIED and wake one waiter.

    The list head is {next, futex_offset, list_op_pending}; entries are a circular list of `next`
    pointers back to the head, each mutex's futex word at entry + offset.
    """
    head = thread.robust_list
    if not head:
        return
    entry, offset, pending = (mem.load_u32(head + 4 * i) for i in range(3))
    offset = offset - (1 << 32) if offset >> 31 else offset
    seen = 0
    while entry != head and entry and seen < _ROBUST_LIST_LIMIT:
        _owner_died(group, mem, (entry + offset) & 0xFFFFFFFF, thread.tid)
        entry = mem.load_u32(entry)
        seen += 1
    if pending and pending != head:
        _owner_died(group, mem, (pending + offset) & 0xFFFFFFFF, thread.tid)


def _owner_died(group: ThreadGroup, mem: Any, word: int, tid: int) -> None:
    with group.futexes.lock:
        value = mem.load_u32(word)
        if value & FUTEX_TID_MASK != tid:
            return
        mem.write(word, ((value & FUTEX_WAITERS) | FUTEX_OWNER_DIED).to_bytes(4, "little"))
    group.futexes.wake(word, 1)


# ---- syscalls ------------------------------------------------------------------------------------

@syscall("clone")
def sys_clone(proc, flags, stack, ptid, tls, ctid):
    """A new thread running __wasm_thread_start(tid, stack, tls) in a new instance (see the module doc)."""
    group = proc.threads
    if u32(flags) & (CLONE_VM | CLONE_VFORK | CLONE_THREAD) == CLONE_VM | CLONE_VFORK:
        from .children import vfork            # posix_spawn's child function (children.py)
        return vfork(proc, flags, stack)
    if group.spawner is None or u32(flags) & _THREAD_FLAGS != _THREAD_FLAGS:
        raise Errno(errno.ENOSYS)
    if not stack:
        raise Errno(errno.EINVAL)
    thread = group.add()
    if flags & CLONE_CHILD_CLEARTID:
        thread.clear_tid = u32(ctid)
    try:
        if flags & CLONE_PARENT_SETTID:
            proc.mem.write(ptid, thread.tid.to_bytes(4, "little"))
        group.spawner.start(thread, u32(stack), u32(tls) if flags & CLONE_SETTLS else 0)
    except BaseException:
        with group.lock:
            group.live.pop(thread.tid, None)
        raise
    return thread.tid


@syscall("exit")
def sys_exit(proc, status):
    """Ends the calling thread; the program ends when its last thread does."""
    from .children import end_bare, in_bare_vfork
    if in_bare_vfork(proc):                    # _exit in vfork()'s child: that child ends (children.py)
        return end_bare(proc, status)
    if proc.threads.spawner is None:
        raise ProcessExit(status & 0xFF)
    raise ThreadExit(status & 0xFF)


@syscall("exit_group")
def sys_exit_group(proc, status):
    """Ends the program, also from vfork()'s child (exit() there: it runs on the parent's stack, which
    only _exit or an exec leave resumable; children.py)."""
    from .children import in_bare_vfork
    if in_bare_vfork(proc):
        proc.log("muslforge.wasm: a vfork() child ended with exit(): only _exit or an exec can end it "
                 "and resume its parent (docs/wasm32-abi.md, section 9); the program stops")
        raise ProcessExit(134)
    raise ProcessExit(status & 0xFF)


@syscall("gettid")
def sys_gettid(proc):
    return proc.threads.current.tid


@syscall("set_tid_address")
def sys_set_tid_address(proc, tidptr):
    thread = proc.threads.current
    thread.clear_tid = u32(tidptr)
    return thread.tid


@syscall("set_robust_list")
def sys_set_robust_list(proc, head, length):
    if length != 12:
        raise Errno(errno.EINVAL)
    proc.threads.current.robust_list = u32(head)
    return 0


@syscall("get_robust_list")
def sys_get_robust_list(proc, tid, head_ptr, len_ptr):
    thread = proc.threads.current if tid == 0 else proc.threads.find(tid)
    if thread is None:
        raise Errno(errno.ESRCH)
    proc.mem.write(head_ptr, thread.robust_list.to_bytes(4, "little"))
    proc.mem.write(len_ptr, (12).to_bytes(4, "little"))
    return 0


@syscall("sched_yield")
def sys_sched_yield(proc):
    os.sched_yield()
    return 0


@syscall("sched_getaffinity")
def sys_sched_getaffinity(proc, pid, size, mask):
    """The host's CPUs (what this process may run on), as a bit mask of whole 32-bit words."""
    if pid not in (0, MAIN_TID) and proc.threads.find(pid) is None:
        raise Errno(errno.ESRCH)
    cpus = os.sched_getaffinity(0)
    words = max(cpus) // 32 + 1
    if u32(size) < 4 * words or size & 3:
        raise Errno(errno.EINVAL)
    bits = sum(1 << cpu for cpu in cpus)
    proc.mem.write(mask, bits.to_bytes(4 * words, "little"))
    return 4 * words


@syscall("futex_time64")
def sys_futex(proc, uaddr, op, val, timeout, uaddr2, val3):
    command = op & ~(FUTEX_PRIVATE_FLAG | FUTEX_CLOCK_REALTIME)     # private or not: the same futexes
    group = proc.threads
    if command in (FUTEX_WAKE, FUTEX_WAKE_BITSET):
        bitset = u32(val3) if command == FUTEX_WAKE_BITSET else FUTEX_BITSET_MATCH_ANY
        return group.futexes.wake(u32(uaddr), val, bitset)
    if command in (FUTEX_REQUEUE, FUTEX_CMP_REQUEUE):
        expected = u32(val3) if command == FUTEX_CMP_REQUEUE else None
        return group.futexes.requeue(proc.mem, u32(uaddr), val, u32(uaddr2), timeout, expected)
    if command not in (FUTEX_WAIT, FUTEX_WAIT_BITSET):
        raise Errno(errno.ENOSYS)
    deadline = _deadline(proc, command, op, timeout)
    bitset = u32(val3) if command == FUTEX_WAIT_BITSET else FUTEX_BITSET_MATCH_ANY
    return _wait(proc, u32(uaddr), val, deadline, bitset)


def _deadline(proc, command: int, op: int, timeout: int) -> int | None:
    """The wait's end on time.monotonic_ns(): WAIT's timeout is relative, WAIT_BITSET's absolute."""
    if not timeout:
        return None
    from .clock import read_timespec
    wanted = read_timespec(proc, timeout)
    now = time.monotonic_ns()
    if command == FUTEX_WAIT_BITSET:
        clock = time.CLOCK_REALTIME if op & FUTEX_CLOCK_REALTIME else time.CLOCK_MONOTONIC
        return now + wanted - time.clock_gettime_ns(clock)
    return now + wanted


def _wait(proc, addr: int, val: int, deadline: int | None, bitset: int) -> int:
    group, thread = proc.threads, proc.threads.current
    try:
        return group.futexes.wait(proc.mem, addr, val, deadline, bitset, thread.wakeup,
                                  lambda: group.interrupted(thread), threads=len(group.live))
    except Deadlock as stuck:
        what = ("futex wait with no other thread to wake it" if stuck.threads == 1 else
                f"all {stuck.threads} threads wait on futexes with no timeout")
        proc.log(f"muslforge.wasm: {what}: deadlock")
        raise ProcessExit(134) from None
    finally:
        group.check_stop()
