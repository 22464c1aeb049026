"""Aligned task titles, a live counter on a terminal, one summary line everywhere.

    FETCH    musl-1.2.6.tar.gz 1.0 MiB from https://... in 0.4 s, sha256 ok, signature ok
    LIBC     aarch64: build/sysroots/aarch64 (1312 objects, 41 s)
    WARNING  no signature for musl-1.2.6.tar.gz on any mirror ...

Summary and warning lines go to sys.stdout (doit shows them with the task's output); the live counter
is drawn on sys.stderr, and only when that is a terminal. Every function takes a `stream` for tests.
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

TITLE_WIDTH = 8
_UNITS = ("B", "KiB", "MiB", "GiB", "TiB")


def title(verb: str, subject: str) -> str:
    """'FETCH    musl-1.2.6': the verb upper-cased and padded so subjects line up."""
    return f"{verb.upper():<{TITLE_WIDTH}} {subject}"


def human_bytes(count: float) -> str:
    """1080786 -> '1.0 MiB'; below 1 KiB the exact count ('512 B')."""
    unit = 0
    while count >= 1024 and unit < len(_UNITS) - 1:
        count /= 1024
        unit += 1
    return f"{int(count)} B" if unit == 0 else f"{count:.1f} {_UNITS[unit]}"


def summary(text: str, *, stream: TextIO | None = None) -> None:
    """Print one finished line, e.g. summary(title('FETCH', 'musl-1.2.6.tar.gz ...'))."""
    out = stream or sys.stdout
    out.write(text.rstrip("\n") + "\n")
    out.flush()


def warn(message: str, *, stream: TextIO | None = None) -> None:
    """'WARNING  <message>' as one line."""
    summary(title("WARNING", message), stream=stream)


def is_tty(stream: TextIO) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False


class Counter:
    """A counter redrawn in place on a terminal (at most ten times a second), silent otherwise.

    `label` is an already-titled prefix ('LIBC     aarch64'); unit 'bytes' shows sizes and a rate.
    """

    def __init__(self, label: str, *, unit: str = "items", total: int | None = None,
                 stream: TextIO | None = None):
        self.label = label
        self.unit = unit
        self.total = total
        self.count = 0
        self.stream = stream or sys.stderr
        self.live = is_tty(self.stream)
        self.started = time.monotonic()
        self._drawn = 0.0

    def step(self, amount: int = 1) -> None:
        self.count += amount
        now = time.monotonic()
        if self.live and now - self._drawn >= 0.1:
            self._drawn = now
            self._draw(now)

    def see_make_line(self, line: str) -> None:
        """Count one object for each compiler line in make's output (`-c ... -o obj/...`)."""
        if " -c " in line and " -o " in line:
            self.step()

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def done(self) -> None:
        """Erase the live line so the summary line that follows starts clean."""
        if self.live and self._drawn:
            self.stream.write("\r\x1b[K")
            self.stream.flush()

    def _draw(self, now: float) -> None:
        if self.unit == "bytes":
            rate = self.count / max(now - self.started, 1e-6)
            of = f" of {human_bytes(self.total)}" if self.total else ""
            text = f"{human_bytes(self.count)}{of} at {human_bytes(rate)}/s"
        else:
            of = f"/{self.total}" if self.total else ""
            text = f"{self.count}{of} {self.unit}"
        self.stream.write(f"\r{self.label} {text}\x1b[K")
        self.stream.flush()
