"""Asynchronous signals: a signal that arrives while a guest thread runs wasm code with no syscall.

Signals from timers (timers.py), SIGINT/SIGTERM sent to the embedder when the guest handles them, and
sigqueue reach a guest thread through `post`: the signal is made pending on the thread, its blocking wait
(if any) is interrupted, and the engine's epoch is incremented. That epoch increment is the one
mechanism limits.py already uses to stop a guest: every Store gets an epoch deadline callback
(`install`) that wasmtime calls at the guest's next loop back-edge or function entry. The callback
stops the guest when the program is ending (the trap limits.py and threads.py rely on), and otherwise
delivers the thread's pending signals right there, a safe point between two wasm instructions, then
lets the guest continue. So a handler runs even in `for (;;);`.

Also here: sigaltstack (bookkeeping as on Linux; a wasm handler's frames live on the engine's stack, so
the alternate stack is recorded, reported and guarded but not switched to), rt_sigsuspend,
rt_sigtimedwait, rt_sigqueueinfo and rt_tgsigqueueinfo.
"""

from __future__ import annotations

import contextlib
import ctypes
import errno
import struct
import time
from typing import Any

from . import abi
from ._registry import syscall
from .errors import Errno, ProcessExit
from .guest import u32
from .process import _bit, _unblockable, deliver_pending

SS_ONSTACK, SS_DISABLE, SS_AUTODISARM = 1, 2, 1 << 31
MINSIGSTKSZ = 2048
_STACK_T = struct.Struct("<IiI")            # stack_t: ss_sp, ss_flags, ss_size
SI_USER = 0                                 # si_code of a signal kill() sent
_SIGINFO_SIZE = 128

_CALLBACK = None                            # the ctypes type, made on first use (imports wasmtime)
HANDLER_TICKS = 1 << 10                     # epoch deadline while a handler runs at a safe point
STOP_TICKS = HANDLER_TICKS + 1              # epoch increments that stop guest code, handlers included


def stop_guest_code(engine) -> None:
    """Make every store of `engine` trap at its next epoch check, inside a signal handler too."""
    for _ in range(STOP_TICKS):
        engine.increment_epoch()


def post(proc, thread, sig: int) -> None:
    """Make `sig` pending on `thread` and get it delivered soon, even if it runs wasm code."""
    with proc.threads.lock:
        thread.pending |= _bit(sig)
    thread.interrupt()
    if proc.engine is not None:
        proc.engine.increment_epoch()


def target_thread(proc, sig: int):
    """The thread a process-directed signal goes to: the first one that does not block it (Linux
    picks any), else the main thread, where it stays pending."""
    group = proc.threads
    with group.lock:
        threads = sorted(group.live.values(), key=lambda t: t.tid)
    for thread in threads:
        if not thread.sigmask & _bit(sig):
            return thread
    return group.main


def post_process(proc, sig: int, *, code: int | None = None) -> None:
    """A process-directed signal; `code` (si_code, with si_pid and si_uid 0: the host does not say
    who sent it) for an SA_SIGINFO handler, else it gets the default siginfo."""
    thread = target_thread(proc, sig)
    if code is not None:
        with proc.threads.lock:
            thread.siginfo[sig] = struct.pack("<iii", sig, 0, code)
    post(proc, thread, sig)


def guest_takes(proc, sig: int) -> bool:
    """Whether the guest handles or ignores `sig` itself (else the host's default action applies)."""
    raw = proc.sigactions.get(sig)
    if raw is None:
        return False
    handler = struct.unpack_from("<I", raw)[0]
    return handler == abi.SIG_IGN or (handler != abi.SIG_DFL and proc.table is not None)


def install(proc, store: Any, thread) -> None:
    """Give `store` the epoch deadline callback: stop when the program ends, else deliver signals."""
    import wasmtime
    from wasmtime import _ffi as ffi

    global _CALLBACK
    if _CALLBACK is None:
        _CALLBACK = ctypes.CFUNCTYPE(ctypes.c_size_t, ctypes.POINTER(ffi.wasmtime_context_t),
                                     ctypes.c_void_p, ctypes.POINTER(ctypes.c_uint64),
                                     ctypes.POINTER(ffi.wasmtime_update_deadline_kind_t))

    def on_epoch(context, _data, delta, kind) -> int:
        delta[0], kind[0] = 1, 0              # continue, one epoch ahead
        group = proc.threads
        if group.stopping.is_set() or (proc.stopper is not None and proc.stopper.status is not None):
            return _stop_error(ffi)
        if not thread.pending & ~thread.sigmask:
            return 0
        # The handler must be able to run: wasmtime does not call this callback again while it runs,
        # so its deadline is far enough ahead that signals arriving meanwhile stay pending, and near
        # enough that stopping the program (STOP_TICKS increments) still ends it.
        ffi.wasmtime_context_set_epoch_deadline(context, HANDLER_TICKS)
        outer = proc.mem.context
        proc.mem.enter(store)
        try:
            deliver_pending(proc)
        except ProcessExit as end:             # a fatal signal, or exit() in a handler
            group.end(end.status)
            return _stop_error(ffi)
        except BaseException as error:         # the handler trapped or its thread ended: stop
            thread.async_error = error
            if not group.stopping.is_set() and (proc.stopper is None or proc.stopper.status is None):
                proc.log(f"muslforge.wasm: a signal handler failed: {error}")
                group.end(134)
            return _stop_error(ffi)
        finally:
            proc.mem.enter(outer)
        return 0

    callback = _CALLBACK(on_epoch)
    thread.epoch_callback = callback           # kept alive as long as the thread's store
    ffi.wasmtime_store_epoch_deadline_callback(store.ptr(), callback, None,
                                               ctypes.CFUNCTYPE(None, ctypes.c_void_p)(0))
    del wasmtime


def _stop_error(ffi) -> int:
    message = b"muslforge: the program was stopped"
    error = ffi.wasmtime_error_new(ctypes.create_string_buffer(message))
    return ctypes.cast(error, ctypes.c_void_p).value or 0


# ---- syscalls ------------------------------------------------------------------------------------

@syscall("sigaltstack")
def sys_sigaltstack(proc, ss, old_ss):
    thread = proc.threads.current
    on_stack = thread.handler_depth > 0 and thread.altstack[1] == 0 and thread.altstack[2] > 0
    if old_ss:
        sp, flags, size = thread.altstack
        flags = SS_ONSTACK if on_stack else (flags if size else SS_DISABLE)
        proc.mem.write(old_ss, _STACK_T.pack(sp, flags, size))
    if ss:
        sp, flags, size = _STACK_T.unpack(proc.mem.read(ss, _STACK_T.size))
        if on_stack:
            raise Errno(errno.EPERM)
        mode = u32(flags) & ~SS_AUTODISARM
        if mode == SS_DISABLE:
            thread.altstack = (0, SS_DISABLE, 0)
        elif mode in (0, SS_ONSTACK):
            if u32(size) < MINSIGSTKSZ:
                raise Errno(errno.ENOMEM)
            proc.mem.view(sp, size)
            thread.altstack = (u32(sp), 0, u32(size))
        else:
            raise Errno(errno.EINVAL)
    return 0


def _read_set(proc, addr: int, sigsetsize: int) -> int:
    if sigsetsize != 8:
        raise Errno(errno.EINVAL)
    return struct.unpack("<Q", proc.mem.read(addr, 8))[0]


@contextlib.contextmanager
def wait_mask(proc, mask_ptr: int, sigsetsize: int):
    """The signal mask of ppoll, pselect6 and epoll_pwait, in force for the call's wait: a signal it
    blocks does not end the wait; one it lets through ends it with EINTR, and its handler runs with
    that mask still in force (as Linux runs it before restoring the saved mask). Without a mask
    (NULL), nothing changes."""
    if not mask_ptr:
        yield
        return
    thread = proc.threads.current
    new = _unblockable(_read_set(proc, mask_ptr, sigsetsize))
    old, thread.sigmask = thread.sigmask, new
    try:
        if thread.pending & ~new:              # already pending and let through: before any wait
            handled = _has_handler(proc, thread.pending & ~new)
            deliver_pending(proc)              # ignored ones vanish, fatal ones end the program
            if handled:
                raise Errno(errno.EINTR)
        yield
    except Errno as error:
        if error.errno == errno.EINTR:
            deliver_pending(proc)
        raise
    finally:
        thread.sigmask = old


def _has_handler(proc, signals: int) -> bool:
    """Whether one of the signals in the set has a handler (not SIG_DFL or SIG_IGN)."""
    for sig in range(1, abi.NSIG):
        raw = proc.sigactions.get(sig) if signals >> (sig - 1) & 1 else None
        if raw is not None and struct.unpack_from("<I", raw)[0] not in (abi.SIG_DFL, abi.SIG_IGN):
            return True
    return False


@syscall("rt_sigsuspend")
def sys_rt_sigsuspend(proc, mask, sigsetsize):
    """Wait with `mask` for a signal; its handler runs with `mask` in force, then the old mask is back
    and the call fails with EINTR, as on Linux."""
    new = _unblockable(_read_set(proc, mask, sigsetsize))
    group, thread = proc.threads, proc.threads.current
    old, thread.sigmask = thread.sigmask, new
    try:
        group.sleep_until(None)
        deliver_pending(proc)
    finally:
        thread.sigmask = old
    raise Errno(errno.EINTR)


@syscall("rt_sigtimedwait_time64")
def sys_rt_sigtimedwait(proc, set_ptr, info, timeout, sigsetsize):
    """Take a pending signal of the set without running its handler; EAGAIN after the timeout."""
    wanted = _read_set(proc, set_ptr, sigsetsize) & ~(_bit(abi.SIGKILL) | _bit(abi.SIGSTOP))
    group, thread = proc.threads, proc.threads.current
    deadline = None
    if timeout:
        from .clock import read_timespec
        deadline = time.monotonic_ns() + read_timespec(proc, timeout)
    saved = thread.sigmask
    thread.sigmask = saved & ~wanted           # members of the set interrupt the wait
    try:
        while not thread.pending & wanted:
            if thread.pending & ~thread.sigmask:
                deliver_pending(proc)           # another signal: its handler runs, then EINTR
                raise Errno(errno.EINTR)
            if not group.sleep_until(deadline) and not thread.pending & wanted:
                raise Errno(errno.EAGAIN)
    finally:
        thread.sigmask = saved
    ready = thread.pending & wanted
    sig = (ready & -ready).bit_length()
    with group.lock:
        thread.pending &= ~_bit(sig)
    queued = thread.siginfo.pop(sig, None)
    if info:
        proc.mem.fill(info, _SIGINFO_SIZE)
        proc.mem.write(info, queued or struct.pack("<iii", sig, 0, 0))
    return sig


@syscall("rt_sigqueueinfo")
def sys_rt_sigqueueinfo(proc, pid, sig, info):
    """sigqueue(): to this process, its siginfo (si_code, si_value) reaches an SA_SIGINFO handler or
    sigwaitinfo; to another process it is a plain signal (the host passes no value between them)."""
    from .process import sys_kill
    from .tree import tree
    data = proc.mem.read(info, _SIGINFO_SIZE)
    if pid in (0, tree(proc).pid) and 0 < sig < abi.NSIG:
        proc.threads.current.siginfo[sig] = struct.pack("<i", sig) + data[4:]
    return sys_kill(proc, pid, sig)


@syscall("rt_tgsigqueueinfo")
def sys_rt_tgsigqueueinfo(proc, tgid, tid, sig, info):
    from .process import sys_tgkill
    proc.mem.view(info, _SIGINFO_SIZE)
    return sys_tgkill(proc, tgid, tid, sig)

