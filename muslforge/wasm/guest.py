"""Bounds-checked access to the guest's linear memory (the exported `memory`).

Every pointer a syscall receives is an offset into linear memory; a range outside it is -EFAULT, as a bad
pointer is on Linux. Host functions run with wasmtime's Caller as the store context, so `context` is
switched in and out around each call (see host.py).
"""

from __future__ import annotations

import ctypes
import errno
import struct
import threading
from typing import Any

from .errors import Errno

_U32 = struct.Struct("<I")
_U64 = struct.Struct("<Q")


def u32(value: int) -> int:
    """An i32 argument (wasmtime hands them over signed) as the unsigned value C sees."""
    return value & 0xFFFFFFFF


_views: dict[tuple[int, int], memoryview] = {}


def _whole_view(base: int, size: int) -> memoryview:
    """One memoryview over [base, base+size), made once per (base, size): building the ctypes array
    type behind it costs more than a whole syscall. Memory only grows, so few are ever made."""
    view = _views.get((base, size))
    if view is None:
        if len(_views) > 64:
            _views.clear()
        view = _views[(base, size)] = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
    return view


class GuestMemory:
    """Reads and writes the instance's linear memory; all offsets are unsigned 32-bit.

    The memory's base and length are looked up once per host call (`enter`) and after a grow, and
    held as one memoryview over the whole memory, so syscalls read and write guest memory in place.
    """

    def __init__(self, memory: Any, context: Any):
        self.memory = memory
        self.context = context
        self._view: memoryview | None = None

    def enter(self, context: Any) -> None:
        """A host call starts (or returns to an outer one): forget the cached base."""
        self.context = context
        self._view = None

    def whole(self) -> memoryview:
        if self._view is None:
            size = self.memory.data_len(self.context)
            base = ctypes.addressof(self.memory.data_ptr(self.context).contents)
            self._view = _whole_view(base, size)
        return self._view

    def size(self) -> int:
        return len(self.whole())

    def grow(self, pages: int) -> int:
        """Grow by `pages` wasm pages; the old size in bytes, or -ENOMEM (raised) when wasmtime refuses."""
        self._view = None
        try:
            return self.memory.grow(self.context, pages) * 65536
        except Exception as error:  # wasmtime.WasmtimeError: over the module's or the engine's maximum
            raise Errno(errno.ENOMEM) from error

    def view(self, addr: int, length: int) -> memoryview:
        """Guest bytes [addr, addr+length) in place; EFAULT unless all of them are inside memory."""
        addr = u32(addr)
        whole = self.whole()
        if length < 0 or addr + length > len(whole):
            raise Errno(errno.EFAULT)
        return whole[addr:addr + length]

    def read(self, addr: int, length: int) -> bytes:
        return self.view(addr, length).tobytes() if length else b""

    def write(self, addr: int, data: bytes) -> None:
        if data:
            self.view(addr, len(data))[:] = data

    def fill(self, addr: int, length: int, byte: int = 0) -> None:
        if length:
            view = self.view(addr, length)
            ctypes.memset(ctypes.addressof(ctypes.c_ubyte.from_buffer(view)), byte, length)

    def move(self, dst: int, src: int, length: int) -> None:
        if length:
            target, source = self.view(dst, length), self.view(src, length)
            ctypes.memmove(ctypes.addressof(ctypes.c_ubyte.from_buffer(target)),
                           ctypes.addressof(ctypes.c_ubyte.from_buffer(source)), length)

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


class SharedGuestMemory(GuestMemory):
    """A shared memory (threads): the same for every instance and reachable without a store. The store
    context (to call guest functions: signal handlers) and the cached view are per host thread. A
    shared memory never moves, so a view stays valid; it is refreshed when another thread grew it."""

    def __init__(self, memory: Any, context: Any):
        self._local = threading.local()
        super().__init__(memory, context)

    @property
    def context(self) -> Any:
        return getattr(self._local, "context", None)

    @context.setter
    def context(self, value: Any) -> None:
        self._local.context = value

    @property
    def _view(self) -> memoryview | None:
        return getattr(self._local, "view", None)

    @_view.setter
    def _view(self, value: memoryview | None) -> None:
        self._local.view = value

    def whole(self) -> memoryview:
        view = self._view
        if view is None or len(view) != self.memory.data_len():
            size = self.memory.data_len()
            base = ctypes.addressof(self.memory.data_ptr().contents)
            view = self._view = memoryview((ctypes.c_ubyte * size).from_address(base)).cast("B")
        return view

    def grow(self, pages: int) -> int:
        self._view = None
        try:
            return self.memory.grow(pages) * 65536
        except Exception as error:  # wasmtime.WasmtimeError: over the memory's maximum
            raise Errno(errno.ENOMEM) from error

    def load_u32(self, addr: int) -> int:
        """An aligned 32-bit load, atomic on the hosts wasmtime runs on (futex words)."""
        view = self.view(addr, 4)
        return ctypes.c_uint32.from_buffer(view).value if not addr & 3 else super().load_u32(addr)


def shared_memory(engine: Any, memory_type: Any) -> Any:
    """A wasmtime SharedMemory that a Linker can define.

    wasmtime-py 50's SharedMemory._as_extern wraps its pointer once too often (ctypes raises "incompatible
    types, LP_LP_wasmtime_sharedmemory instance"); this subclass hands over the pointer itself.
    """
    import wasmtime
    from wasmtime import _ffi as ffi

    class _Definable(wasmtime.SharedMemory):
        def _as_extern(self) -> Any:
            union = ffi.wasmtime_extern_union(sharedmemory=self.ptr())
            return ffi.wasmtime_extern_t(ffi.WASMTIME_EXTERN_SHAREDMEMORY, union)

    return _Definable(engine, memory_type)
