"""Driving a hand-written WAT module (muslforge.wasm.wat) from a unit test: an Instance that closes
itself, its syscalls called by name, paths and buffers in its memory."""

from __future__ import annotations

import contextlib
import io
import os
from collections.abc import Iterator

from muslforge.wasm import abi
from muslforge.wasm.host import Instance

FDCWD = abi.AT_FDCWD
PATH, BUF = 1024, 8192          # where paths and read buffers go in guest memory by default


@contextlib.contextmanager
def instance(module: bytes, root, **options) -> Iterator[Instance]:
    """`module` instantiated as a process seeing `root`; stdout and stderr are captured unless given."""
    options.setdefault("stdout", io.BytesIO())
    options.setdefault("stderr", io.BytesIO())
    running = Instance(module, ["t"], root=root, **options)
    try:
        yield running
    finally:
        running.close()


def call(running: Instance, name: str, *args: int) -> int:
    """The module's re-export of env.__syscall_<name> (sys_<name>), called with raw i32s."""
    return running.call("sys_" + name, *args)


class Guest:
    """Syscalls as methods (guest.openat(...)), plus paths and reads through guest memory."""

    def __init__(self, running: Instance):
        self.instance = running
        self.mem = running.proc.mem

    def __getattr__(self, name):
        return lambda *args: call(self.instance, name, *args)

    def path(self, text: str, at: int = PATH) -> int:
        self.mem.write(at, os.fsencode(text) + b"\0")
        return at

    def open(self, text: str, flags: int = 0, mode: int = 0o644, dirfd: int = FDCWD) -> int:
        return self.openat(dirfd, self.path(text), flags, mode)

    def read_all(self, fd: int) -> bytes | int:
        count = self.read(fd, BUF, 4096)
        return self.mem.read(BUF, count) if count >= 0 else count
