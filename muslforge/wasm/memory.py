"""Memory syscalls: brk, mmap/mmap2, munmap, mremap, madvise, mprotect.

Linear memory is managed in 64 KiB wasm pages (AT_PAGESZ). Everything below the initial break (data,
stack, the process block) belongs to the program. The break grows upward with memory.grow; anonymous
mmap takes the first run of freed pages, else grows memory at its end and hands out the new pages, so the
break can grow only while nothing is mapped above it (musl's malloc then falls back to mmap). Fresh
mappings are zero-filled, reused ones are cleared. MAP_FIXED is honoured only inside pages the guest has
mapped already. A file mapping is a copy read from the file; a writable MAP_SHARED one is written
back to the file (within its current size) at msync, munmap and exit, and keeps the open file alive
meanwhile, as the kernel's mapping does. The copy is this guest's own: another process writing the
file does not see it change before then.
"""

from __future__ import annotations

import errno
import os

from . import abi
from ._registry import syscall
from .errors import Errno
from .fdtable import OpenFile
from .guest import GuestMemory, u32

PAGE = abi.WASM_PAGE
_PROGRAM, _MAPPED, _FREE = 0, 1, 2
_MAX_PAGES = 65536


def _pages(length: int) -> int:
    return (length + PAGE - 1) // PAGE


class Heap:
    """The break and the page map (one state byte per wasm page) of a 32-bit linear memory."""

    def __init__(self, mem: GuestMemory, initial_break: int):
        self.mem = mem
        self.brk_start = self.brk = self.brk_high = initial_break
        self.state = bytearray(_MAX_PAGES)

    def _grow_to(self, end: int) -> None:
        size = self.mem.size()
        if end > size:
            self.mem.grow(_pages(end - size))

    def set_brk(self, addr: int) -> int:
        addr = u32(addr)
        if addr < self.brk_start:
            return self.brk
        first, last = self.brk // PAGE, _pages(addr)
        if _MAPPED in self.state[first:last]:
            return self.brk
        try:
            self._grow_to(addr)
        except Errno:
            return self.brk
        for page in range(first, last):
            if self.state[page] == _FREE:
                self.state[page] = _PROGRAM
                self.mem.fill(page * PAGE, PAGE)
        if addr > self.brk and self.brk < self.brk_high:       # regrowth after a shrink: zeroed again
            self.mem.fill(self.brk, min(addr, self.brk_high) - self.brk)
        self.brk, self.brk_high = addr, max(addr, self.brk_high)
        return addr

    def map(self, length: int) -> int:
        """Address of `length` bytes (rounded up to pages) of zeroed memory, or Errno(ENOMEM)."""
        count = _pages(length)
        if count == 0 or count >= _MAX_PAGES:
            raise Errno(errno.EINVAL if count == 0 else errno.ENOMEM)
        first = self.state.find(bytes([_FREE]) * count)
        if first >= 0:
            self.mem.fill(first * PAGE, count * PAGE)
        else:
            first = self._append(count)
        self.state[first:first + count] = bytes([_MAPPED]) * count
        return first * PAGE

    def _append(self, count: int) -> int:
        end = self.mem.size() // PAGE
        tail = end
        while tail > 0 and self.state[tail - 1] == _FREE:      # extend a free run at the very end
            tail -= 1
        tail = max(tail, _pages(self.brk))
        if tail + count > _MAX_PAGES:
            raise Errno(errno.ENOMEM)
        self._grow_to((tail + count) * PAGE)
        if end > tail:
            self.mem.fill(tail * PAGE, (end - tail) * PAGE)
        return tail

    def unmap(self, addr: int, length: int) -> None:
        if addr % PAGE or length <= 0:
            raise Errno(errno.EINVAL)
        first, last = addr // PAGE, min(_pages(addr + length), _MAX_PAGES)
        for page in range(first, last):
            if self.state[page] == _MAPPED:
                self.state[page] = _FREE

    def mapped(self, addr: int, length: int) -> bool:
        first, last = addr // PAGE, _pages(addr + length)
        return last > first and all(s == _MAPPED for s in self.state[first:last])

    def remap(self, old: int, old_len: int, new_len: int, may_move: bool) -> int:
        old_pages, new_pages = _pages(old_len), _pages(new_len)
        if old % PAGE or new_pages == 0 or not self.mapped(old, old_len):
            raise Errno(errno.EINVAL if old % PAGE or new_pages == 0 else errno.EFAULT)
        start = old // PAGE
        if new_pages <= old_pages:
            self.unmap((start + new_pages) * PAGE, (old_pages - new_pages) * PAGE)
            return old
        if self._extend_in_place(start, old_pages, new_pages):
            return old
        if not may_move:
            raise Errno(errno.ENOMEM)
        new = self.map(new_len)
        self.mem.move(new, old, old_pages * PAGE)
        self.unmap(old, old_pages * PAGE)
        return new

    def _extend_in_place(self, start: int, old_pages: int, new_pages: int) -> bool:
        end_page = self.mem.size() // PAGE
        want = range(start + old_pages, start + new_pages)
        if any(p < end_page and self.state[p] != _FREE for p in want):
            return False
        try:
            self._grow_to((start + new_pages) * PAGE)
        except Errno:
            return False
        for page in want:
            self.mem.fill(page * PAGE, PAGE)
            self.state[page] = _MAPPED
        return True


@syscall("brk")
def sys_brk(proc, addr):
    """brk(0) and failed requests return the current break, as the kernel does."""
    return proc.heap.set_brk(addr) if addr else proc.heap.brk


@syscall("mmap2")
def sys_mmap2(proc, addr, length, prot, flags, fd, pgoff):
    return _mmap(proc, u32(addr), u32(length), prot, flags, fd, u32(pgoff) * abi.MMAP2_UNIT)


@syscall("mmap")
def sys_mmap(proc, addr, length, prot, flags, fd, offset):
    return _mmap(proc, u32(addr), u32(length), prot, flags, fd, u32(offset))


def _mmap(proc, addr: int, length: int, prot: int, flags: int, fd: int, offset: int) -> int:
    if length == 0 or offset % abi.MMAP2_UNIT:
        raise Errno(errno.EINVAL)
    anonymous = bool(flags & abi.MAP_ANONYMOUS)
    file = None if anonymous else proc.fds.get(fd)
    shared = file is not None and flags & abi.MAP_SHARED and prot & abi.PROT_WRITE
    if shared and (file.flags & abi.O_ACCMODE != abi.O_RDWR):
        raise Errno(errno.EACCES)
    if flags & (abi.MAP_FIXED | abi.MAP_FIXED_NOREPLACE):
        if addr % PAGE or not proc.heap.mapped(addr, length) or flags & abi.MAP_FIXED_NOREPLACE:
            raise Errno(errno.EEXIST if flags & abi.MAP_FIXED_NOREPLACE else errno.ENOMEM)
        proc.shared.write_back(proc.mem, addr, length, drop=True)     # replacing a shared mapping
        proc.mem.fill(addr, _pages(length) * PAGE)
        where = addr
    else:
        where = proc.heap.map(length)
    if file is not None:
        if file.hostfd is None:
            raise Errno(errno.ENODEV)
        os.preadv(file.hostfd, [proc.mem.view(where, length)], offset)      # read in place
        if shared:
            proc.shared.add(where, file, offset, length)
    return where


@syscall("munmap")
def sys_munmap(proc, addr, length):
    addr, length = u32(addr), u32(length)
    proc.shared.write_back(proc.mem, addr, length, drop=True)
    proc.heap.unmap(addr, length)
    return 0


class SharedMaps:
    """Writable MAP_SHARED file mappings: address -> (open file, file offset, length)."""

    def __init__(self):
        self.maps: dict[int, tuple[OpenFile, int, int]] = {}

    def add(self, where: int, file: OpenFile, offset: int, length: int) -> None:
        file.refs += 1                    # the mapping keeps the open file description alive
        self.maps[where] = (file, offset, length)

    def write_back(self, mem: GuestMemory, addr: int, length: int, *, drop: bool = False) -> None:
        """Write every mapping that overlaps [addr, addr+length) back to its file (drop: unmapping)."""
        for where, (file, offset, size) in list(self.maps.items()):
            if where < addr + length and addr < where + size:
                self._write(mem, where, file, offset, size)
                if drop:
                    del self.maps[where]
                    file.release()

    def _write(self, mem: GuestMemory, where: int, file: OpenFile, offset: int, size: int) -> None:
        if file.hostfd is None:
            return
        end = min(offset + size, os.fstat(file.hostfd).st_size)   # pages past EOF never reach the file
        if end > offset:
            os.pwrite(file.hostfd, mem.view(where, end - offset), offset)

    def close(self, mem: GuestMemory | None) -> None:
        """At exit: write everything back and let go of the files."""
        for where, (file, offset, size) in list(self.maps.items()):
            if mem is not None:
                self._write(mem, where, file, offset, size)
            file.release()
        self.maps.clear()


@syscall("mremap")
def sys_mremap(proc, old, old_len, new_len, flags, new_addr=0):
    if flags & abi.MREMAP_FIXED:
        raise Errno(errno.ENOSYS)
    proc.shared.write_back(proc.mem, u32(old), u32(old_len), drop=True)    # moved: a private copy now
    return proc.heap.remap(u32(old), u32(old_len), u32(new_len), bool(flags & abi.MREMAP_MAYMOVE))


@syscall("msync")
def sys_msync(proc, addr, length, flags):
    if u32(addr) % PAGE or flags & ~7:
        raise Errno(errno.EINVAL)
    proc.shared.write_back(proc.mem, u32(addr), u32(length))
    return 0


@syscall("madvise", "mprotect", "mlock", "munlock")
def sys_memory_noop(proc, addr, length, arg=0):
    """Advice, protection and locking mean nothing in linear memory: accepted and ignored."""
    return 0
