"""Locks between muslforge runs that share a download cache or a build directory.

`held(lock_file, what)` takes an exclusive flock on lock_file for the duration of a `with` block. The
holder writes its pid and command line into the file, so a run that finds it taken says who holds it:

    WAIT     musl-1.2.6.tar.gz: pid 4242 (doit fetch) holds /home/u/.cache/muslforge/musl-1.2.6.tar.gz.lock

then waits, up to the lock_timeout setting's seconds (MUSLFORGE_LOCK_TIMEOUT; default 3600; 0 means do
not wait), and fails with a
LockError naming the holder when that runs out. A flock is released by the kernel when its holder dies,
so a killed run never leaves a lock behind. The holder deletes the lock file when it is done, so
caches and build dirs hold no lock files between runs; a run that got the lock of a file deleted
meanwhile sees that its path is gone (or names another file) and locks afresh.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import sys
import time
from pathlib import Path
from typing import Iterator, TextIO

from . import progress
from .errors import LockError

ENV_TIMEOUT = "MUSLFORGE_LOCK_TIMEOUT"   # the lock_timeout setting (muslforge.settings), named in messages
POLL = 0.2          # seconds between attempts
REMIND = 60.0       # a waiting run repeats its line this often


def default_timeout() -> float:
    """The run's lock_timeout setting (validated where settings are resolved)."""
    from . import settings

    return settings.current().lock_timeout


@contextlib.contextmanager
def held(lock_file: Path, what: str, *, timeout: float | None = None,
         stream: TextIO | None = None) -> Iterator[None]:
    """Hold an exclusive lock on lock_file (created if missing) while the block runs.

    what names the thing protected, for messages ('musl-1.2.6.tar.gz', 'the x86_64 sysroot').
    """
    limit = default_timeout() if timeout is None else timeout
    started = time.monotonic()
    while True:
        fd = _open(lock_file)
        try:
            _acquire(fd, lock_file, what, limit - (time.monotonic() - started), stream)
        except BaseException:
            os.close(fd)
            raise
        if _still_named(fd, lock_file):
            break
        os.close(fd)  # the holder before us deleted this file: lock the one now at the path
    try:
        _record_holder(fd)
        yield
    finally:
        lock_file.unlink(missing_ok=True)  # while still held, so nobody locks a file about to vanish
        os.close(fd)  # closing the only descriptor releases the flock


def _open(lock_file: Path) -> int:
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        return os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o644)
    except OSError as exc:
        raise LockError(f"cannot create the lock file {lock_file} ({exc.strerror}); make its folder "
                        f"writable.") from None


def _still_named(fd: int, lock_file: Path) -> bool:
    try:
        return os.stat(lock_file).st_ino == os.fstat(fd).st_ino
    except FileNotFoundError:
        return False


def holder(lock_file: Path) -> str:
    """'pid 4242 (doit fetch)' as recorded by the current holder, or a placeholder."""
    try:
        text = lock_file.read_text(encoding="utf-8", errors="replace").strip()
    except OSError:
        text = ""
    pid, _, command = text.partition(" ")
    if not pid.isdigit():
        return "another process"
    return f"pid {pid} ({command})" if command else f"pid {pid}"


def _acquire(fd: int, lock_file: Path, what: str, limit: float, stream: TextIO | None) -> None:
    started = time.monotonic()
    said = None
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            pass
        waited = time.monotonic() - started
        if waited >= max(limit, 0.0):
            raise LockError(f"{what} is in use: {holder(lock_file)} holds {lock_file} (waited "
                            f"{waited:.0f} s). Let that run finish, or stop it; raise {ENV_TIMEOUT} to "
                            f"wait longer.")
        if said is None or time.monotonic() - said >= REMIND:
            progress.summary(progress.title("WAIT", f"{what}: {holder(lock_file)} holds {lock_file}"),
                             stream=stream)
            said = time.monotonic()
        time.sleep(POLL)


def _record_holder(fd: int) -> None:
    program = Path(sys.argv[0])
    name = program.parent.name if program.name == "__main__.py" else program.name  # python -m doit
    command = " ".join([name, *sys.argv[1:]])
    os.ftruncate(fd, 0)
    os.pwrite(fd, f"{os.getpid()} {command}\n".encode(), 0)
