"""File syscalls called directly on an instance (each import is re-exported as sys_<name>)."""

import errno
import io
import os
import struct

import pytest

from muslforge.wasm import abi
from muslforge.wasm.wat import syscall_module
from tests.unit.wasm_guest import Guest, instance

SYSCALLS = {
    "openat": 4, "close": 1, "read": 3, "write": 3, "readv": 3, "writev": 3, "pread64": 5, "pwrite64": 5,
    "llseek": 5, "fstat": 2, "newfstatat": 4, "statx": 5, "getdents64": 3, "mkdirat": 3, "unlinkat": 3,
    "renameat": 4, "renameat2": 5, "faccessat": 3, "readlinkat": 4, "fcntl64": 3, "dup": 1, "dup3": 3,
    "pipe2": 2, "chdir": 1, "getcwd": 2, "ioctl": 3, "ftruncate64": 3, "symlinkat": 3, "preadv": 5,
    "pwritev": 5, "fsync": 1, "lseek": 3, "ppoll_time64": 5,
}
MODULE = syscall_module(SYSCALLS)
FDCWD = abi.AT_FDCWD
PATH, BUF, BUF2 = 1024, 8192, 16384


@pytest.fixture
def guest(tmp_path):
    out = io.BytesIO()
    with instance(MODULE, tmp_path, stdin=io.BytesIO(b"typed\n"), stdout=out) as running:
        g = Guest(running)
        g.out = out
        yield g


def test_create_write_seek_read(guest, tmp_path):
    fd = guest.open("f.txt", abi.O_RDWR | abi.O_CREAT | abi.O_TRUNC)
    assert fd == 3
    guest.mem.write(BUF, b"hello world")
    assert guest.write(fd, BUF, 11) == 11
    assert guest.llseek(fd, 0, 6, BUF2, 0) == 0
    assert struct.unpack("<Q", guest.mem.read(BUF2, 8))[0] == 6
    assert guest.read(fd, BUF, 100) == 5
    assert guest.mem.read(BUF, 5) == b"world"
    assert guest.lseek(fd, 0, os.SEEK_END) == 11
    assert guest.close(fd) == 0
    assert guest.close(fd) == -errno.EBADF
    assert (tmp_path / "f.txt").read_bytes() == b"hello world"


def test_open_errors(guest, tmp_path):
    assert guest.open("missing") == -errno.ENOENT
    assert guest.open("/etc/passwd") == -errno.ENOENT                  # not in the guest's namespace
    assert guest.open("../x", abi.O_CREAT | abi.O_WRONLY) == -errno.EACCES  # a read-only ancestor
    (tmp_path / "f").write_text("")
    assert guest.open("f", abi.O_CREAT | abi.O_EXCL | abi.O_WRONLY) == -errno.EEXIST
    assert guest.open("f", abi.O_DIRECTORY) == -errno.ENOTDIR
    assert guest.openat(FDCWD, 0x7FFFFFF0, 0, 0) == -errno.EFAULT


def test_stdio_streams(guest):
    guest.mem.write(BUF, b"out")
    assert guest.write(1, BUF, 3) == 3
    assert guest.out.getvalue() == b"out"
    assert guest.read(0, BUF, 100) == 6
    assert guest.mem.read(BUF, 6) == b"typed\n"
    assert guest.read(0, BUF, 100) == 0
    assert guest.read(1, BUF, 1) == -errno.EBADF
    assert guest.ioctl(1, abi.TIOCGWINSZ, BUF) == -errno.ENOTTY
    assert guest.llseek(1, 0, 0, BUF, 0) == -errno.ESPIPE


def test_readv_writev_preadv_pwritev_pread_pwrite(guest, tmp_path):
    fd = guest.open("v", abi.O_RDWR | abi.O_CREAT)
    guest.mem.write(BUF, b"abc")
    guest.mem.write(BUF + 100, b"defg")
    guest.mem.write(BUF2, abi.IOVEC.pack(BUF, 3) + abi.IOVEC.pack(BUF + 100, 4))
    assert guest.writev(fd, BUF2, 2) == 7
    assert guest.pwrite64(fd, BUF, 3, 10, 0) == 3
    assert (tmp_path / "v").read_bytes() == b"abcdefg\0\0\0abc"
    assert guest.pread64(fd, BUF + 200, 4, 3, 0) == 4
    assert guest.mem.read(BUF + 200, 4) == b"defg"
    guest.mem.write(BUF2, abi.IOVEC.pack(BUF + 300, 2) + abi.IOVEC.pack(BUF + 400, 3))
    assert guest.preadv(fd, BUF2, 2, 1, 0) == 5
    assert guest.mem.read(BUF + 300, 2) + guest.mem.read(BUF + 400, 3) == b"bcdef"
    assert guest.pwritev(fd, BUF2, 2, 0, 0) == 5
    guest.llseek(fd, 0, 0, BUF, 0)
    assert guest.readv(fd, BUF2, 2) == 5
    assert guest.fsync(fd) == 0


def test_fstat_fstatat_statx_layouts(guest, tmp_path):
    (tmp_path / "s").write_bytes(b"x" * 1234)
    fd = guest.open("s")
    assert guest.fstat(fd, BUF) == 0
    fields = abi.STAT.unpack(guest.mem.read(BUF, abi.STAT.size))
    host = os.stat(tmp_path / "s")
    assert fields[1] == host.st_ino and fields[2] == host.st_mode and fields[7] == 1234
    assert fields[12] == host.st_mtime_ns // 10**9 and fields[13] == host.st_mtime_ns % 10**9
    assert guest.newfstatat(FDCWD, guest.path("s"), BUF2, 0) == 0
    assert guest.mem.read(BUF2, abi.STAT.size) == guest.mem.read(BUF, abi.STAT.size)
    assert guest.statx(FDCWD, guest.path("s"), 0, abi.STATX_BASIC_STATS, BUF) == 0
    stx = abi.STATX.unpack(guest.mem.read(BUF, abi.STATX.size))
    assert stx[0] == abi.STATX_BASIC_STATS and stx[6] == host.st_mode and stx[8] == 1234
    assert guest.statx(fd, guest.path(""), abi.AT_EMPTY_PATH, 0, BUF) == 0
    assert abi.STATX.unpack(guest.mem.read(BUF, abi.STATX.size))[7] == host.st_ino
    assert guest.newfstatat(FDCWD, guest.path("nope"), BUF, 0) == -errno.ENOENT


def test_stdout_stream_stats_as_a_fifo(guest):
    assert guest.fstat(1, BUF) == 0
    assert abi.STAT.unpack(guest.mem.read(BUF, abi.STAT.size))[2] & 0o170000 == 0o010000


def test_directories(guest, tmp_path):
    assert guest.mkdirat(FDCWD, guest.path("d"), 0o755) == 0
    assert guest.mkdirat(FDCWD, guest.path("d"), 0o755) == -errno.EEXIST
    (tmp_path / "d" / "b").write_text("")
    (tmp_path / "d" / "a").mkdir()
    fd = guest.open("d", abi.O_DIRECTORY)
    names = []
    while (n := guest.getdents64(fd, BUF, 64)) > 0:
        data, off = guest.mem.read(BUF, n), 0
        while off < n:
            _, _, reclen, kind = abi.DIRENT64.unpack_from(data, off)
            name = data[off + abi.DIRENT64.size:off + reclen].split(b"\0")[0]
            names.append((name, kind))
            off += reclen
    assert names == [(b".", abi.DT_DIR), (b"..", abi.DT_DIR), (b"a", abi.DT_DIR), (b"b", abi.DT_REG)]
    assert guest.openat(fd, guest.path("b"), 0, 0) > fd          # relative to a dirfd
    assert guest.unlinkat(FDCWD, guest.path("d"), 0) == -errno.EISDIR
    assert guest.unlinkat(FDCWD, guest.path("d"), abi.AT_REMOVEDIR) == -errno.ENOTEMPTY
    assert guest.unlinkat(fd, guest.path("b"), 0) == 0
    assert guest.getdents64(3 + 100, BUF, 64) == -errno.EBADF


def test_rename_access_symlinks(guest, tmp_path):
    (tmp_path / "a").write_text("A")
    assert guest.renameat(FDCWD, guest.path("a"), FDCWD, guest.path("b", PATH + 100)) == 0
    assert (tmp_path / "b").read_text() == "A"
    (tmp_path / "c").write_text("")
    assert guest.renameat2(FDCWD, guest.path("b"), FDCWD, guest.path("c", PATH + 100), 1) == -errno.EEXIST
    assert guest.faccessat(FDCWD, guest.path("b"), os.R_OK) == 0
    assert guest.faccessat(FDCWD, guest.path("zz"), os.F_OK) == -errno.ENOENT
    assert guest.symlinkat(guest.path("b"), FDCWD, guest.path("ln", PATH + 100)) == 0
    assert guest.readlinkat(FDCWD, guest.path("ln"), BUF, 100) == 1
    assert guest.mem.read(BUF, 1) == b"b"
    assert guest.readlinkat(FDCWD, guest.path("b"), BUF, 100) == -errno.EINVAL
    os.symlink("/etc/passwd", tmp_path / "evil")
    assert guest.readlinkat(FDCWD, guest.path("evil"), BUF, 100) == 11     # the text, as stored
    assert guest.mem.read(BUF, 11) == b"/etc/passwd"
    assert guest.open("evil") == -errno.ENOENT         # resolved in the guest's namespace


def test_fcntl_dup_pipe(guest, tmp_path):
    fd = guest.open("p", abi.O_WRONLY | abi.O_CREAT | abi.O_CLOEXEC)
    assert guest.fcntl64(fd, abi.F_GETFD, 0) == abi.FD_CLOEXEC
    assert guest.fcntl64(fd, abi.F_SETFD, 0) == 0 and guest.fcntl64(fd, abi.F_GETFD, 0) == 0
    assert guest.fcntl64(fd, abi.F_GETFL, 0) & abi.O_ACCMODE == abi.O_WRONLY
    assert guest.fcntl64(fd, abi.F_SETFL, abi.O_APPEND) == 0
    assert guest.fcntl64(fd, abi.F_GETFL, 0) & abi.O_APPEND
    copy = guest.dup(fd)
    assert copy == fd + 1
    assert guest.dup3(fd, 10, abi.O_CLOEXEC) == 10 and guest.fcntl64(10, abi.F_GETFD, 0) == 1
    assert guest.dup3(fd, fd, 0) == -errno.EINVAL
    guest.close(fd)
    guest.mem.write(BUF, b"via dup")
    assert guest.write(copy, BUF, 7) == 7               # the description outlives the first fd
    assert guest.fcntl64(copy, abi.F_DUPFD, 20) == 20
    assert guest.pipe2(BUF2, abi.O_CLOEXEC) == 0
    rd, wr = struct.unpack("<ii", guest.mem.read(BUF2, 8))
    assert guest.write(wr, BUF, 7) == 7 and guest.read(rd, BUF + 64, 7) == 7
    assert guest.mem.read(BUF + 64, 7) == b"via dup"
    assert guest.read(wr, BUF, 1) == -errno.EBADF
    assert guest.ftruncate64(copy, 3, 0) == 0 and (tmp_path / "p").read_bytes() == b"via"


def test_chdir_getcwd(guest, tmp_path):
    (tmp_path / "sub").mkdir()
    real = os.path.realpath(tmp_path)
    assert guest.getcwd(BUF, 4096) == len(real) + 1
    assert guest.mem.read(BUF, len(real) + 1) == os.fsencode(real) + b"\0"
    assert guest.getcwd(BUF, 3) == -errno.ERANGE
    assert guest.chdir(guest.path("sub")) == 0
    assert guest.open("x", abi.O_CREAT | abi.O_WRONLY) >= 3
    assert (tmp_path / "sub" / "x").exists()
    assert guest.chdir(guest.path("..")) == 0
    assert guest.chdir(guest.path("nope")) == -errno.ENOENT
    assert guest.chdir(guest.path("..")) == 0          # the mount's read-only virtual parent
    assert guest.getcwd(BUF, 4096) == len(str(tmp_path.parent)) + 1
    assert guest.open("x", abi.O_CREAT | abi.O_WRONLY) == -errno.EACCES


def test_ppoll(guest, tmp_path):
    fd = guest.open("polled", abi.O_RDWR | abi.O_CREAT)
    guest.mem.write(BUF, struct.pack("<ihh", fd, 1 | 4, 0) + struct.pack("<ihh", 1, 4, 0)
                    + struct.pack("<ihh", 77, 1, 0) + struct.pack("<ihh", -1, 1, 0))
    assert guest.ppoll_time64(BUF, 4, 0, 0, 8) == 3
    results = [struct.unpack_from("<ihh", guest.mem.read(BUF, 32), 8 * i)[2] for i in range(4)]
    assert results == [5, 4, 0x20, 0]
    assert guest.pipe2(BUF2, 0) == 0
    rd, _ = struct.unpack("<ii", guest.mem.read(BUF2, 8))
    guest.mem.write(BUF, struct.pack("<ihh", rd, 1, 0))
    guest.mem.write(BUF2, abi.TIMESPEC.pack(0, 10_000_000))
    assert guest.ppoll_time64(BUF, 1, BUF2, 0, 8) == 0        # nothing to read: times out


def test_rewinddir_and_seekdir(guest, tmp_path):
    for name in "xyz":
        (tmp_path / name).write_text("")
    fd = guest.open(".", abi.O_DIRECTORY)
    first = guest.getdents64(fd, BUF, 4096)
    assert first > 0
    assert guest.getdents64(fd, BUF, 4096) == 0
    assert guest.llseek(fd, 0, 3, BUF2, 0) == 0               # seekdir to d_off 3: skip . .. x
    n = guest.getdents64(fd, BUF, 4096)
    names = []
    data, off = guest.mem.read(BUF, n), 0
    while off < n:
        reclen = abi.DIRENT64.unpack_from(data, off)[2]
        names.append(data[off + abi.DIRENT64.size:off + reclen].split(b"\0")[0])
        off += reclen
    assert names == [b"y", b"z"]
    assert guest.llseek(fd, 0, 0, BUF2, 0) == 0
    assert guest.getdents64(fd, BUF, 4096) == first


def test_dev_stdout_and_dev_fd_duplicate_guest_fds(guest):
    fd = guest.open("/dev/stdout", abi.O_WRONLY)
    guest.mem.write(BUF, b"via /dev/stdout\n")
    assert fd >= 3 and guest.write(fd, BUF, 16) == 16
    assert guest.out.getvalue() == b"via /dev/stdout\n"
    assert guest.open("/dev/fd/1", abi.O_WRONLY) == fd + 1
    assert guest.open("/dev/fd/57") == -errno.EBADF
    assert guest.open("/dev/null", abi.O_WRONLY) >= 3
