"""Child processes: posix_spawn, popen, system, vfork+execve, execve, wait.

A guest cannot fork (a wasm instance's call stack cannot be copied; fork is ENOSYS). What runs is musl's
posix_spawn path, `clone(CLONE_VM|CLONE_VFORK)` with a child function, in both flavors: the embedder runs
the child function synchronously, in the same memory, with the child's own copy of the fd table, signal
dispositions, mask and working directory (what vfork's child owns on Linux), until it calls execve.
execve then starts a new embedder process (the same sandbox: mounts, the same /tmp, network policy,
limits) running the named .wasm module with the child's fds that are not close-on-exec, its argv and
envp; the child function is unwound and clone returns the child's pid. A child that calls _exit instead
becomes a child that already exited with that status. An execve outside a vfork child replaces the
program: the new module runs with this process's fds and its exit status (or its death by a signal)
becomes this process's.

What can be executed: a .wasm module inside the mounts with an execute permission bit (else EACCES;
a file that is neither wasm, ELF nor a #! script: ENOEXEC), and `/bin/sh` when the user names a wasm
shell (`--shell`). A host program (ELF or #! script) inside the mounts is EACCES, as on a noexec mount,
and /bin/sh without --shell ENOENT, unless the user passes --allow-host-exec (ProcessOptions.host_exec),
which leaves the sandbox: the program found at the guest path, resolved through the mounts like any
open (a path outside them is ENOENT, a symlink's text is read in the guest's namespace), is executed
natively by its fd (never by a host path string), with the guest's argv and envp, its fds that are not
close-on-exec at the same numbers, and the host directory behind the guest's cwd (/ for a virtual
one). /bin/sh is the host's own when the mounts have none. The host program then sees the whole host
as the embedder's user does; its status and death by signal are reported like a child embedder's.

A child's guest pid is its embedder's host pid (what waitpid returns, kill takes and its getpid says);
pids, parents, process groups, sessions and kill() between processes are tree.py's.
wait4/waitpid/waitid report exit statuses and deaths by signal (a child killed by a fatal signal
re-raises it on the host). SIGCHLD is posted to the parent when a child ends. At most MAX_CHILDREN
unreaped children (then EAGAIN).
"""

from __future__ import annotations

import errno
import itertools
import os
import stat
import struct
import sys
import threading
import time
from typing import Any

from . import abi
from ._registry import syscall
from .errors import Errno, ProcessExit
from .fdtable import FdTable
from .guest import u32

MAX_CHILDREN = 64
SIGCHLD = 17
_P_ALL, _P_PID, _P_PGID = 0, 1, 2
_WNOHANG, _WEXITED, _WNOWAIT = 1, 4, 0x1000000
_CLD_EXITED, _CLD_KILLED = 1, 2
_ARG_MAX = 1 << 20
_fake_pids = itertools.count(1 << 22)


class Child:
    """One child process: a host embedder process (popen), or a vfork child that never exec'd."""

    def __init__(self, pid: int, popen: Any = None, status: tuple[int, int] | None = None):
        self.pid, self.popen = pid, popen
        self.status = status                 # (si_code, si_status) once it ended
        self.relays: list[threading.Thread] = []


class Children:
    """A process's children, and the thread that reaps each of them."""

    def __init__(self, proc):
        self.proc = proc
        self.live: dict[int, Child] = {}
        self.cond = threading.Condition()

    def add(self, child: Child) -> None:
        with self.cond:
            if len(self.live) >= MAX_CHILDREN:
                raise Errno(errno.EAGAIN)
            self.live[child.pid] = child
        if child.popen is not None:
            threading.Thread(target=self._reap, args=(child,), daemon=True, name="muslforge-reaper").start()
        else:
            self._ended()

    def _reap(self, child: Child) -> None:
        code = child.popen.wait()
        for relay in child.relays:
            relay.join()
        with self.cond:
            child.status = (_CLD_KILLED, -code) if code < 0 else (_CLD_EXITED, code)
            self.cond.notify_all()
        self._ended()

    def _ended(self) -> None:
        from .signals import post_process
        if self.proc.engine is not None:
            post_process(self.proc, SIGCHLD)

    def kill_all(self) -> None:
        for child in list(self.live.values()):
            if child.popen is not None and child.status is None:
                child.popen.kill()


def ended_child(proc, pid: int) -> bool:
    """Whether `pid` is a child that ended and is not reaped yet (a zombie: kill succeeds, sends nothing)."""
    table = getattr(proc, "children", None)
    child = None if table is None else table.live.get(pid)
    return child is not None and (child.popen is None or child.status is not None)


def live_children(proc) -> list[int]:
    """Host pids of the children still running."""
    table = getattr(proc, "children", None)
    if table is None:
        return []
    with table.cond:
        return [c.pid for c in table.live.values() if c.popen is not None and c.status is None]


def children(proc) -> Children:
    if getattr(proc, "children", None) is None:
        proc.children = Children(proc)
    return proc.children


# ---- what a child inherits -----------------------------------------------------------------------

class Vfork:
    """The state a vfork child owns, swapped into the Process while its function runs."""

    def __init__(self, proc):
        parent_fds = proc.fds
        self.fds = FdTable(None, None, None)
        self.fds.limit = parent_fds.limit
        for fd, file in parent_fds.files.items():
            self.fds.install(file, fd, cloexec=fd in parent_fds.cloexec)
        self.sigactions = dict(proc.sigactions)
        self.cwd = proc.cwd.keep()
        self.sigmask = proc.threads.current.sigmask
        self.pgid: int | None = None               # setpgid(0, pgid) in the child (tree.py)
        self.setsid = False
        self.bare = False                          # vfork()'s child, not posix_spawn's function

    def swap(self, proc) -> None:
        thread = proc.threads.current
        proc.fds, self.fds = self.fds, proc.fds
        proc.sigactions, self.sigactions = self.sigactions, proc.sigactions
        proc.cwd, self.cwd = self.cwd, proc.cwd
        thread.sigmask, self.sigmask = self.sigmask, thread.sigmask


class Execed(BaseException):
    """Raised from execve in a vfork child: unwinds the child function; the child's pid."""

    def __init__(self, pid: int):
        super().__init__(pid)
        self.pid = pid


def vfork(proc, flags: int, sp: int) -> int:
    """clone(CLONE_VM|CLONE_VFORK): run the child function now, until execve or _exit (module doc);
    without one (sp 0), vfork()'s child in place (`bare`)."""
    if getattr(proc, "vfork", None) is not None:
        raise Errno(errno.EAGAIN)                  # a vfork child that vforks again: not supported
    if not sp:
        return _enter_bare(proc)
    function = proc.guest_function(proc.mem.load_u32(sp))
    if function is None:
        raise Errno(errno.ENOSYS)
    arg = proc.mem.load_u32(u32(sp) + 4)
    state = Vfork(proc)
    state.swap(proc)
    proc.vfork = state
    try:
        function(proc.mem.context, arg)
        status = (_CLD_EXITED, 0)                  # returned: as _exit(0)
    except Execed as done:
        return done.pid
    except ProcessExit as end:
        status = (_CLD_EXITED, end.status & 0xFF)
    finally:
        _leave(proc, state)
    return _exited_child(proc, status)


def _leave(proc, state: Vfork) -> None:
    """The vfork child is over: the parent's state is back, the child's fd table and cwd closed."""
    proc.vfork = None
    state.swap(proc)
    child_fds, state.fds = state.fds, None
    child_fds.close_all()
    state.cwd.close()


def _exited_child(proc, status: tuple[int, int]) -> int:
    """A vfork child that ended without exec: a child that already exited with `status`."""
    child = Child(next(_fake_pids), status=status)
    children(proc).add(child)
    return child.pid


# vfork() itself (port/src/process/wasm32/vfork.c): the code after vfork() in the caller runs as the
# child, in place, with the state a Vfork holds; execve and _exit (the exit syscall there: a vfork child
# is one thread) end it by answering with the child's pid (they never return on Linux), after which the
# guest longjmps back to vfork()'s setjmp. Anything else that ends it (exit_group from exit() or abort(),
# a fatal signal, a trap) ends the whole program: it runs on the parent's stack.

def _enter_bare(proc) -> int:
    state = Vfork(proc)
    state.bare = True
    state.swap(proc)
    proc.vfork = state
    return 0


def end_bare(proc, status: int | None, child: Child | None = None) -> int:
    """exit (`status`: _exit there) or a successful execve (`child`) in vfork()'s child: its pid."""
    _leave(proc, proc.vfork)
    if child is not None:
        children(proc).add(child)
        return child.pid
    return _exited_child(proc, (_CLD_EXITED, status & 0xFF))


def in_bare_vfork(proc) -> bool:
    state = getattr(proc, "vfork", None)
    return state is not None and state.bare


# ---- execve --------------------------------------------------------------------------------------

def _strings(proc, ptr: int) -> list[bytes]:
    """A NULL-terminated array of C strings (argv, envp), bounded by ARG_MAX (else E2BIG)."""
    out, total = [], 0
    if not ptr:
        return out
    for index in itertools.count():
        item = proc.mem.load_u32(u32(ptr) + 4 * index)
        if not item:
            return out
        text = proc.mem.cstring(item, _ARG_MAX)
        total += len(text) + 5
        if total > _ARG_MAX:
            raise Errno(errno.E2BIG)
        out.append(text)
    return out


def _open_program(proc, path: bytes) -> tuple[int, bool]:
    """A host fd of the program to run and whether it is a host program (module doc): a .wasm file
    beneath the mounts, --shell for /bin/sh; with --allow-host-exec also an ELF or #! file beneath the
    mounts, and the host's /bin/sh when the mounts have none."""
    is_sh = os.path.normpath(os.fsdecode(path)) == "/bin/sh"
    shell = getattr(proc, "shell", None)
    if shell is not None and is_sh:
        return os.open(shell, os.O_RDONLY | os.O_CLOEXEC), False
    host_exec = getattr(proc, "host_exec", False)
    try:
        fd = _open_beneath(proc, path)
    except Errno as error:
        if is_sh and host_exec and error.errno == errno.ENOENT:
            return os.open("/bin/sh", os.O_RDONLY | os.O_CLOEXEC), True
        raise
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode) or not info.st_mode & 0o111:
            raise Errno(errno.EACCES)
        magic = os.pread(fd, 4, 0)
        if magic == b"\0asm":
            return fd, False
        if magic == b"\x7fELF" or magic[:2] == b"#!":
            if host_exec:
                return fd, True
            raise Errno(errno.EACCES)              # a host program: as on a noexec mount
        raise Errno(errno.ENOEXEC)
    except BaseException:
        os.close(fd)
        raise


def _open_beneath(proc, path: bytes) -> int:
    """The file at guest `path`, opened through the held directory fds (never a host path)."""
    from .files import base_dir
    with proc.ns.locate(base_dir(proc, abi.AT_FDCWD), path) as place:
        if place.device is not None:
            raise Errno(errno.EACCES)
        if place.dir.virtual or place.name is None:
            raise Errno(errno.ENOENT if place.name else errno.EACCES)
        return os.open(place.name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=place.dir.fd)


def _child_argv(proc, program_fd: int, argv: list[bytes], envp: list[bytes],
                fds: dict[int, int]) -> list[str]:
    """The command line of a child embedder: the same sandbox, the given env and fds."""
    out = [sys.executable, "-m", "muslforge.wasm", "--clear-env", "--child"]
    for guest, mount in proc.ns.mounts.items():
        if guest == "/tmp":
            out += ["--tmp", mount.host]
        elif guest != "/dev/shm":
            out += ["--ro-dir" if mount.read_only else "--dir", f"{mount.host}::{guest}"]
    out += ["--cwd", proc.cwd.guest]
    for pattern in proc.net.connect:
        out += ["--allow-net", _pattern(pattern)]
    for pattern in proc.net.listen:
        out += ["--allow-listen", _pattern(pattern)]
    if proc.max_memory is not None:
        out += ["--max-memory", str(proc.max_memory)]
    deadline = getattr(proc, "deadline", None)
    if deadline is not None:                       # the same --timeout: what is left of it
        out += ["--timeout", f"{max(0.001, deadline - time.monotonic()):.3f}"]
    if getattr(proc, "shell", None) is not None:
        out += ["--shell", proc.shell]
    if getattr(proc, "host_exec", False):
        out += ["--allow-host-exec"]
    out += ["--max-threads", str(proc.threads.max_threads)]
    from .tree import tree
    vfork = getattr(proc, "vfork", None)
    out += ["--tree", tree(proc).spec(replace=vfork is None)]
    if vfork is not None and vfork.setsid:
        out += ["--setsid"]
    elif vfork is not None and vfork.pgid is not None:
        out += ["--pgid", str(vfork.pgid)]
    for guest_fd, host_fd in sorted(fds.items()):
        out += ["--fd", f"{guest_fd}={host_fd}"]
    for item in envp:
        if b"=" in item:
            out += ["--env", os.fsdecode(item)]
    out += ["--argv0", os.fsdecode(argv[0]) if argv else "", f"/proc/self/fd/{program_fd}"]
    return out + [os.fsdecode(a) for a in argv[1:]]


def _pattern(pattern) -> str:
    host = f"[{pattern.host}]" if ":" in pattern.host else pattern.host
    return f"{host}:{'*' if pattern.port is None else pattern.port}"


def _inherited(proc) -> tuple[dict[int, int], list[tuple[int, Any]], list[int]]:
    """The fds an exec'd program gets: guest fd -> host fd, relays for streams without a host fd, and
    host fds to close afterwards."""
    fds, relays, opened = {}, [], []
    for fd, file in sorted(proc.fds.files.items()):
        if fd in proc.fds.cloexec or file.is_dir:
            continue
        host = file.host_fileno()
        if host is None and file.stream is not None:
            read_end, write_end = os.pipe()
            if fd == 0:
                os.close(write_end)                    # a stream stdin without a host fd: EOF
                host = read_end
            else:
                relays.append((read_end, file.stream))
                host = write_end
            opened.append(host)
        if host is not None:
            fds[fd] = host
    return fds, relays, opened


def _relay(read_end: int, stream: Any) -> None:
    with os.fdopen(read_end, "rb", buffering=0) as source:
        while chunk := source.read(65536):
            stream.write(chunk)
            stream.flush()


def start(proc, path: bytes, argv: list[bytes], envp: list[bytes]) -> Child:
    """Start a child embedder running the module at guest `path` (module doc)."""
    from ..proc import spawn, spawn_native

    program, native = _open_program(proc, path)
    fds, relays, opened = _inherited(proc)
    try:
        if native:
            popen = spawn_native(program, argv, envp, fds, proc.cwd.fd, sigmask=proc.threads.current.sigmask,
                                 **_native_group(proc))
        else:
            command = _child_argv(proc, program, argv, envp, fds)
            popen = spawn(command, pass_fds=[program, *fds.values()])
    finally:
        os.close(program)
        for fd in opened:
            os.close(fd)
    child = Child(popen.pid, popen)
    for read_end, stream in relays:
        thread = threading.Thread(target=_relay, args=(read_end, stream), daemon=True)
        thread.start()
        child.relays.append(thread)
    return child


def _native_group(proc) -> dict[str, Any]:
    """posix_spawn's POSIX_SPAWN_SETSID / SETPGROUP for a host program (tree.py)."""
    vfork = getattr(proc, "vfork", None)
    if vfork is None:
        return {}
    if vfork.setsid:
        return {"new_session": True}
    if vfork.pgid is not None:
        from .tree import tree
        return {"process_group": tree(proc).host_group_of(vfork.pgid) if vfork.pgid else 0}
    return {}


@syscall("execve")
def sys_execve(proc, path, argv, envp):
    file = proc.mem.cstring(path)
    args, env = _strings(proc, argv), _strings(proc, envp)
    child = start(proc, file, args, env)
    if in_bare_vfork(proc):
        return end_bare(proc, None, child)             # the guest resumes its parent (vfork.c)
    if getattr(proc, "vfork", None) is not None:
        children(proc).add(child)
        raise Execed(child.pid)
    proc.fds.flush()
    proc.replaced_by = child.popen                     # signals sent to this process go on to it
    code = child.popen.wait()                          # the program is replaced: its end is ours
    for relay in child.relays:
        relay.join()
    if code < 0:
        proc.death_signal = -code
        raise ProcessExit(128 - code)
    raise ProcessExit(code)


@syscall("execveat")
def sys_execveat(proc, dirfd, path, argv, envp, flags):
    if dirfd != abi.AT_FDCWD or flags:
        raise Errno(errno.EINVAL if flags & ~0x1100 else errno.ENOSYS)
    return sys_execve(proc, path, argv, envp)


# ---- waiting -------------------------------------------------------------------------------------

_SIGINFO = struct.Struct("<iiiiii")      # si_signo, si_errno, si_code, si_pid, si_uid, si_status


@syscall("waitid")
def sys_waitid(proc, idtype, id, infop, options, rusage=0):
    """Wait for a child to end (WEXITED): its pid, code and status in *infop; WNOHANG: si_pid 0."""
    if idtype not in (_P_ALL, _P_PID, _P_PGID) or not options & _WEXITED:
        raise Errno(errno.EINVAL)
    table = children(proc)
    group, thread = proc.threads, proc.threads.current
    with table.cond:
        while True:
            wanted = [c for c in table.live.values() if idtype != _P_PID or c.pid == id]
            if not wanted:
                raise Errno(errno.ECHILD)
            done = next((c for c in wanted if c.status is not None), None)
            if done is not None:
                break
            if options & _WNOHANG:
                if infop:
                    proc.mem.fill(infop, 128)
                return 0
            if group.interrupted(thread) and thread.pending & ~thread.sigmask & ~(1 << (SIGCHLD - 1)):
                raise Errno(errno.EINTR)
            group.check_stop()
            table.cond.wait(0.05)
        if not options & _WNOWAIT:
            del table.live[done.pid]
    code, status = done.status
    if infop:
        proc.mem.fill(infop, 128)
        proc.mem.write(infop, _SIGINFO.pack(SIGCHLD, 0, code, done.pid, os.getuid(), status))
    if rusage:
        proc.mem.fill(rusage, 72)
    return 0


# ---- the child side ------------------------------------------------------------------------------

class ProcessOptions:
    """How this embedder process takes part in a process tree: the wasm shell that /bin/sh names,
    whether it is a child (getppid 1, death by signal re-raised on the host), the fds it inherits."""

    __slots__ = ("child", "fds", "shell", "host_exec", "tree", "pgid", "setsid")

    def __init__(self, *, shell: str | None = None, child: bool = False, fds: dict[int, int] | None = None,
                 host_exec: bool = False, tree: str | None = None, pgid: int | None = None,
                 setsid: bool = False):
        self.shell, self.child, self.fds = shell, child, dict(fds or {})
        self.host_exec = host_exec
        self.tree, self.pgid, self.setsid = tree, pgid, setsid      # tree.py: where a child stands


def adopt(proc, options: ProcessOptions) -> None:
    """Apply `options` to a new Process: the inherited host fds replace the stdio streams."""
    proc.shell = options.shell
    proc.host_exec = options.host_exec
    if options.child:
        from .tree import Tree
        proc.tree = Tree.parse(options.tree) if options.tree else Tree(ppid=1)
        if proc.tree.replaces:
            _die_with_parent()
        if options.setsid:
            os.setsid()
        elif options.pgid is not None:
            os.setpgid(0, proc.tree.host_group_of(options.pgid) if options.pgid else 0)
        proc.fds.close_all()
        shared: dict[int, Any] = {}                  # guest fds that were dups share one description
        for guest_fd, host_fd in options.fds.items():
            if host_fd not in shared:
                shared[host_fd] = _adopted_file(host_fd)
            proc.fds.install(shared[host_fd], guest_fd)


def _die_with_parent() -> None:
    """The program an execve started ends with the process it replaced (killed by SIGKILL too)."""
    import ctypes
    import signal
    PR_SET_PDEATHSIG = 1
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() == 1:                      # it ended before the prctl
        os._exit(128 + signal.SIGKILL)


def _adopted_file(host_fd: int):
    import fcntl

    from .fdtable import OpenFile
    flags = fcntl.fcntl(host_fd, fcntl.F_GETFL)
    guest_flags = (flags & os.O_ACCMODE) | (abi.O_APPEND if flags & os.O_APPEND else 0) | \
        (abi.O_NONBLOCK if flags & os.O_NONBLOCK else 0)
    os.set_inheritable(host_fd, False)
    if stat.S_ISSOCK(os.fstat(host_fd).st_mode):
        import socket

        from .sockets import SocketFile
        probe = socket.socket(fileno=host_fd)
        family, kind = probe.family, probe.type
        probe.detach()
        return SocketFile(flags=guest_flags, hostfd=host_fd, family=int(family), kind=int(kind))
    return OpenFile(flags=guest_flags, hostfd=host_fd)


def reraise_death(proc) -> None:
    """In a child embedder: end by the guest's fatal signal, so the parent's wait sees it."""
    import signal

    sig = getattr(proc, "death_signal", None)
    t = getattr(proc, "tree", None)
    if sig and t is not None and (t.replaces or not t.is_root):
        sys.stdout.flush()
        sys.stderr.flush()
        signal.signal(sig, signal.SIG_DFL)
        os.kill(os.getpid(), sig)
