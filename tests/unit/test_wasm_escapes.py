"""A hostile guest against the namespace: every path and dirfd syscall, renames, races, links, /proc.

The guest's mount is `root`; `outside` (its sibling) holds files the guest must never read, change or
delete. Each attack runs through the real syscall imports of a WAT module (wasm.wat); the race runs a
host thread swapping a symlink in and out while the guest opens through it.
"""

import errno
import io
import os
import threading
import tracemalloc

import pytest

from muslforge.wasm import abi
from muslforge.wasm.host import Instance
from muslforge.wasm.wat import syscall_module
from tests.unit.wasm_guest import Guest, instance

SYSCALLS = {
    "openat": 4, "close": 1, "read": 3, "write": 3, "readv": 3, "writev": 3, "newfstatat": 4, "statx": 5,
    "getdents64": 3, "mkdirat": 3, "unlinkat": 3, "renameat2": 5, "faccessat": 4, "readlinkat": 4,
    "symlinkat": 3, "linkat": 5, "chdir": 1, "fchdir": 1, "getcwd": 2, "utimensat_time64": 4,
    "fchmodat": 3, "truncate64": 3, "pipe2": 2, "fchownat": 5,
}
MODULE = syscall_module(SYSCALLS, pages=4)
FDCWD = abi.AT_FDCWD
P1, P2, BUF = 1024, 3072, 8192
SECRET = b"SECRET outside the sandbox\n"


@pytest.fixture
def world(tmp_path):
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    for name in ("passwd", "secret", "victim"):
        (outside / name).write_bytes(SECRET)
    os.symlink(str(outside), root / "out")              # absolute symlink to outside
    os.symlink("../outside", root / "rel-out")           # relative symlink climbing out
    return root, outside


@pytest.fixture
def guest(world):
    with instance(MODULE, world[0]) as running:
        yield Guest(running)


def untouched(outside):
    """Every file outside is still there, unchanged, and nothing was added."""
    assert sorted(os.listdir(outside)) == ["passwd", "secret", "victim"]
    for name in ("passwd", "secret", "victim"):
        info = os.stat(outside / name)
        assert (outside / name).read_bytes() == SECRET and info.st_mode & 0o777 == 0o644


def test_escape_through_a_renamed_cwd(guest, world):
    """mkdir c; chdir c; rename ../c ../x; symlink outside ../c; open passwd: the cwd stays the real c."""
    root, outside = world
    assert guest.mkdirat(FDCWD, guest.path("c"), 0o755) == 0
    assert guest.chdir(guest.path("c")) == 0
    assert guest.renameat2(FDCWD, guest.path("../c"), FDCWD, guest.path("../x", P2), 0) == 0
    assert guest.symlinkat(guest.path(str(outside)), FDCWD, guest.path("../c", P2)) == 0
    assert guest.open("passwd") == -errno.ENOENT
    fd = guest.open("passwd", abi.O_CREAT | abi.O_WRONLY)
    assert fd >= 3 and (root / "x" / "passwd").exists()
    untouched(outside)


def test_escape_through_a_renamed_directory_fd(guest, world):
    """dfd = open(d); rename d away; symlink outside in its place; openat/unlinkat(dfd, ...) stay inside."""
    root, outside = world
    assert guest.mkdirat(FDCWD, guest.path("d"), 0o755) == 0
    dfd = guest.open("d", abi.O_DIRECTORY)
    assert guest.renameat2(FDCWD, guest.path("d"), FDCWD, guest.path("d2", P2), 0) == 0
    assert guest.symlinkat(guest.path(str(outside)), FDCWD, guest.path("d", P2)) == 0
    assert guest.open("victim", abi.O_RDONLY, dirfd=dfd) == -errno.ENOENT
    assert guest.unlinkat(dfd, guest.path("victim"), 0) == -errno.ENOENT
    assert guest.open("new", abi.O_CREAT | abi.O_WRONLY, dirfd=dfd) >= 3
    assert (root / "d2" / "new").exists()
    untouched(outside)


@pytest.mark.parametrize("link", ["out", "rel-out", "../outside"])
def test_every_path_syscall_refuses_outside(guest, world, link):
    root, outside = world
    (root / "f").write_text("inside")
    p = guest.path
    at = f"{link}/secret"
    enoent = -errno.ENOENT
    assert guest.open(at) == enoent
    assert guest.open(at, abi.O_WRONLY | abi.O_TRUNC) == enoent
    assert guest.open(f"{link}/new", abi.O_CREAT | abi.O_WRONLY) in (enoent, -errno.EACCES)
    assert guest.newfstatat(FDCWD, p(at), BUF, 0) == enoent
    assert guest.newfstatat(FDCWD, p(at), BUF, abi.AT_SYMLINK_NOFOLLOW) == enoent
    assert guest.statx(FDCWD, p(at), 0, 0x7FF, BUF) == enoent
    assert guest.readlinkat(FDCWD, p(at), BUF, 100) == enoent
    assert guest.renameat2(FDCWD, p(at), FDCWD, p("stolen", P2), 0) == enoent
    assert guest.renameat2(FDCWD, p("f"), FDCWD, p(f"{link}/planted", P2), 0) in (enoent, -errno.EACCES)
    assert guest.linkat(FDCWD, p(at), FDCWD, p("stolen", P2), 0) == enoent
    assert guest.linkat(FDCWD, p("f"), FDCWD, p(f"{link}/planted", P2), 0) in (enoent, -errno.EACCES)
    assert guest.symlinkat(p("x"), FDCWD, p(f"{link}/planted", P2)) in (enoent, -errno.EACCES)
    assert guest.unlinkat(FDCWD, p(f"{link}/victim"), 0) == enoent
    assert guest.mkdirat(FDCWD, p(f"{link}/d"), 0o755) in (enoent, -errno.EACCES)
    assert guest.unlinkat(FDCWD, p(link), abi.AT_REMOVEDIR) in (-errno.ENOTDIR, -errno.EACCES, enoent)
    assert guest.utimensat_time64(FDCWD, p(at), 0, 0) == enoent
    assert guest.fchmodat(FDCWD, p(at), 0o777) == enoent
    assert guest.fchownat(FDCWD, p(at), os.getuid(), os.getgid(), 0) == enoent
    assert guest.truncate64(p(at), 0, 0) == enoent
    assert guest.faccessat(FDCWD, p(at), 0, 0) == enoent
    assert guest.chdir(p(link)) in (enoent, 0)
    assert guest.open("secret") == enoent
    untouched(outside)


def test_absolute_paths_and_dotdot_see_only_the_namespace(guest, world):
    root, outside = world
    assert guest.open("/etc/passwd") == -errno.ENOENT
    assert guest.open("../../../../../../etc/passwd") == -errno.ENOENT
    assert guest.open(str(outside / "secret")) == -errno.ENOENT
    assert guest.open("/proc/self/root/etc/passwd") == -errno.ENOENT
    assert guest.open("/proc/self/cwd/../outside/secret") == -errno.ENOENT
    os.symlink("/proc/self/root", root / "proc-root")       # magic links are plain text to the guest
    os.symlink("/proc/self/cwd", root / "proc-cwd")
    assert guest.open("proc-root/etc/passwd") == -errno.ENOENT
    assert guest.open("proc-cwd/secret") == -errno.ENOENT
    assert guest.newfstatat(FDCWD, guest.path("/"), BUF, 0) == 0          # ancestors exist, read-only
    assert guest.mkdirat(FDCWD, guest.path("/newdir"), 0o755) == -errno.EACCES
    assert guest.mkdirat(FDCWD, guest.path("/tmp"), 0o755) == -errno.EEXIST
    assert guest.open("/dev/null/x") == -errno.ENOTDIR
    assert guest.open("/dev/null", abi.O_WRONLY | abi.O_CREAT | abi.O_TRUNC) >= 3
    untouched(outside)


def test_listing_shows_only_what_the_guest_can_see(guest, world):
    root, outside = world
    assert guest.chdir(guest.path(str(root.parent))) == 0      # the mount's virtual parent
    fd = guest.open(".", abi.O_DIRECTORY)
    count = guest.getdents64(fd, BUF, 4096)
    names = _dirent_names(guest.mem.read(BUF, count))
    assert names == [b".", b"..", b"root"]                    # not "outside"
    assert guest.fchdir(fd) == 0
    assert guest.open("outside/secret") == -errno.ENOENT
    untouched(outside)


def _dirent_names(blob):
    names, offset = [], 0
    while offset < len(blob):
        _, _, reclen, _ = abi.DIRENT64.unpack_from(blob, offset)
        names.append(blob[offset + abi.DIRENT64.size:offset + reclen].split(b"\0")[0])
        offset += reclen
    return names


def test_hard_links_cannot_reach_outside_or_cross_mounts(guest, world):
    root, outside = world
    flw = abi.AT_SYMLINK_FOLLOW
    assert guest.linkat(FDCWD, guest.path("out/secret"), FDCWD, guest.path("h", P2), flw) == -errno.ENOENT
    assert guest.linkat(FDCWD, guest.path("out"), FDCWD, guest.path("h", P2), flw) == -errno.ENOENT
    (root / "dd").mkdir()
    assert guest.linkat(FDCWD, guest.path("dd"), FDCWD, guest.path("h", P2), 0) == -errno.EPERM
    (root / "f").write_text("inside")
    assert guest.linkat(FDCWD, guest.path("f"), FDCWD, guest.path("/tmp/h", P2), 0) == -errno.EXDEV
    assert guest.renameat2(FDCWD, guest.path("f"), FDCWD, guest.path("/tmp/h", P2), 0) == -errno.EXDEV
    assert guest.linkat(FDCWD, guest.path("f"), FDCWD, guest.path("h", P2), 0) == 0
    assert os.stat(root / "h").st_ino == os.stat(root / "f").st_ino
    assert not (root / "h").is_symlink()
    untouched(outside)


@pytest.mark.parametrize("target", ["absolute", "relative"])
@pytest.mark.parametrize("depth", ["swap/file", "a/b/swap/file"])
def test_symlink_swapped_in_between_check_and_use(tmp_path, target, depth):
    """A host thread swaps `swap` between a real directory and a symlink to outside, as fast as it can."""
    root, outside = tmp_path / "root", tmp_path / "outside"
    base = root / os.path.dirname(os.path.dirname(depth)) if depth.count("/") > 1 else root
    base.mkdir(parents=True)
    outside.mkdir()
    (outside / "file").write_bytes(SECRET)
    real = base / "real"
    real.mkdir()
    (real / "file").write_bytes(b"inside\n")
    link = base / "link"
    os.symlink(str(outside) if target == "absolute" else os.path.relpath(outside, base), link)
    os.rename(real, base / "swap")
    instance = Instance(MODULE, ["t"], root=root, stdout=io.BytesIO(), stderr=io.BytesIO())
    g = Guest(instance)
    stop = threading.Event()

    def swapper():
        dir_side, link_side = base / "swap", base / "spare"
        os.rename(link, link_side)
        while not stop.is_set():
            os.rename(dir_side, base / "hold")       # swap -> hold, link -> swap, then back
            os.rename(link_side, dir_side)
            os.rename(dir_side, link_side)
            os.rename(base / "hold", dir_side)

    thread = threading.Thread(target=swapper)
    thread.start()
    seen = set()
    try:
        for _ in range(1500):
            fd = g.open(depth)
            if fd >= 0:
                seen.add(g.read_all(fd))
                g.close(fd)
            else:
                seen.add(fd)
            g.unlinkat(FDCWD, g.path(os.path.dirname(depth) + "/victim"), 0)
    finally:
        stop.set()
        thread.join()
        instance.close()
    assert SECRET not in seen
    assert b"inside\n" in seen
    assert (outside / "file").read_bytes() == SECRET and sorted(os.listdir(outside)) == ["file"]


def test_iovecs_and_buffers_are_clamped_to_guest_memory(guest):
    """readv of a 2 GiB iovec into a 16-byte buffer costs the host nothing: EFAULT before any read."""
    g = guest
    assert g.pipe2(BUF, 0) == 0
    read_end, write_end = (int.from_bytes(g.mem.read(BUF + i, 4), "little") for i in (0, 4))
    g.mem.write(P1, b"0123456789abcdef")
    assert g.write(write_end, P1, 16) == 16
    iov = P2
    g.mem.write(iov, abi.IOVEC.pack(P1, 0x80000000))
    assert g.readv(read_end, iov, 1) == -errno.EINVAL        # over SSIZE_MAX, as on Linux
    g.mem.write(iov, abi.IOVEC.pack(P1, 0x7FFFFFF0))
    tracemalloc.start()
    try:
        assert g.readv(read_end, iov, 1) == -errno.EFAULT
        assert g.writev(write_end, iov, 1) == -errno.EFAULT
        assert g.write(write_end, P1, 0x7FFFFFFF) == -errno.EFAULT
        assert g.read(read_end, P1, 0x7FFFFFFF) == 16           # clamped to memory, read in place
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 1 << 20
    g.mem.write(iov, abi.IOVEC.pack(P1, 4) + abi.IOVEC.pack(P1 + 8, 4))
    g.mem.write(P2 + 64, b"wxyz1234")
    assert g.write(write_end, P2 + 64, 8) == 8
    assert g.readv(read_end, iov, 2) == 8
    assert g.mem.read(P1, 12) == b"wxyz45671234"
    assert g.readv(read_end, iov, 1025) == -errno.EINVAL
