"""brk, mmap/mmap2, munmap, mremap on linear memory."""

import errno

import pytest

from muslforge.wasm import abi
from muslforge.wasm.wat import syscall_module
from tests.unit.wasm_guest import call, instance

PAGE = abi.WASM_PAGE
ANON = abi.MAP_PRIVATE | abi.MAP_ANONYMOUS
MODULE = syscall_module({"brk": 1, "mmap2": 6, "munmap": 2, "mremap": 5, "madvise": 3, "openat": 4,
                                 "msync": 3, "close": 1},
                        heap_base=PAGE + 100, pages=2)


@pytest.fixture
def inst(tmp_path):
    with instance(MODULE, tmp_path) as running:
        yield running


def u(value):
    return value & 0xFFFFFFFF


def test_break_starts_page_aligned_after_the_process_block(inst):
    start = u(call(inst, "brk", 0))
    assert start % PAGE == 0 and start >= PAGE + 112
    assert u(call(inst, "brk", start + 3 * PAGE + 5)) == start + 3 * PAGE + 5
    assert inst.proc.mem.size() >= start + 3 * PAGE + 5
    inst.proc.mem.write(start + 3 * PAGE, b"ok")           # the new break is usable memory
    assert u(call(inst, "brk", 16)) == start + 3 * PAGE + 5    # below the start: refused, unchanged


def test_mmap_is_page_aligned_zeroed_and_reused(inst):
    a = u(call(inst, "mmap2", 0, 3 * PAGE, 3, ANON, -1, 0))
    assert a % PAGE == 0
    assert inst.proc.mem.read(a, 3 * PAGE) == bytes(3 * PAGE)
    inst.proc.mem.write(a, b"dirty")
    assert call(inst, "munmap", a, 3 * PAGE) == 0
    b = u(call(inst, "mmap2", 0, 100, 3, ANON, -1, 0))
    assert b == a and inst.proc.mem.read(b, 5) == bytes(5)


def test_break_cannot_grow_into_a_mapping(inst):
    brk = u(call(inst, "brk", 0))
    mapped = u(call(inst, "mmap2", 0, PAGE, 3, ANON, -1, 0))
    assert mapped >= brk
    assert u(call(inst, "brk", mapped + PAGE)) == brk


def test_mremap_grows_in_place_or_moves(inst):
    a = u(call(inst, "mmap2", 0, PAGE, 3, ANON, -1, 0))
    inst.proc.mem.write(a, b"keep")
    assert u(call(inst, "mremap", a, PAGE, 2 * PAGE, 0, 0)) == a        # at the end: grows in place
    blocker = u(call(inst, "mmap2", 0, PAGE, 3, ANON, -1, 0))
    assert blocker == a + 2 * PAGE
    assert call(inst, "mremap", a, 2 * PAGE, 4 * PAGE, 0, 0) == -errno.ENOMEM
    moved = u(call(inst, "mremap", a, 2 * PAGE, 4 * PAGE, abi.MREMAP_MAYMOVE, 0))
    assert moved != a and inst.proc.mem.read(moved, 4) == b"keep"
    assert u(call(inst, "mremap", moved, 4 * PAGE, PAGE, 0, 0)) == moved
    assert call(inst, "mremap", 12345, PAGE, 2 * PAGE, 1, 0) == -errno.EINVAL


def test_mmap_errors_and_file_mappings(inst, tmp_path):
    assert call(inst, "mmap2", 0, 0, 3, ANON, -1, 0) == -errno.EINVAL
    assert call(inst, "mmap2", 0, PAGE, 3, abi.MAP_PRIVATE, 42, 0) == -errno.EBADF
    assert call(inst, "mmap2", 5 * PAGE, PAGE, 3, ANON | abi.MAP_FIXED, -1, 0) == -errno.ENOMEM
    (tmp_path / "data").write_bytes(b"0123456789" * 1000)
    inst.proc.mem.write(1024, b"data\0")
    fd = call(inst, "openat", -100, 1024, 0, 0)
    addr = u(call(inst, "mmap2", 0, 20000, 1, abi.MAP_PRIVATE, fd, 1))
    assert inst.proc.mem.read(addr, 10) == (b"0123456789" * 1000)[4096:4106]
    assert call(inst, "mmap2", 0, PAGE, 3, abi.MAP_SHARED, fd, 0) == -errno.EACCES   # fd is read-only
    assert call(inst, "madvise", addr, PAGE, 4) == 0


def test_writable_shared_file_mappings_reach_the_file(inst, tmp_path):
    """Written back at msync, munmap and exit, within the file's size; the file stays open meanwhile."""
    (tmp_path / "shm").write_bytes(bytes(100))
    inst.proc.mem.write(1024, b"shm\0")
    fd = call(inst, "openat", -100, 1024, abi.O_RDWR, 0)
    addr = u(call(inst, "mmap2", 0, PAGE, 3, abi.MAP_SHARED, fd, 0))
    assert call(inst, "close", fd) == 0
    inst.proc.mem.write(addr, b"synced")
    assert call(inst, "msync", addr, PAGE, 4) == 0
    assert (tmp_path / "shm").read_bytes()[:6] == b"synced"
    inst.proc.mem.write(addr + 10, b"unmapped")
    assert call(inst, "munmap", addr, PAGE) == 0
    assert (tmp_path / "shm").read_bytes() == b"synced" + bytes(4) + b"unmapped" + bytes(82)
    fd = call(inst, "openat", -100, 1024, abi.O_RDWR, 0)
    addr = u(call(inst, "mmap2", 0, PAGE, 3, abi.MAP_SHARED, fd, 0))
    inst.proc.mem.write(addr + 96, b"at exit, cut at EOF")
    inst.close()
    assert (tmp_path / "shm").read_bytes()[96:] == b"at e"



def test_break_regrowth_is_zeroed(inst):
    start = u(call(inst, "brk", 0))
    call(inst, "brk", start + 100)
    inst.proc.mem.write(start + 50, b"stale")
    call(inst, "brk", start + 10)
    assert u(call(inst, "brk", start + 100)) == start + 100
    assert inst.proc.mem.read(start + 50, 5) == bytes(5)
