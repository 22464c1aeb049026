"""Limits and control for a running guest: --timeout, --max-memory, signals sent to the embedder.

SIGINT and SIGTERM stop the guest; so do SIGHUP, SIGQUIT, SIGUSR1 and SIGUSR2 (another guest of the
tree sends those with kill(), tree.py), while SIGWINCH is ignored, as their default actions are.
A guest that handles or ignores one of them itself (sigaction) gets the signal instead, delivered
through the same epoch mechanism (signals.py). wasm code cannot be interrupted by a signal, so stopping
uses wasmtime's epoch interruption: the store's
deadline is one epoch ahead and a watcher thread bumps the engine's epoch when the guest must stop,
which traps the guest at its next loop back-edge or call within microseconds. The watcher wakes on
Python's signal wakeup fd (written by the C-level handler even while the main thread runs wasm) or on
the timeout. A guest blocked inside a host call (sleep, read) is stopped by the Python-level handler,
which raises Stop there. Exit statuses are a shell's: 124 after --timeout, 128 + signal otherwise.
"""

from __future__ import annotations

import contextlib
import os
import re
import select
import signal
import threading
import time
from typing import Any, Callable

from .errors import EmbedderError

TIMEOUT_STATUS = 124
_SIGNALS = (signal.SIGINT, signal.SIGTERM, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1, signal.SIGUSR2,
            signal.SIGWINCH)
_IGNORED = (signal.SIGWINCH,)              # default action: nothing
_SIZE = re.compile(r"(\d+)([KMG]?)(i?B?)?", re.IGNORECASE)
_UNITS = {"": 1, "K": 1 << 10, "M": 1 << 20, "G": 1 << 30}


class Stop(BaseException):
    """Raised inside a host call to end the guest: a signal (status 128 + N) or the timeout (124)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status


def parse_size(text: str) -> int:
    """'65536', '64K', '256M', '1G' (also KiB/MB...: binary units) -> bytes."""
    match = _SIZE.fullmatch(text.strip())
    if not match:
        raise EmbedderError(f"--max-memory {text!r}: give a size in bytes, or with K, M or G (e.g. 256M)")
    return int(match.group(1)) * _UNITS[match.group(2).upper()]


def parse_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if not value > 0:
        raise EmbedderError(f"--timeout {text!r}: give a positive number of seconds (e.g. 10 or 0.5)")
    return value


class Stopper:
    """While active: SIGINT/SIGTERM and the timeout stop the guest (see the module doc)."""

    def __init__(self, engine: Any, timeout: float | None, on_stop: Callable[[int], None] | None = None,
                 guest: Callable[[int, bool], bool] | None = None):
        self.engine = engine
        self.timeout = timeout
        self.on_stop = on_stop               # also told: a threaded program wakes its blocked threads
        self.guest = guest                   # (sig, post) -> True when the guest handles SIGINT/SIGTERM
        self.status: int | None = None       # why the guest was stopped
        self.in_host_call = False
        self._saved: dict[int, Any] = {}
        self._pipe: tuple[int, int] | None = None
        self._thread: threading.Thread | None = None
        self._main = threading.main_thread() is threading.current_thread()

    def __enter__(self) -> Stopper:
        read_end, write_end = os.pipe2(os.O_CLOEXEC | os.O_NONBLOCK)
        self._pipe = (read_end, write_end)
        if self._main:
            for sig in (*_SIGNALS, signal.SIGALRM):
                self._saved[sig] = signal.signal(sig, self._handler)
            self._saved_wakeup = signal.set_wakeup_fd(write_end, warn_on_full_buffer=False)
        self._thread = threading.Thread(target=self._watch, name="muslforge-stopper", daemon=True)
        self._thread.start()
        return self

    def __exit__(self, *exc: Any) -> None:
        read_end, write_end = self._pipe
        if self._main:
            signal.set_wakeup_fd(self._saved_wakeup)
        os.close(write_end)                  # the watcher sees EOF and ends
        self._thread.join()
        os.close(read_end)
        if self._main:
            for sig, previous in self._saved.items():
                signal.signal(sig, previous)

    def _handler(self, sig: int, frame: Any) -> None:
        if sig != signal.SIGALRM and self.guest is not None and self.guest(sig, False):
            return                           # the watcher posts it to the guest
        if sig in _IGNORED:
            return
        status = self.status if sig == signal.SIGALRM else 128 + sig
        if status is None:
            return
        self.status = self.status or status
        if self.in_host_call:
            raise Stop(self.status)

    def _watch(self) -> None:
        read_end = self._pipe[0]
        deadline = None if self.timeout is None else time.monotonic() + self.timeout
        while True:
            wait = None if deadline is None else max(0.0, deadline - time.monotonic())
            ready, _, _ = select.select([read_end], [], [], wait)
            if not ready:
                self._stop(TIMEOUT_STATUS)
                deadline = None
                continue
            try:
                data = os.read(read_end, 64)
            except BlockingIOError:
                continue
            except OSError:
                return
            if not data:
                return
            for sig in data:
                if sig in _SIGNALS and not (self.guest is not None and self.guest(sig, True)) and \
                        sig not in _IGNORED:
                    self._stop(128 + sig)

    def _stop(self, status: int) -> None:
        if self.status is None:
            self.status = status
        from .signals import stop_guest_code
        stop_guest_code(self.engine)
        if self.on_stop is not None:
            self.on_stop(self.status)
        if status == TIMEOUT_STATUS and self._main:
            with contextlib.suppress(OSError):     # wake a host call blocked in the main thread
                signal.pthread_kill(threading.main_thread().ident, signal.SIGALRM)
