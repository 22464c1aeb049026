"""Linking and instantiation: checks a module's imports, binds env.__syscall_* to the handlers, writes the
initial process block, calls _start and turns exit, fatal signals and traps into an exit status.

Exit status: the guest's exit()/exit_group() status; 128 + signal for a fatal signal sent to itself;
TRAP_STATUS (134, as for SIGABRT) when the instance traps, after printing the trap and its wasm backtrace
to stderr; 0 when _start returns.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import sys
import threading
import time
from collections.abc import Mapping, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Any

# Importing the group modules registers their handlers.
from . import (abi, children, clock, dirs, files, memory, polling, process, refused,  # noqa: F401
               signals, sockets, system, threads, timers)
from ._registry import REFUSED, SYSCALLS, Handler
from .errors import EmbedderError, Errno, ProcessExit
from .fdtable import FdTable, binary_stream
from .guest import GuestMemory, SharedGuestMemory
from .limits import TIMEOUT_STATUS, Stop, Stopper
from .memory import Heap, SharedMaps
from .mounts import MountSpec, build_namespace, initial_cwd, remove_workdir
from .namespace import Dir
from .threads import DEFAULT_MAX_THREADS, THREAD_START, GroupStopped, ThreadExit, ThreadGroup

TRAP_STATUS = 134
WASM_MAGIC = b"\0asm"
PREFIX = "__syscall_"
_path_args: dict[str, tuple[int, ...]] = {}


def path_args(name: str) -> tuple[int, ...]:
    """Arguments that are guest C strings (path and str kinds in the syscall table), shown as text in the
    trace; the table is read when the first trace line is printed."""
    if not _path_args:
        from .. import syscalls as syscall_table

        strings = (syscall_table.Kind.PATH, syscall_table.Kind.STR)
        rows = (*syscall_table.load(), *syscall_table.extra())
        _path_args.update({row.name: tuple(i for i, kind in enumerate(row.param_kinds()) if kind in strings)
                           for row in rows})
    return _path_args.get(name, ())


# Syscalls Linux restarts after a handler with SA_RESTART instead of failing with EINTR (sleeps, polls,
# sigsuspend and sigtimedwait always fail with EINTR, as there).
_RESTARTABLE = frozenset({
    "read", "readv", "write", "writev", "pread64", "preadv", "pwrite64", "pwritev", "wait4", "waitid",
    "futex_time64", "flock", "fcntl64", "ioctl", "openat", "accept", "accept4", "recvfrom", "recvmsg",
    "sendto", "sendmsg", "connect",
})

# Syscalls that run without the process lock: they block (the lock would stop every other thread), only
# touch the calling thread's own state, or deliver signals (a handler's own syscalls take the lock).
_UNLOCKED = frozenset({
    "futex_time64", "clock_nanosleep_time64", "nanosleep", "sched_yield",
    "read", "readv", "pread64", "preadv", "write", "writev", "pwrite64", "pwritev", "ppoll_time64",
    "pselect6_time64", "exit", "exit_group", "gettid", "getpid", "set_tid_address", "set_robust_list",
    "rt_sigprocmask", "rt_sigaction", "rt_sigpending", "kill", "tkill", "tgkill", "clock_gettime64",
    "accept", "accept4", "connect", "recvfrom", "recvmsg", "sendto", "sendmsg", "recvmmsg_time64", "sendmmsg",
    "epoll_pwait", "epoll_pwait2", "rt_sigsuspend", "rt_sigtimedwait_time64",
})


class Process:
    """Everything one guest process owns: memory, heap, fds, namespace and cwd, signal actions, threads.

    Syscalls from several guest threads run one at a time under `lock`, except the _UNLOCKED ones.
    """

    def __init__(self, *, root: Path | None, stdin: Any, stdout: Any, stderr: Any, trace: bool,
                 mounts: Sequence[MountSpec] = (), cwd: str | None = None, tmp: Path | None = None,
                 max_threads: int = DEFAULT_MAX_THREADS, net: Any = None, processes: Any = None):
        self.ns, self.workdir = build_namespace(root, mounts, tmp)
        self.net = net if net is not None else sockets.NetPolicy()   # off by default
        self.stand_in = os.path.join(self.workdir, "empty")
        self.cwd = initial_cwd(self.ns, root, mounts, cwd)
        self.stderr = binary_stream(stderr, sys.stderr)
        self.fds = FdTable(binary_stream(stdin, sys.stdin), binary_stream(stdout, sys.stdout), self.stderr)
        self.trace = trace
        self.mem: GuestMemory | None = None
        self.heap: Heap | None = None
        self.shared = SharedMaps()
        self.umask = 0o022
        self.sigactions: dict[int, bytes] = {}
        self.stopper: Any = None         # limits.Stopper while running
        self.rlimits: dict[int, tuple[int, int]] = {}
        self.max_memory: int | None = None
        self.threads = ThreadGroup(max_threads=max_threads)
        self.shared_memory: Any = None   # a threaded module's imported shared memory
        self.engine: Any = None          # its epoch is incremented to deliver asynchronous signals
        self.timers: Any = None          # timers.Timers once the guest arms one
        self.lock = threading.RLock()
        self._scratch: list[int] = []

    @property
    def sigmask(self) -> int:
        """The calling thread's signal mask."""
        return self.threads.current.sigmask

    @property
    def pending(self) -> int:
        """The calling thread's pending signals."""
        return self.threads.current.pending

    @property
    def table(self) -> Any:
        """The calling thread's instance's exported __indirect_function_table, when there is one."""
        return self.threads.current.table

    @table.setter
    def table(self, value: Any) -> None:
        self.threads.current.table = value

    def set_cwd(self, target: Dir) -> None:
        old, self.cwd = self.cwd, target
        old.close()

    def close_namespace(self) -> None:
        self.cwd.close()
        self.ns.close()
        remove_workdir(self.workdir)

    def guest_function(self, index: int) -> Any:
        """The guest function behind a C function pointer, or None (no exported table, bad index)."""
        if self.table is None or self.mem is None:
            return None
        import wasmtime

        function = self.table.get(self.mem.context, index)
        return function if isinstance(function, wasmtime.Func) else None

    def signal_scratch(self) -> int:
        """512 bytes of guest memory for the siginfo/ucontext handed to the calling thread's SA_SIGINFO
        handlers (slots of one page, one per thread, taken back when the thread ends)."""
        thread = self.threads.current
        if not thread.scratch:
            with self.lock:
                if not self._scratch:
                    page = self.heap.map(abi.WASM_PAGE)
                    self._scratch = list(range(page, page + abi.WASM_PAGE, 512))
                thread.scratch = self._scratch.pop()
        return thread.scratch

    def release_scratch(self, thread: Any) -> None:
        if thread.scratch:
            with self.lock:
                self._scratch.append(thread.scratch)
            thread.scratch = 0

    def log(self, text: str) -> None:
        """A line on the host side of stderr (trace, trap reports)."""
        if self.stderr is not None:
            self.stderr.write(text.encode(errors="replace") + b"\n")
            self.stderr.flush()


def enosys(proc: Process, *args: int) -> int:
    raise Errno(errno.ENOSYS)


_CO_VARARGS = 0x04


def _refusal(error: int) -> Handler:
    def answer(proc: Process, *args: int) -> int:
        raise Errno(error)
    return answer


_REFUSALS = {name: _refusal(error) for name, (error, _) in REFUSED.items()}


def _arity(handler: Handler) -> tuple[int, int]:
    """(required, maximum) argument count of a handler, not counting `proc` (read from its code object:
    inspect costs milliseconds of start-up)."""
    code = handler.__code__
    if code.co_flags & _CO_VARARGS:
        return 0, 6
    count = code.co_argcount - 1
    return count - len(handler.__defaults__ or ()), count


def _signed(value: int) -> int:
    value &= 0xFFFFFFFF
    return value - (1 << 32) if value >> 31 else value


def _show_arg(proc: Process, value: int, as_path: bool) -> str:
    if as_path and value and proc.mem is not None:
        try:
            return repr(os.fsdecode(proc.mem.cstring(value)))
        except Errno:
            pass
    return str(value) if -4096 <= value <= 65535 else hex(value & 0xFFFFFFFF)


def _trace(proc: Process, name: str, args: Sequence[int], result: str) -> None:
    paths = path_args(name)
    shown = ", ".join(_show_arg(proc, a, i in paths) for i, a in enumerate(args))
    proc.log(f"[wasm] {name}({shown}) = {result}")


def _result_text(result: int) -> str:
    if -4096 < result < 0:
        return f"{result} {errno.errorcode.get(-result, '')}".rstrip()
    return str(result) if result < 65536 else hex(result & 0xFFFFFFFF)


def host_function(proc: Process, name: str, handler: Handler):
    """The Python callable wasmtime calls for env.__syscall_<name> (with the Caller first).

    Afterwards, signals another thread sent to the calling thread meanwhile are delivered.
    """
    row = _row_of(name)
    lock = nullcontext() if row in _UNLOCKED else proc.lock
    group = proc.threads

    def call(caller, *args: int) -> int:
        while True:
            result, restart = once(caller, *args)
            if not (restart and result == -errno.EINTR and row in _RESTARTABLE):
                return result

    def once(caller, *args: int) -> tuple[int, bool]:
        """One run of the handler: its result, and whether the signals delivered after it ask for a
        restart (SA_RESTART)."""
        if proc.mem is None:
            return -errno.ENOSYS, False
        outer = proc.mem.context
        proc.mem.enter(caller)
        stopper = proc.stopper if group.current is group.main else None   # Python signals: main only
        if stopper is not None:
            was, stopper.in_host_call = stopper.in_host_call, True
        try:
            if proc.stopper is not None and proc.stopper.status is not None:
                raise Stop(proc.stopper.status)
            with lock:
                result = _signed(handler(proc, *args))
        except Errno as error:
            result = -error.errno
        except OSError as error:
            result = -(error.errno or errno.EIO)
        except (ProcessExit, ThreadExit, GroupStopped):
            if proc.trace:
                _trace(proc, name, args, "?")
            raise
        finally:
            proc.mem.enter(outer)
            if stopper is not None:
                stopper.in_host_call = was
        if proc.trace:
            _trace(proc, name, args, _result_text(result))
        current = group.current
        if current.pending & ~current.sigmask:
            return result, _deliver(proc, caller)
        return result, False
    return call


def _deliver(proc: Process, caller: Any) -> bool:
    """Signals for the calling thread that arrived during a syscall, delivered as it returns; True
    when the syscall may be restarted (SA_RESTART)."""
    outer = proc.mem.context
    proc.mem.enter(caller)
    try:
        return process.deliver_pending(proc)
    finally:
        proc.mem.enter(outer)


# ---- linking -------------------------------------------------------------------------------------

def wat_type(ty: Any) -> str:
    """An import's type in wasm text form: (func (param i32 i64) (result i32)), (memory 1), ..."""
    import wasmtime

    if isinstance(ty, wasmtime.FuncType):
        params = f" (param {' '.join(map(str, ty.params))})" if ty.params else ""
        results = f" (result {' '.join(map(str, ty.results))})" if ty.results else ""
        return f"(func{params}{results})"
    if isinstance(ty, wasmtime.MemoryType):
        maximum = f" {ty.limits.max}" if ty.limits.max is not None else ""
        return f"(memory {ty.limits.min}{maximum})"
    if isinstance(ty, wasmtime.GlobalType):
        return f"(global {'(mut ' + str(ty.content) + ')' if ty.mutable else ty.content})"
    if isinstance(ty, wasmtime.TableType):
        return f"(table {ty.limits.min} {ty.element})"
    return type(ty).__name__.removesuffix("Type").lower()


def _describe_import(imp: Any) -> str:
    return f"{imp.module}.{imp.name} {wat_type(imp.type)}"


def _row_of(name: str) -> str:
    """The table row an import runs as: itself, or the row its alias names (the table is read only for
    a name the embedder did not register)."""
    if name in SYSCALLS or name in REFUSED:
        return name
    return abi.alias_of(name) or name


def syscall_handler(name: str, nparams: int) -> tuple[Handler | None, str | None]:
    """The handler for env.__syscall_<name> taking `nparams` i32s, or why there is none.

    Implemented syscalls get their handler, refused ones (refused.py) their errno, an alias (the table's
    `alias` rows) its row's; other Linux syscall names get the -ENOSYS stub; anything else is missing.
    """
    row = _row_of(name)
    handler = SYSCALLS.get(row) or _REFUSALS.get(row) or (enosys if name in abi.linux_syscalls() else None)
    if handler is None:
        return None, "no such Linux syscall"
    low, high = _arity(handler)
    if not low <= nparams <= high:
        expect = str(low) if low == high else f"{low} to {high}"
        return None, f"takes {nparams} parameters; the embedder expects {expect}"
    return handler, None


def _lookup(imp: Any, wasmtime: Any) -> tuple[Handler | None, str | None]:
    """The handler for one import, or a reason why there is none."""
    if imp.module != "env" or not imp.name or not imp.name.startswith(PREFIX):
        return None, "not provided by the embedder"
    ty = imp.type
    if not isinstance(ty, wasmtime.FuncType):
        return None, "must be a function"
    i32 = wasmtime.ValType.i32()
    if any(p != i32 for p in ty.params) or list(ty.results) != [i32]:
        return None, f"has the wrong type; every syscall is (func (param i32 ...) (result i32))"
    return syscall_handler(imp.name[len(PREFIX):], len(ty.params))


def link(engine: Any, module: Any, proc: Process, wasm_name: str, store: Any = None,
         max_memory: int | None = None) -> Any:
    """A Linker that satisfies every import of `module`, or EmbedderError listing all that it can't.

    A threaded module's shared `env.memory` import is created here (its limits from the import, the
    maximum lowered to `max_memory` bytes when given) and kept as `proc.shared_memory`.
    """
    import wasmtime

    from . import rawcall

    linker = wasmtime.Linker(engine)
    problems, defined = [], set()
    for imp in module.imports:
        if isinstance(imp.type, wasmtime.MemoryType):
            reason = _define_memory(linker, engine, store, imp, proc, max_memory)
            if reason:
                problems.append(f"  {_describe_import(imp)}: {reason}")
            continue
        handler, reason = _lookup(imp, wasmtime)
        if handler is None:
            problems.append(f"  {_describe_import(imp)}: {reason}")
        elif imp.name not in defined:
            defined.add(imp.name)
            name = imp.name[len(PREFIX):]
            rawcall.define(linker, "env", imp.name, imp.type, host_function(proc, name, handler))
    if problems:
        raise EmbedderError(
            f"{wasm_name}: the module needs {len(problems)} import(s) the muslforge embedder does not "
            f"provide:\n" + "\n".join(problems) + "\nRebuild it against the muslforge wasm32 sysroot, "
            "whose libc imports only env.__syscall_<linux syscall name> functions.")
    return linker


def _define_memory(linker: Any, engine: Any, store: Any, imp: Any, proc: Process,
                   max_memory: int | None) -> str | None:
    """Define the shared env.memory a threaded module imports; why not, when it can't be."""
    import wasmtime

    from .guest import shared_memory

    ty = imp.type
    if imp.module != "env" or imp.name != "memory" or store is None:
        return "not provided by the embedder"
    if not ty.is_shared or ty.is_64:
        return ("only a shared 32-bit memory can be imported (threaded programs are linked with "
                "--import-memory --shared-memory: arch wasm32-threads)")
    limits = ty.limits
    maximum = limits.max if limits.max is not None else 65536
    if max_memory is not None:
        maximum = min(maximum, max_memory // abi.WASM_PAGE)
        if maximum < limits.min:
            return (f"needs {limits.min * abi.WASM_PAGE} bytes at start, more than --max-memory "
                    f"{max_memory}; raise the limit")
    try:
        memory = shared_memory(engine, wasmtime.MemoryType(wasmtime.Limits(limits.min, maximum), shared=True))
    except wasmtime.WasmtimeError as error:
        return f"cannot create it: {_one_line(error)}"
    linker.define(store, "env", "memory", memory)
    proc.shared_memory = memory
    return None


# ---- the process block ---------------------------------------------------------------------------

def _auxv(random_at: int) -> list[tuple[int, int]]:
    return [(abi.AT_PAGESZ, abi.WASM_PAGE), (abi.AT_RANDOM, random_at), (abi.AT_UID, os.getuid()),
            (abi.AT_EUID, os.geteuid()), (abi.AT_GID, os.getgid()), (abi.AT_EGID, os.getegid()),
            (abi.AT_SECURE, 0), (abi.AT_NULL, 0)]


def process_block(base: int, argv: Sequence[str], env: Mapping[str, str]) -> tuple[bytes, int]:
    """The Linux-style initial process block to place at `base` (16-aligned), and its length.

    argc, argv[], NULL, envp[], NULL, auxv pairs ending with AT_NULL, 16 random bytes (AT_RANDOM), then
    the NUL-terminated strings. Every slot is a 32-bit little-endian word.
    """
    strings = [os.fsencode(a) + b"\0" for a in argv]
    strings += [os.fsencode(f"{k}={v}") + b"\0" for k, v in env.items()]
    words = 1 + len(argv) + 1 + len(env) + 1 + 2 * len(_auxv(0))
    random_at = base + 4 * words
    text_at = random_at + 16
    pointers, offset = [], text_at
    for s in strings:
        pointers.append(offset)
        offset += len(s)
    argv_ptrs, env_ptrs = pointers[:len(argv)], pointers[len(argv):]
    slots = [len(argv), *argv_ptrs, 0, *env_ptrs, 0]
    slots += [v for pair in _auxv(random_at) for v in pair]
    block = b"".join((s & 0xFFFFFFFF).to_bytes(4, "little") for s in slots)
    block += os.urandom(16) + b"".join(strings)
    return block, len(block)


def _export(instance: Any, store: Any, name: str, kind: Any, wasm_name: str) -> Any:
    item = instance.exports(store).get(name)
    if not isinstance(item, kind):
        raise EmbedderError(f"{wasm_name}: the module does not export {kind.__name__.lower()} '{name}'. "
                            "Link it against the muslforge wasm32 sysroot (crt1.o exports _start; link with "
                            "--export=__heap_base).")
    return item


def prepare(proc: Process, instance: Any, store: Any, argv: Sequence[str], env: Mapping[str, str],
            wasm_name: str) -> Any:
    """Write the process block above __heap_base, set the break after it; return (_start, block addr)."""
    import wasmtime

    heap_base = _export(instance, store, "__heap_base", wasmtime.Global, wasm_name).value(store)
    start = _export(instance, store, "_start", wasmtime.Func, wasm_name)
    if proc.shared_memory is not None:
        proc.mem = SharedGuestMemory(proc.shared_memory, store)
    else:
        proc.mem = GuestMemory(_export(instance, store, "memory", wasmtime.Memory, wasm_name), store)
    table = instance.exports(store).get("__indirect_function_table")
    proc.table = table if isinstance(table, wasmtime.Table) else None
    base = (heap_base + 15) & ~15
    block, length = process_block(base, argv, env)
    brk = (base + length + abi.WASM_PAGE - 1) // abi.WASM_PAGE * abi.WASM_PAGE
    if brk > proc.mem.size():
        proc.mem.grow((brk - proc.mem.size()) // abi.WASM_PAGE)
    proc.mem.write(base, block)
    proc.heap = Heap(proc.mem, brk)
    return start, base


# ---- running -------------------------------------------------------------------------------------

def engine() -> Any:
    """A wasmtime Engine with what musl programs use: the exceptions proposal (setjmp/longjmp), the
    threads proposal and shared memories (the wasm32-threads arch), and epoch interruption (Ctrl-C,
    --timeout and the end of a threaded program stop guest code that is running)."""
    import wasmtime

    config = wasmtime.Config()
    config.wasm_exceptions = True
    config.wasm_threads = True
    config.shared_memory = True
    config.epoch_interruption = True
    return wasmtime.Engine(config)


def new_store(eng: Any) -> Any:
    """A Store whose guest code traps at the engine's next epoch increment (limits.Stopper, a thread
    group's end)."""
    import wasmtime

    store = wasmtime.Store(eng)
    store.set_epoch_deadline(1)
    return store


def load(eng: Any, wasm: Path | bytes) -> Any:
    """Compile a module from a file (or from bytes: tests); EmbedderError when it can't. A file's
    compiled code is cached (module_cache), so a second start skips compilation."""
    import wasmtime

    try:
        data = wasm if isinstance(wasm, (bytes, bytearray)) else Path(wasm).read_bytes()
    except OSError as error:
        raise EmbedderError(f"cannot read {wasm}: {error.strerror}") from None
    name = _name(wasm)
    if not data:
        raise EmbedderError(f"{name} is empty, not a wasm module; give the .wasm file the linker wrote")
    if data[:4] != WASM_MAGIC:
        raise EmbedderError(f"{name} is not a wasm module: it does not start with the bytes \\0asm "
                            f"(it starts with {bytes(data[:8])!r}); give the .wasm file the linker wrote")
    cached = None if isinstance(wasm, (bytes, bytearray)) else module_cache(data)
    if cached is not None and cached.is_file():
        # Read, not mapped (deserialize_file maps the file): a cache file truncated or rewritten in
        # place while a module made from it lives would crash this process with SIGBUS.
        try:
            return wasmtime.Module.deserialize(eng, cached.read_bytes())
        except (wasmtime.WasmtimeError, OSError):
            pass                          # another wasmtime or engine configuration: compile again
    try:
        module = wasmtime.Module(eng, data)
    except wasmtime.WasmtimeError as error:
        raise EmbedderError(f"{name} is not a valid wasm module for this embedder: "
                            f"{_parse_error(error, len(data))}") from None
    if cached is not None:
        _store(cached, module)
    return module


def module_cache(data: bytes) -> Path:
    """Where the compiled form of `data` is kept: MUSLFORGE_CACHE/wasm-modules/<sha256>-<wasmtime>.cwasm.
    wasmtime itself refuses (and we recompile) a file made by another version or engine configuration."""
    from .. import paths

    try:
        from _sha256 import sha256     # the built-in one: hashlib's OpenSSL load costs start-up time
    except ImportError:
        from hashlib import sha256
    digest = sha256(data).hexdigest()
    return paths.cache_dir() / "wasm-modules" / f"{digest}-{_wasmtime_version()}.cwasm"


def _wasmtime_version() -> str:
    import wasmtime

    site = Path(wasmtime.__file__).parent.parent
    found = [n for n in os.listdir(site) if n.startswith("wasmtime-") and n.endswith(".dist-info")]
    return found[0][len("wasmtime-"):-len(".dist-info")] if len(found) == 1 else "unknown"


def _store(target: Path, module: Any) -> None:
    """Write the compiled module aside, then rename: a reader never sees half a file."""
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        temp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
        temp.write_bytes(module.serialize())
        os.replace(temp, target)
    except OSError:
        pass                              # no writable cache: just no speed-up


def _parse_error(error: Any, size: int) -> str:
    text = _one_line(error)
    eof = re.search(r"unexpected end-of-file \(at offset (0x[0-9a-f]+)\)", text)
    if eof:
        return (f"truncated at byte {size} (the section that starts at byte {int(eof.group(1), 16)} runs "
                "past the end of the file); rebuild it")
    return text


def _name(wasm: Path | bytes) -> str:
    return "<module>" if isinstance(wasm, (bytes, bytearray)) else Path(wasm).name


def report_trap(proc: Process, wasm_name: str, trap: Any) -> None:
    """A headline with the cause, then wasmtime's message with its wasm backtrace, on stderr."""
    message = str(getattr(trap, "message", trap)).rstrip()
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    cause = lines[-1] if lines else "trap"
    cause = cause.split(": ", 1)[1] if cause[:1].isdigit() and ": " in cause else cause
    proc.log(f"muslforge.wasm: {wasm_name}: {cause}")
    proc.log(message)
    frames = getattr(trap, "frames", None) or []
    if frames and "backtrace" not in message:
        proc.log("wasm backtrace:")
        for index, frame in enumerate(frames):
            proc.log(f"  {index}: {frame.func_name or '<func ' + str(frame.func_index) + '>'} "
                     f"(module offset {frame.module_offset:#x})")


def _one_line(error: Any) -> str:
    """wasmtime's message with its whole chain of causes on one line (never a cut-off "Caused by:")."""
    lines = [line.strip() for line in str(error).splitlines()]
    return "; ".join(line for line in lines if line and line != "Caused by:").replace(":;", ":")


class Instance:
    """One instantiated guest process, ready to run: `run()` calls _start, `call()` any export (tests)."""

    def __init__(self, wasm: Path | bytes, argv: Sequence[str], *, env: Mapping[str, str] | None = None,
                 root: Path | None = None, trace: bool = False, stdin: Any = None, stdout: Any = None,
                 stderr: Any = None, mounts: Sequence[MountSpec] = (), cwd: str | None = None,
                 tmp: Path | None = None, max_memory: int | None = None,
                 max_threads: int = DEFAULT_MAX_THREADS, net: Any = None, processes: Any = None):
        self.name = _name(wasm)
        self.max_memory = max_memory
        self.timeout: float | None = None
        self.engine = eng = engine()
        module = load(eng, wasm)
        self.proc = Process(root=root, stdin=stdin, stdout=stdout, stderr=stderr, trace=trace,
                            mounts=mounts, cwd=cwd, tmp=tmp, max_threads=max_threads, net=net)
        if processes is not None:
            from .children import adopt
            adopt(self.proc, processes)
        self.proc.max_memory = max_memory
        try:
            self._instantiate(eng, module, wasm, argv, env)
        except BaseException:
            self.close()
            raise

    def _instantiate(self, eng: Any, module: Any, wasm: Path | bytes, argv: Sequence[str],
                     env: Mapping[str, str] | None) -> None:
        import wasmtime

        self.store = new_store(eng)
        self.proc.engine = eng
        signals.install(self.proc, self.store, self.proc.threads.main)
        linker = link(eng, module, self.proc, self.name, self.store, self.max_memory)
        if self.max_memory is not None:
            self.store.set_limits(memory_size=self.max_memory)
        self.trapped: Any = None
        try:
            self.instance = linker.instantiate(self.store, module)
        except wasmtime.Trap as trap:     # the module's own start function trapped: run() reports it
            self.trapped = trap
            return
        except wasmtime.WasmtimeError as error:
            raise EmbedderError(f"{self.name}: instantiation failed: {_one_line(error)}"
                                f"{self._memory_hint(module)}") from None
        argv = list(argv) or [str(wasm) if not isinstance(wasm, (bytes, bytearray)) else "a.out"]
        self.start, self.block = prepare(self.proc, self.instance, self.store, argv,
                                         dict(os.environ if env is None else env),
                                         self.name)
        if self.proc.shared_memory is not None and THREAD_START in self.instance.exports(self.store):
            from .spawn import Spawner
            self.proc.threads.spawner = Spawner(self.proc, self.name, eng, linker, module)

    def _memory_hint(self, module: Any) -> str:
        if self.max_memory is None:
            return ""
        return (f" (the module's memory needs more than --max-memory {self.max_memory} bytes at start; "
                "raise the limit)")

    def call(self, export: str, *args: int) -> Any:
        """Call an exported function; ProcessExit and traps propagate (tests use this)."""
        return self.instance.exports(self.store)[export](self.store, *args)

    def run(self, *, timeout: float | None = None) -> int:
        """Call _start and return the exit status (see the module doc); SIGINT, SIGTERM and `timeout`
        (seconds) stop it (limits.py)."""
        if self.trapped is not None:
            report_trap(self.proc, self.name, self.trapped)
            return TRAP_STATUS
        group = self.proc.threads
        self.proc.deadline = None if timeout is None else time.monotonic() + timeout   # children's too
        with Stopper(self.engine, timeout, on_stop=group.end, guest=self._host_signal) as stopper:
            self.proc.stopper = stopper
            try:
                return self._stopped(self._start())
            finally:
                group.end(0)              # no-op unless threads outlive an error here
                group.join()
                if stopper.status is not None and getattr(self.proc, "children", None) is not None:
                    self.proc.children.kill_all()     # stopped (timeout, signal): its children too
                self.proc.stopper = None

    def _host_signal(self, sig: int, post: bool) -> bool:
        """SIGINT/SIGTERM sent to the embedder: True when the guest handles or ignores it itself
        (posted to it when `post`), False when the host's default action (stop) applies."""
        replaced = getattr(self.proc, "replaced_by", None)
        if replaced is not None and replaced.returncode is None:
            if post:                      # after execve: the new program is this process now
                with contextlib.suppress(ProcessLookupError):
                    os.kill(replaced.pid, sig)
            return True
        if not signals.guest_takes(self.proc, sig):
            return False
        if post:
            signals.post_process(self.proc, sig, code=signals.SI_USER)   # kill() from another process
        return True

    def _start(self) -> int:
        """Run _start as the main thread; with threads, until the program ends (spawn.run_thread)."""
        from .spawn import run_thread

        args = (self.block,) if len(self.start.type(self.store).params) == 1 else ()
        group = self.proc.threads
        try:
            status = run_thread(self.proc, self.name, group.main, lambda: self.start(self.store, *args))
            return group.wait_all() if status is None else status
        finally:
            self.proc.fds.flush()

    def _stopped(self, status: int) -> int:
        if 128 < status < 128 + abi.NSIG and status == self.proc.stopper.status:
            self.proc.death_signal = status - 128        # a child embedder re-raises it (children.py)
        if status == TIMEOUT_STATUS and self.proc.stopper.status == TIMEOUT_STATUS:
            self.proc.log(f"muslforge.wasm: {self.name}: stopped: it ran past the time limit "
                          f"(--timeout {self.timeout:g} s)")
        return status

    def close(self) -> None:
        if self.proc.timers is not None:
            self.proc.timers.close()
        self.proc.fds.flush()
        self.proc.shared.close(self.proc.mem)
        self.proc.fds.close_all()
        self.proc.close_namespace()


def execute(wasm: Path, argv: Sequence[str], *, timeout: float | None = None, **options: Any) -> int:
    """Compile, link and run one module as a process; returns its exit status (see the module doc)."""
    instance = Instance(wasm, argv, **options)
    instance.timeout = timeout
    try:
        status = instance.run(timeout=timeout)
    finally:
        instance.close()
    if options.get("processes") is not None:
        from .children import reraise_death
        reraise_death(instance.proc)
    return status
