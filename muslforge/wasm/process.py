"""Process syscalls: exit, identity, signals, randomness, uname, scheduling, resource limits.

The guest is one process with pid 1 (its main thread's tid) and parent 0 (deterministic; the host's pid
means nothing inside the sandbox); uid/gid are the host's.

Signals come only from the guest itself (kill to its own pid, tkill/tgkill to one of its threads) and
follow Linux: each thread has its own mask and pending set, and a blocked signal stays pending until
rt_sigprocmask unblocks it. kill() is taken by the calling thread. A signal sent to another thread is
delivered at that thread's next syscall, or interrupts the futex wait, sleep or poll it is blocked in
(which then returns -EINTR). Delivery happens synchronously, before the syscall returns: SIG_IGN and default-ignored signals (SIGCHLD, SIGURG, SIGWINCH, SIGCONT, the stop
signals) do nothing; SIG_DFL otherwise stops the instance with exit status 128 + signal, as a shell
reports it (abort() ends with 134). A handler is called through the exported function table
(`__indirect_function_table`, link with -Wl,--export-table) with the signal number, or with
(signo, siginfo*, ucontext*) for SA_SIGINFO handlers; the signal and sa_mask are blocked meanwhile
(unless SA_NODEFER) and SA_RESETHAND is honoured. Without an exported table a handler can't be reached
and the default action applies (docs/wasm32-abi.md, section 6). Leaving a handler with siglongjmp can't
unwind through the host and ends the program as a trap.

Threads, futexes, exit and exit_group are in threads.py.
"""

from __future__ import annotations

import errno
import os
import resource
import struct

from . import abi
from ._registry import syscall
from .errors import Errno, ProcessExit
from .guest import u32
from .tree import tree

PID = 1                  # the first guest's; a child embedder's guest has its own (tree.py)
SIGPIPE = 13
_STOP_SIGNALS = frozenset({19, 20, 21, 22})        # SIGSTOP SIGTSTP SIGTTIN SIGTTOU
_RLIM_INFINITY = 0xFFFFFFFFFFFFFFFF
_RLIMIT_NOFILE = 7
_RLIMIT = struct.Struct("<QQ")


@syscall("getpid")
def sys_getpid(proc):
    return tree(proc).pid


@syscall("getppid")
def sys_getppid(proc):
    return tree(proc).ppid


@syscall("getuid", "geteuid")
def sys_getuid(proc):
    return os.getuid()


@syscall("getgid", "getegid")
def sys_getgid(proc):
    return os.getgid()


@syscall("getrandom")
def sys_getrandom(proc, buf, length, flags):
    data = os.urandom(min(u32(length), 1 << 25))
    proc.mem.write(buf, data)
    return len(data)


def _utsname_field(text: str) -> bytes:
    return text.encode()[:abi.UTSNAME_FIELD - 1].ljust(abi.UTSNAME_FIELD, b"\0")


@syscall("uname")
def sys_uname(proc, buf):
    fields = ("Linux", "muslforge", os.uname().release, "#1 muslforge wasm32 embedder", "wasm32", "(none)")
    proc.mem.write(buf, b"".join(_utsname_field(f) for f in fields))
    return 0


_RLIMIT_AS, _RLIMIT_DATA = 9, 2
RLIMIT_NOFILE_MAX = 1024


@syscall("prlimit64")
def sys_prlimit64(proc, pid, resource, new_limit, old_limit):
    """RLIMIT_NOFILE is enforced by the fd table (hard limit 1024); RLIMIT_AS and RLIMIT_DATA report
    --max-memory (else 4 GiB); other limits report what the guest set (else unlimited)."""
    if pid not in (0, tree(proc).pid):
        raise Errno(errno.ESRCH)
    if not 0 <= resource < 16:
        raise Errno(errno.EINVAL)
    current = _rlimit(proc, resource)
    if new_limit:
        soft, hard = _RLIMIT.unpack(proc.mem.read(new_limit, _RLIMIT.size))
        if soft > hard:
            raise Errno(errno.EINVAL)
        if hard > current[1]:
            raise Errno(errno.EPERM)
        if resource == _RLIMIT_NOFILE:
            proc.fds.limit = soft
        proc.rlimits[resource] = (soft, hard)
    if old_limit:
        proc.mem.write(old_limit, _RLIMIT.pack(*current))
    return 0


def _rlimit(proc, resource: int) -> tuple[int, int]:
    if resource in proc.rlimits:
        return proc.rlimits[resource]
    if resource == _RLIMIT_NOFILE:
        return (proc.fds.limit, RLIMIT_NOFILE_MAX)
    if resource in (_RLIMIT_AS, _RLIMIT_DATA):
        size = proc.max_memory if proc.max_memory is not None else 1 << 32
        return (size, size)
    return (_RLIM_INFINITY, _RLIM_INFINITY)


# struct rusage as the kernel writes it on a 32-bit arch: ru_utime and ru_stime as {long sec; long usec},
# then 14 longs (maxrss in KiB, ..., nvcsw, nivcsw); musl widens the times itself.
_RUSAGE = struct.Struct("<18i")


@syscall("getrusage")
def sys_getrusage(proc, who, usage):
    """The host thread that runs the guest: its CPU times, faults and context switches; no children."""
    if who not in (0, 1, -1):                  # RUSAGE_SELF, RUSAGE_THREAD, RUSAGE_CHILDREN
        raise Errno(errno.EINVAL)
    if who == -1:
        proc.mem.write(usage, bytes(_RUSAGE.size))
        return 0
    ru = resource.getrusage(resource.RUSAGE_THREAD)
    times = [int(t) for x in (ru.ru_utime, ru.ru_stime) for t in (x, (x % 1) * 1_000_000)]
    rest = [ru.ru_maxrss, ru.ru_ixrss, ru.ru_idrss, ru.ru_isrss, ru.ru_minflt, ru.ru_majflt, ru.ru_nswap,
            ru.ru_inblock, ru.ru_oublock, ru.ru_msgsnd, ru.ru_msgrcv, ru.ru_nsignals, ru.ru_nvcsw,
            ru.ru_nivcsw]
    proc.mem.write(usage, _RUSAGE.pack(*(min(v, 0x7FFFFFFF) for v in times + rest)))
    return 0


# ---- signals -------------------------------------------------------------------------------------

def _check_signal(sig: int) -> None:
    if not 1 <= sig < abi.NSIG:
        raise Errno(errno.EINVAL)


@syscall("rt_sigaction")
def sys_rt_sigaction(proc, sig, act, oldact, sigsetsize):
    _check_signal(sig)
    if sigsetsize != 8:
        raise Errno(errno.EINVAL)
    if oldact:
        proc.mem.write(oldact, proc.sigactions.get(sig, bytes(abi.SIGACTION_SIZE)))
    if act:
        if sig in (abi.SIGKILL, abi.SIGSTOP):
            raise Errno(errno.EINVAL)
        proc.sigactions[sig] = proc.mem.read(act, abi.SIGACTION_SIZE)
        if struct.unpack_from("<I", proc.sigactions[sig])[0] not in (abi.SIG_DFL, abi.SIG_IGN):
            proc.threads.async_signals = True     # a blocking read must be able to end with EINTR
    return 0


@syscall("rt_sigprocmask")
def sys_rt_sigprocmask(proc, how, new_set, old_set, sigsetsize):
    if sigsetsize != 8:
        raise Errno(errno.EINVAL)
    thread = proc.threads.current
    old = thread.sigmask
    if new_set:
        value = struct.unpack("<Q", proc.mem.read(new_set, 8))[0]
        if how == abi.SIG_BLOCK:
            thread.sigmask = _unblockable(old | value)
        elif how == abi.SIG_UNBLOCK:
            thread.sigmask = old & ~value
        elif how == abi.SIG_SETMASK:
            thread.sigmask = _unblockable(value)
        else:
            raise Errno(errno.EINVAL)
    if old_set:
        proc.mem.store_u64(old_set, old)
    deliver_pending(proc)
    return 0


@syscall("rt_sigpending")
def sys_rt_sigpending(proc, set_ptr, sigsetsize):
    proc.mem.store_u64(set_ptr, proc.threads.current.pending)
    return 0


_SA_SIGINFO, _SA_ONSTACK, _SA_NODEFER, _SA_RESETHAND = 4, 0x08000000, 0x40000000, 0x80000000
_SI_TKILL = -6
_UC_SIGMASK = 20                           # ucontext_t: uc_flags, uc_link, uc_stack (12 bytes), uc_sigmask
_SIGACTION = struct.Struct("<IIIQ")        # handler, flags, restorer, mask


def _bit(sig: int) -> int:
    return 1 << (sig - 1)


def _unblockable(mask: int) -> int:
    return mask & ~(_bit(abi.SIGKILL) | _bit(abi.SIGSTOP))


def send_self(proc, sig: int) -> int:
    """A signal sent to the calling thread: pending while blocked, else delivered now (module doc)."""
    if sig == 0:
        return 0
    _check_signal(sig)
    thread = proc.threads.current
    if thread.sigmask & _bit(sig) and sig not in (abi.SIGKILL, abi.SIGSTOP):
        thread.pending |= _bit(sig)
        return 0
    deliver(proc, sig)
    return 0


def send_thread(proc, thread, sig: int) -> int:
    """A signal sent to another thread: pending there, and its blocking wait (if any) interrupted."""
    if sig == 0:
        return 0
    _check_signal(sig)
    if thread is proc.threads.current:
        return send_self(proc, sig)
    with proc.threads.lock:
        thread.pending |= _bit(sig)
    thread.interrupt()
    return 0


def deliver_pending(proc) -> bool:
    """Deliver every pending signal the mask no longer blocks, lowest number first. True when at least
    one handler ran and every one ran had SA_RESTART (an interrupted syscall is then restarted)."""
    thread = proc.threads.current
    restart = None
    while thread.pending & ~thread.sigmask:
        ready = thread.pending & ~thread.sigmask
        sig = (ready & -ready).bit_length()
        with proc.threads.lock:
            thread.pending &= ~_bit(sig)
        flags = deliver(proc, sig)
        if flags is not None:
            restart = bool(flags & SA_RESTART) and restart is not False
    return bool(restart)


SA_RESTART = 0x10000000


def deliver(proc, sig: int) -> int | None:
    """Deliver one signal now; the handler's sa_flags when a handler ran, else None."""
    raw = proc.sigactions.get(sig, bytes(abi.SIGACTION_SIZE))
    handler, flags, _, mask = _SIGACTION.unpack(raw)
    queued = proc.threads.current.siginfo.pop(sig, None)      # sigqueue's, else SI_TKILL's
    function = None if handler in (abi.SIG_DFL, abi.SIG_IGN) else proc.guest_function(handler)
    if sig == abi.SIGKILL or handler == abi.SIG_DFL or (handler != abi.SIG_IGN and function is None):
        if proc.trace and handler not in (abi.SIG_DFL, abi.SIG_IGN):
            proc.log(f"[wasm] signal {sig}: handler {handler:#x} unreachable (no exported table): "
                     "default action")
        if sig in abi.DEFAULT_IGNORED_SIGNALS or sig == abi.SIGCONT or sig in _STOP_SIGNALS:
            return None
        proc.death_signal = sig                   # a child embedder re-raises it on the host
        raise ProcessExit(128 + sig)
    if handler == abi.SIG_IGN:
        return None
    _run_handler(proc, sig, function, flags, mask, queued)
    return flags


def _run_handler(proc, sig: int, function, flags: int, mask: int, queued: bytes | None = None) -> None:
    """Call the handler with the signal (and sa_mask) blocked; afterwards the mask is the one the
    handler left in its ucontext's uc_sigmask (SA_SIGINFO), as sigreturn restores it on Linux."""
    thread = proc.threads.current
    saved = thread.sigmask
    thread.sigmask = _unblockable(saved | mask | (0 if flags & _SA_NODEFER else _bit(sig)))
    if flags & _SA_RESETHAND:
        proc.sigactions.pop(sig, None)
    context = proc.mem.context
    nparams = len(function.type(context).params)
    onstack = 1 if flags & _SA_ONSTACK else 0       # sigaltstack reports SS_ONSTACK meanwhile
    thread.handler_depth += onstack
    try:
        if nparams == 3:
            info = proc.signal_scratch()
            context_at = info + 256
            proc.mem.fill(info, 512)
            proc.mem.write(info, queued or struct.pack("<iiiII", sig, 0, _SI_TKILL, tree(proc).pid, os.getuid()))
            proc.mem.store_u64(context_at + _UC_SIGMASK, saved)
            function(context, sig, info, context_at)
            saved = _unblockable(struct.unpack("<Q", proc.mem.read(context_at + _UC_SIGMASK, 8))[0])
        else:
            function(context, *([sig] if nparams == 1 else []))
    finally:
        thread.handler_depth -= onstack
    thread.sigmask = saved
    deliver_pending(proc)


@syscall("kill")
def sys_kill(proc, pid, sig):
    """The caller itself now; its parent, children and process groups through the host (tree.py)."""
    if sig and not 0 < sig < abi.NSIG:
        raise Errno(errno.EINVAL)
    from .tree import kill
    if kill(proc, pid, sig):
        return send_self(proc, sig)
    return 0


@syscall("tkill")
def sys_tkill(proc, tid, sig):
    if tid <= 0:
        raise Errno(errno.EINVAL)
    thread = proc.threads.find(tid)
    if thread is None:
        raise Errno(errno.ESRCH)
    return send_thread(proc, thread, sig)


@syscall("tgkill")
def sys_tgkill(proc, tgid, tid, sig):
    if tgid != tree(proc).pid:
        raise Errno(errno.ESRCH)
    return sys_tkill(proc, tid, sig)


@syscall("getpgid")
def sys_getpgid(proc, pid):
    from .tree import getpgid
    return getpgid(proc, pid)


@syscall("getsid")
def sys_getsid(proc, pid):
    from .tree import getsid
    return getsid(proc, pid)


@syscall("getgroups")
def sys_getgroups(proc, size, list_ptr):
    return 0
