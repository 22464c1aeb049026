"""Bounds-checked access to the guest's linear memory (the exported `memory`).

Every pointer a syscall receives is an offset into linear memory; a range outside it is -EFAULT, as a bad
pointer is on Linux. Host functions run with wasmtime's Caller as the store context, so `context` is
switched in and out around each call (see host.py).
"""

from __future__ import annotations

import ctypes
import errno
import struct
from typing import Any

from .errors import Errno

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def u32(value: int) -> int:
    """An i32 argument (wasmtime hands them over signed) as the unsigned value C sees."""
    return value & 0xFFFFFFFF


class GuestMemory:
    """Reads and writes the instance's linear memory; all offsets are unsigned 32-bit."""

    def __init__(self, memory: Any, context: Any):
        self.memory = memory
        self.context = context

    def size(self) -> int:
        return self.memory.data_len(self.context)

    def grow(self, pages: int) -> int:
        """Grow by `pages` wasm pages; the old size in bytes, or -ENOMEM (raised) when wasmtime refuses."""
        try:
            return self.memory.grow(self.context, pages) * 65536
        except Exception as error:  # wasmtime.WasmtimeError: over the module's or the engine's maximum
            raise Errno(errno.ENOMEM) from error

    def _base(self, addr: int, length: int) -> int:
        addr = u32(addr)
        if length < 0 or addr + length > self.size():
            raise Errno(errno.EFAULT)
        return ctypes.addressof(self.memory.data_ptr(self.context).contents) + addr

    def read(self, addr: int, length: int) -> bytes:
        if length == 0:
            return b""
        return ctypes.string_at(self._base(addr, length), length)

    def write(self, addr: int, data: bytes) -> None:
        if data:
            ctypes.memmove(self._base(addr, len(data)), data, len(data))

    def fill(self, addr: int, length: int, byte: int = 0) -> None:
        if length:
            ctypes.memset(self._base(addr, length), byte, length)

    def move(self, dst: int, src: int, length: int) -> None:
        if length:
            ctypes.memmove(self._base(dst, length), self._base(src, length), length)

    def cstring(self, addr: int, limit: int = 4096) -> bytes:
        """The NUL-terminated string at addr (at most `limit` bytes, else -ENAMETOOLONG)."""
        addr = u32(addr)
        end = min(self.size(), addr + limit + 1)
        if addr >= end:
            raise Errno(errno.EFAULT)
        chunk = self.read(addr, end - addr)
        nul = chunk.find(b"\0")
        if nul < 0:
            raise Errno(errno.ENAMETOOLONG if end - addr > limit else errno.EFAULT)
        return chunk[:nul]

    def load_u32(self, addr: int) -> int:
        return _U32.unpack(self.read(addr, 4))[0]

    def store_u64(self, addr: int, value: int) -> None:
        self.write(addr, _U64.pack(value & 0xFFFFFFFFFFFFFFFF))
