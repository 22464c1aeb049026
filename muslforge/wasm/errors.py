"""Errors the embedder raises, and the control-flow exceptions its host functions use."""

from __future__ import annotations

from ..errors import MuslforgeError


class EmbedderError(MuslforgeError):
    """The module cannot run here: unreadable file, bad wasm, missing imports or exports."""


class Errno(Exception):
    """Raised inside a syscall handler; the guest sees -errno."""

    def __init__(self, errno: int):
        super().__init__(errno)
        self.errno = errno


class ProcessExit(BaseException):
    """Raised from a host function to stop the instance with an exit status (exit, fatal signal)."""

    def __init__(self, status: int):
        super().__init__(status)
        self.status = status
