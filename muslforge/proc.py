"""The one place that starts processes.

Every child gets an argv list (never a shell), a resolved program (a missing one is a ToolMissing that
names the apt-get line), and its output relayed line by line: to the task log when there is one, and
through sys.stdout so that doit captures it and shows it when a task fails.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import shutil
import signal
import subprocess
import sys
from collections import deque
from pathlib import Path
from typing import Callable, Iterable, Mapping, Sequence

from .errors import CommandFailed, ToolMissing

TAIL_LINES = 30

# Debian package for programs whose package name differs from the program name.
_PACKAGES = {
    "ld.lld": "lld", "wasm-ld": "lld", "llvm-ar": "llvm", "llvm-ranlib": "llvm", "llvm-nm": "llvm",
    "llvm-strip": "llvm", "llvm-objcopy": "llvm", "gpgv": "gpgv", "make": "make",
    "mmdebstrap": "mmdebstrap", "patch": "patch", "xz": "xz-utils", "apt-get": "apt", "dpkg": "dpkg",
    "dpkg-deb": "dpkg", "ninja": "ninja-build", "clang++": "clang",
}


def apt_package(program: str) -> str:
    """Best guess at the Debian package that ships `program` (clang-22 -> clang-22, llvm-ar-22 -> llvm-22)."""
    if program.startswith("qemu-") and program.endswith("-static"):
        return "qemu-user-static"
    stem, dash, version = program.rpartition("-")
    if dash and version.isdigit() and stem in _PACKAGES:
        return f"{_PACKAGES[stem]}-{version}"
    return _PACKAGES.get(program, program)


def which(program: str) -> str:
    """The absolute path of `program`, or ToolMissing with the line that installs it."""
    found = shutil.which(program)
    if found is None:
        raise ToolMissing(
            f"'{program}' was not found on PATH. Install it with: "
            f"apt-get install {apt_package(program)} (or choose the Docker backend: MUSLFORGE_BACKEND=docker)."
        )
    return found


def _format(argv: Sequence[str]) -> str:
    return " ".join(str(a) for a in argv)


def _start(argv: Sequence[str | os.PathLike], via: Sequence[str]) -> tuple[list[str], list[str]]:
    """(what is shown, what is started): argv itself, or argv behind a `via` prefix (docker exec ...).

    The program resolved on the host is the first one started, so a missing docker CLI or clang says so.
    """
    shown = [str(a) for a in argv]
    started = [*via, *shown] if via else list(shown)
    started[0] = which(started[0])
    return shown, started


def run(
    argv: Sequence[str | os.PathLike],
    *,
    cwd: Path | None = None,
    env: Mapping[str, str] | None = None,
    log: Path | None = None,
    on_line: Callable[[str], None] | None = None,
    echo: bool = True,
    quiet: bool = False,
    via: Sequence[str] = (),
    where: str = "",
) -> None:
    """Run argv to completion; raise CommandFailed (with the last 30 lines and the log path) if it fails.

    `env` entries are added to this process's environment. `on_line` sees each output line (progress
    counters use it). `quiet` keeps the output out of sys.stdout (it still goes to the log). `via` is
    a prefix that runs argv elsewhere (`docker exec ... ID`), `where` names that place in messages.
    """
    argv, started = _start(argv, via)
    full_env = {**os.environ, **(env or {})}
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    logfile = open_log(log)
    try:
        relay(f"+ {where and f'[{where}] '}{_format(argv)}\n", logfile, sys.stderr if echo else None)
        child = subprocess.Popen(started, cwd=None if via else cwd, env=full_env, stdin=subprocess.DEVNULL,
                                 stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
                                 errors="replace")
        assert child.stdout is not None
        try:
            for line in child.stdout:
                tail.append(line)
                relay(line, logfile, None if quiet else sys.stdout)
                if on_line:
                    on_line(line)
        except BaseException:  # Ctrl-C (or any error) while it runs: it must not outlive this run
            child.kill()
            child.wait()
            raise
        returncode = child.wait()
    finally:
        if logfile:
            logfile.close()
    if returncode != 0:
        raise CommandFailed(_failure_message(argv, returncode, tail, log, where), returncode)


def spawn(argv: Sequence[str], *, pass_fds: Sequence[int] = ()) -> subprocess.Popen:
    """Start argv alongside this process and return at once (the wasm32 embedder's child processes):
    no shell, this process's stdio and environment, exactly `pass_fds` inherited besides them."""
    argv = [str(a) for a in argv]
    return subprocess.Popen(argv, pass_fds=tuple(pass_fds), close_fds=True)


class NativeChild:
    """A host program spawn_native started: what the embedder uses of subprocess.Popen."""

    def __init__(self, pid: int):
        self.pid = pid
        self.returncode: int | None = None

    def wait(self) -> int:
        if self.returncode is None:
            _, status = os.waitpid(self.pid, 0)
            self.returncode = os.waitstatus_to_exitcode(status)
        return self.returncode

    def kill(self) -> None:
        if self.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.pid, signal.SIGKILL)


_POSIX_SPAWN_SETPGROUP, _POSIX_SPAWN_SETSIGDEF, _POSIX_SPAWN_SETSIGMASK = 0x02, 0x04, 0x08
_POSIX_SPAWN_SETSID = 0x80


def spawn_native(program: int, argv: Sequence[bytes], env: Sequence[bytes], fds: Mapping[int, int],
                 cwd: int | None, *, process_group: int | None = None, new_session: bool = False,
                 sigmask: int = 0) -> NativeChild:
    """Start the host program open at fd `program` (the wasm32 embedder's --allow-host-exec) with the
    guest's argv and env (KEY=VALUE entries), each guest fd -> host fd of `fds` at the guest's number
    and no other fd, in the directory open at `cwd` (None: /), every signal at its default action and
    `sigmask` blocked; `process_group` (0: a new one) and `new_session` as subprocess.Popen takes them.
    glibc's posix_spawn (with its fchdir file action, which os.posix_spawn lacks) runs it and reports
    an exec failure as OSError with the errno, as execve would."""
    import ctypes

    libc = ctypes.CDLL(None, use_errno=True)
    top = max([*fds, 2]) + 1
    moved = {guest: fcntl.fcntl(host, fcntl.F_DUPFD_CLOEXEC, top) for guest, host in fds.items()}
    script = os.pread(program, 2, 0) == b"#!"       # its interpreter opens /proc/self/fd/N: keep it
    exe = fcntl.fcntl(program, fcntl.F_DUPFD if script else fcntl.F_DUPFD_CLOEXEC, top)
    actions, attr = ctypes.create_string_buffer(1024), ctypes.create_string_buffer(1024)
    libc.posix_spawn_file_actions_init(actions)
    libc.posix_spawnattr_init(attr)
    try:
        if cwd is not None:
            libc.posix_spawn_file_actions_addfchdir_np(actions, cwd)
        else:
            libc.posix_spawn_file_actions_addchdir_np(actions, b"/")
        for guest, temp in moved.items():
            libc.posix_spawn_file_actions_adddup2(actions, temp, guest)
        for fd in set(range(3)) - set(fds):
            libc.posix_spawn_file_actions_addclose(actions, fd)
        _signals(libc, attr, sigmask, process_group, new_session)
        pid = ctypes.c_int()
        words = [bytes(w) for w in argv] + [None]
        envs = [bytes(e) for e in env if b"=" in e[1:]] + [None]
        code = libc.posix_spawn(ctypes.byref(pid), f"/proc/self/fd/{exe}".encode(), actions, attr,
                                (ctypes.c_char_p * len(words))(*words), (ctypes.c_char_p * len(envs))(*envs))
    finally:
        libc.posix_spawn_file_actions_destroy(actions)
        libc.posix_spawnattr_destroy(attr)
        for fd in (*moved.values(), exe):
            os.close(fd)
    if code:
        raise OSError(code, os.strerror(code))
    return NativeChild(pid.value)


def _signals(libc, attr, sigmask: int, process_group: int | None, new_session: bool) -> None:
    """Every signal at its default action (this process ignores SIGPIPE; a handler does not survive
    exec anyway), `sigmask` blocked, and the group or session asked for."""
    import ctypes

    everything, mask = ctypes.create_string_buffer(128), ctypes.create_string_buffer(128)
    libc.sigfillset(everything)
    libc.sigemptyset(mask)
    for sig in range(1, 65):
        if sigmask >> (sig - 1) & 1:
            libc.sigaddset(mask, sig)
    libc.posix_spawnattr_setsigdefault(attr, everything)
    libc.posix_spawnattr_setsigmask(attr, mask)
    flags = _POSIX_SPAWN_SETSIGDEF | _POSIX_SPAWN_SETSIGMASK
    if new_session:
        flags |= _POSIX_SPAWN_SETSID
    elif process_group is not None:
        flags |= _POSIX_SPAWN_SETPGROUP
        libc.posix_spawnattr_setpgroup(attr, process_group)
    libc.posix_spawnattr_setflags(attr, ctypes.c_short(flags))


def output(argv: Sequence[str | os.PathLike], *, cwd: Path | None = None,
           env: Mapping[str, str] | None = None, check: bool = True) -> str:
    """Run argv quietly and return its stdout; on failure raise CommandFailed with its output's tail."""
    argv = [str(a) for a in argv]
    argv[0] = which(argv[0])
    done = subprocess.run(argv, cwd=cwd, env={**os.environ, **(env or {})}, stdin=subprocess.DEVNULL,
                          capture_output=True, text=True, errors="replace")
    if check and done.returncode != 0:
        tail = deque((done.stdout + done.stderr).splitlines(keepends=True), maxlen=TAIL_LINES)
        raise CommandFailed(_failure_message(argv, done.returncode, tail, None), done.returncode)
    return done.stdout


def capture(argv: Sequence[str | os.PathLike], *, cwd: Path | None = None,
            env: Mapping[str, str] | None = None, stdin_data: bytes = b"",
            timeout: float | None = None, via: Sequence[str] = ()) -> tuple[int, bytes, bytes]:
    """Run argv and return (exit status, stdout, stderr) without judging the status (smoke tests)."""
    _, started = _start(argv, via)
    try:
        done = subprocess.run(started, cwd=None if via else cwd, env={**os.environ, **(env or {})}, input=stdin_data,
                              capture_output=True, timeout=timeout)
    except subprocess.TimeoutExpired as expired:
        return 124, expired.stdout or b"", (expired.stderr or b"") + b"\n[muslforge: timed out]\n"
    return done.returncode, done.stdout, done.stderr


def passthrough(argv: Sequence[str | os.PathLike], *, cwd: Path | None = None,
                env: Mapping[str, str] | None = None, stdin_data: bytes | None = None,
                via: Sequence[str] = ()) -> int:
    """Run argv with this process's stdin/stdout/stderr (or stdin_data) and return its exit status."""
    _, started = _start(argv, via)
    done = subprocess.run(started, cwd=None if via else cwd, env={**os.environ, **(env or {})}, input=stdin_data)
    return done.returncode


def foreground(argv: Sequence[str | os.PathLike]) -> int:
    """Run argv in the foreground as a shell would: same stdio, Ctrl-C and SIGQUIT go to the program
    (this process ignores them while it waits); returns its exit status, or 128 + N when signal N
    killed it."""
    import signal

    argv = [str(a) for a in argv]
    program = which(argv[0])
    saved = {sig: signal.signal(sig, signal.SIG_IGN) for sig in (signal.SIGINT, signal.SIGQUIT)}
    try:
        pid = os.posix_spawn(program, argv, os.environ, setsigdef=(*saved, signal.SIGPIPE, signal.SIGXFSZ))
        _, status = os.waitpid(pid, 0)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    if os.WIFSIGNALED(status):
        return 128 + os.WTERMSIG(status)
    return os.WEXITSTATUS(status)


def open_log(log: Path | None):
    """The task log opened for appending (its folder made), or None."""
    if log is None:
        return None
    log.parent.mkdir(parents=True, exist_ok=True)
    return open(log, "a", encoding="utf-8")


def relay(text: str, logfile, stream) -> None:
    """One piece of a child's output to the log and (unless None) a stream."""
    if logfile:
        logfile.write(text)
    if stream:
        stream.write(text)
        stream.flush()


def _failure_message(argv: list[str], returncode: int, tail: Iterable[str], log: Path | None,
                     where: str = "") -> str:
    lines = "".join(tail).rstrip()
    full_log = f"\nFull log: {log}" if log else ""
    place = f" (in {where})" if where else ""
    return (f"{os.path.basename(argv[0])}{place} exited with status {returncode}: {_format(argv)}\n"
            f"--- last {TAIL_LINES} lines ---\n{lines}{full_log}")
