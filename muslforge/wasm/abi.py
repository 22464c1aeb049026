"""The guest side of the wasm32 ABI: Linux constants and struct layouts as the port's headers define them.

wasm32 is ILP32 with 64-bit time_t, like riscv32: pointers and longs are 4 bytes, off_t/ino_t/dev_t/
time_t are 8. Flags and errno numbers are the asm-generic Linux values. The host is Linux, so Python's
`errno` module and OSError.errno already carry the numbers the guest expects.
"""

from __future__ import annotations

import struct

WASM_PAGE = 65536          # AT_PAGESZ, mmap granularity, memory.grow unit
MMAP2_UNIT = 4096          # mmap2's offset argument counts 4 KiB units
AT_FDCWD = -100

# open(2) flags (asm-generic/fcntl.h)
O_ACCMODE, O_RDONLY, O_WRONLY, O_RDWR = 0o3, 0o0, 0o1, 0o2
O_CREAT, O_EXCL, O_NOCTTY, O_TRUNC = 0o100, 0o200, 0o400, 0o1000
O_APPEND, O_NONBLOCK, O_DSYNC = 0o2000, 0o4000, 0o10000
O_DIRECTORY, O_NOFOLLOW, O_CLOEXEC = 0o200000, 0o400000, 0o2000000
O_SYNC, O_PATH, O_TMPFILE = 0o4010000, 0o10000000, 0o20200000
O_LARGEFILE = 0o100000

# *at(2) flags
AT_SYMLINK_NOFOLLOW, AT_REMOVEDIR, AT_SYMLINK_FOLLOW = 0x100, 0x200, 0x400
AT_EACCESS, AT_EMPTY_PATH = 0x200, 0x1000

# fcntl(2)
F_DUPFD, F_GETFD, F_SETFD, F_GETFL, F_SETFL = 0, 1, 2, 3, 4
F_GETLK, F_SETLK, F_SETLKW = 12, 13, 14     # ILP32 values (== the 64-bit lock commands)
F_OFD_GETLK, F_OFD_SETLK, F_OFD_SETLKW = 36, 37, 38
F_DUPFD_CLOEXEC = 1030
FD_CLOEXEC = 1

# mmap(2)
PROT_WRITE = 2
MAP_SHARED, MAP_PRIVATE, MAP_FIXED, MAP_ANONYMOUS = 0x01, 0x02, 0x10, 0x20
MAP_FIXED_NOREPLACE = 0x100000
MREMAP_MAYMOVE, MREMAP_FIXED = 1, 2

# ioctl(2)
TIOCGWINSZ = 0x5413

# auxv
AT_NULL, AT_PAGESZ, AT_UID, AT_EUID, AT_GID, AT_EGID, AT_SECURE, AT_RANDOM = 0, 6, 11, 12, 13, 14, 23, 25

# clocks
CLOCK_REALTIME, CLOCK_MONOTONIC, CLOCK_PROCESS_CPUTIME_ID, CLOCK_THREAD_CPUTIME_ID = 0, 1, 2, 3
CLOCK_MONOTONIC_RAW, CLOCK_REALTIME_COARSE, CLOCK_MONOTONIC_COARSE, CLOCK_BOOTTIME = 4, 5, 6, 7
TIMER_ABSTIME = 1

# signals
NSIG = 65
SIGKILL, SIGSTOP = 9, 19
SIG_DFL, SIG_IGN = 0, 1
DEFAULT_IGNORED_SIGNALS = frozenset({17, 23, 28})   # SIGCHLD, SIGURG, SIGWINCH (SIGCONT: see process.py)
SIGCONT = 18
SIG_BLOCK, SIG_UNBLOCK, SIG_SETMASK = 0, 1, 2

# dirent d_type
DT_UNKNOWN, DT_FIFO, DT_CHR, DT_DIR, DT_BLK, DT_REG, DT_LNK, DT_SOCK = 0, 1, 2, 4, 6, 8, 10, 12

# struct timespec (time64): time_t tv_sec; long tv_nsec; 4 bytes padding.
TIMESPEC = struct.Struct("<qi4x")
# struct iovec: void *iov_base; size_t iov_len.
IOVEC = struct.Struct("<II")
# struct stat (generic layout, 128 bytes): dev ino mode nlink uid gid rdev __pad size blksize __pad2 blocks
# then st_atim st_mtim st_ctim (struct timespec each) and __unused[2].
STAT = struct.Struct("<QQIIIIQ8xqi4xq" + "qi4x" * 3 + "8x")
# struct statx (256 bytes): mask blksize attributes nlink uid gid mode pad1 ino size blocks attributes_mask,
# atime btime ctime mtime (i64 sec, u32 nsec, i32 pad), rdev major/minor, dev major/minor, spare[14].
STATX = struct.Struct("<IIQIIIH2xQQQQ" + "qI4x" * 4 + "IIII112x")
STATX_BASIC_STATS = 0x7ff
# struct linux_dirent64 header: d_ino d_off d_reclen d_type, then the name and its NUL, padded to 8.
DIRENT64 = struct.Struct("<QqHB")
# struct flock: short l_type, l_whence; off_t l_start (8-aligned), l_len; pid_t l_pid.
FLOCK = struct.Struct("<hh4xqqi4x")
# struct winsize: ws_row ws_col ws_xpixel ws_ypixel.
WINSIZE = struct.Struct("<HHHH")
UTSNAME_FIELD = 65
SIGACTION_SIZE = 20        # struct k_sigaction: handler, flags, (restorer), mask[2]

assert STAT.size == 128 and STATX.size == 256 and TIMESPEC.size == 16

def linux_syscalls() -> frozenset[str]:
    """The syscall names a module may import: the rows of muslforge's syscall table. The ones the
    embedder does not implement answer -ENOSYS; an import outside the table is a missing import. Read on
    first use: loading the table costs start-up time that a program importing only implemented
    syscalls need not pay."""
    from .. import syscalls as syscall_table

    return syscall_table.names()


def alias_of(name: str) -> str | None:
    """The row an alias import names (fcntl -> fcntl64: the table's `alias` rows), else None. Read on
    first use, like linux_syscalls: the port's own programs import no aliases."""
    from .. import syscalls as syscall_table

    return syscall_table.aliases().get(name)
