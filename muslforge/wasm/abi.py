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
# struct winsize: ws_row ws_col ws_xpixel ws_ypixel.
WINSIZE = struct.Struct("<HHHH")
UTSNAME_FIELD = 65
SIGACTION_SIZE = 20        # struct k_sigaction: handler, flags, (restorer), mask[2]

assert STAT.size == 128 and STATX.size == 256 and TIMESPEC.size == 16

# The asm-generic (riscv32-style, time64) Linux syscall names. A module may import any of these: the ones
# the embedder does not implement answer -ENOSYS. An import outside this set is a missing import.
_SYSCALL_NAMES = """
io_setup io_destroy io_submit io_cancel setxattr lsetxattr fsetxattr getxattr lgetxattr fgetxattr
listxattr llistxattr flistxattr removexattr lremovexattr fremovexattr getcwd lookup_dcookie eventfd2
epoll_create1 epoll_ctl epoll_pwait dup dup3 fcntl fcntl64 inotify_init1 inotify_add_watch
inotify_rm_watch ioctl ioprio_set ioprio_get flock mknodat mkdirat unlinkat symlinkat linkat renameat
umount2 mount pivot_root nfsservctl statfs statfs64 fstatfs fstatfs64 truncate truncate64 ftruncate
ftruncate64 fallocate faccessat chdir fchdir chroot fchmod fchmodat fchownat fchown openat close vhangup
pipe2 quotactl getdents64 lseek llseek _llseek read write readv writev pread64 pwrite64 preadv pwritev
sendfile sendfile64 signalfd4 vmsplice splice tee readlinkat fstatat newfstatat fstat sync fsync
fdatasync sync_file_range timerfd_create acct capget capset personality exit exit_group waitid
set_tid_address unshare set_robust_list get_robust_list nanosleep getitimer setitimer kexec_load
init_module delete_module timer_create timer_getoverrun timer_delete syslog ptrace sched_setparam
sched_setscheduler sched_getscheduler sched_getparam sched_setaffinity sched_getaffinity sched_yield
sched_get_priority_max sched_get_priority_min restart_syscall kill tkill tgkill sigaltstack rt_sigsuspend
rt_sigaction rt_sigprocmask rt_sigpending rt_sigqueueinfo rt_sigreturn setpriority getpriority reboot
setregid setgid setreuid setuid setresuid getresuid setresgid getresgid setfsuid setfsgid times setpgid
getpgid getsid setsid getgroups setgroups uname sethostname setdomainname getrlimit setrlimit getrusage
umask prctl getcpu getpid getppid getuid geteuid getgid getegid gettid sysinfo mq_open mq_unlink
mq_notify mq_getsetattr msgget msgctl msgrcv msgsnd semget semctl semop shmget shmctl shmat shmdt socket
socketpair bind listen accept connect getsockname getpeername sendto recvfrom setsockopt getsockopt
shutdown sendmsg recvmsg readahead brk munmap mremap add_key request_key keyctl clone execve mmap mmap2
fadvise64 fadvise64_64 swapon swapoff mprotect msync mlock munlock mlockall munlockall mincore madvise
remap_file_pages mbind get_mempolicy set_mempolicy migrate_pages move_pages rt_tgsigqueueinfo
perf_event_open accept4 prlimit64 fanotify_init fanotify_mark name_to_handle_at open_by_handle_at syncfs
setns sendmmsg process_vm_readv process_vm_writev kcmp finit_module sched_setattr sched_getattr renameat2
seccomp getrandom memfd_create bpf execveat userfaultfd membarrier mlock2 copy_file_range preadv2
pwritev2 pkey_mprotect pkey_alloc pkey_free statx rseq kexec_file_load clock_gettime clock_settime
clock_adjtime clock_getres clock_nanosleep clock_gettime64 clock_settime64 clock_adjtime64
clock_getres_time64 clock_nanosleep_time64 timer_gettime timer_settime timer_gettime64 timer_settime64
timerfd_gettime timerfd_settime timerfd_gettime64 timerfd_settime64 utimensat utimensat_time64 pselect6
pselect6_time64 ppoll ppoll_time64 io_pgetevents io_pgetevents_time64 recvmmsg recvmmsg_time64
mq_timedsend mq_timedsend_time64 mq_timedreceive mq_timedreceive_time64 semtimedop semtimedop_time64
rt_sigtimedwait rt_sigtimedwait_time64 futex futex_time64 sched_rr_get_interval
sched_rr_get_interval_time64 pidfd_send_signal io_uring_setup io_uring_enter io_uring_register
open_tree move_mount fsopen fsconfig fsmount fspick pidfd_open clone3 close_range openat2 pidfd_getfd
faccessat2 process_madvise epoll_pwait2 mount_setattr landlock_create_ruleset landlock_add_rule
landlock_restrict_self memfd_secret process_mrelease futex_waitv set_mempolicy_home_node cachestat
fchmodat2 map_shadow_stack futex_wake futex_wait futex_requeue statmount listmount mseal
open access stat lstat poll select pipe dup2 mkdir rmdir unlink rename readlink symlink link chmod
chown lchown getdents creat vfork fork wait4 time gettimeofday settimeofday
lsm_get_self_attr lsm_set_self_attr lsm_list_modules setxattrat getxattrat listxattrat removexattrat
open_tree_attr file_getattr file_setattr listns
"""
LINUX_SYSCALLS = frozenset(_SYSCALL_NAMES.split())
