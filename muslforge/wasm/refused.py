"""The syscalls the embedder refuses, each with the errno Linux gives in the same situation and why.

Every row of the syscall table is either implemented (a handler registered with `@syscall`) or named
here; docs/wasm32-syscalls.md lists both (decisions.py). The errno is the one a program already handles
on Linux: EPERM for what an unprivileged process may not do, ENOSYS for a kernel feature that a kernel
can be built without (the program's fallback path runs), EOPNOTSUPP where a filesystem or socket lacks
the feature, EACCES where the sandbox's policy forbids it.
"""

from __future__ import annotations

from errno import EINVAL, ENOSYS, EOPNOTSUPP, EPERM

from ._registry import refuse

refuse(EPERM, "needs privileges (CAP_SYS_ADMIN and kin) a sandboxed process never has",
       "mount", "umount2", "pivot_root", "chroot", "swapon", "swapoff", "reboot", "kexec_load",
       "kexec_file_load", "init_module", "finit_module", "delete_module", "acct", "sethostname",
       "setdomainname", "clock_settime64", "clock_adjtime64", "vhangup", "quotactl", "syslog",
       "unshare", "setns", "open_tree", "move_mount", "fsopen", "fsconfig", "fsmount", "fspick",
       "mount_setattr", "open_tree_attr", "setgroups", "capset", "ptrace", "kcmp",
       "process_vm_readv", "process_vm_writev", "name_to_handle_at", "open_by_handle_at",
       "sched_setattr", "mknodat")
refuse(EOPNOTSUPP, "extended attributes: the sandbox's filesystems have none, as a filesystem "
       "without xattr support answers",
       "setxattr", "lsetxattr", "fsetxattr", "getxattr", "lgetxattr", "fgetxattr", "listxattr",
       "llistxattr", "flistxattr", "removexattr", "lremovexattr", "fremovexattr", "setxattrat",
       "getxattrat", "listxattrat", "removexattrat")
refuse(ENOSYS, "a kernel feature Linux can be built without (the program's fallback runs): "
       "not provided in the sandbox",
       "io_setup", "io_destroy", "io_submit", "io_cancel", "io_pgetevents_time64", "io_uring_setup",
       "io_uring_enter", "io_uring_register", "lookup_dcookie", "nfsservctl", "inotify_init1",
       "inotify_add_watch", "inotify_rm_watch", "fanotify_init", "fanotify_mark", "perf_event_open",
       "bpf", "userfaultfd", "seccomp", "landlock_create_ruleset", "landlock_add_rule",
       "landlock_restrict_self", "add_key", "request_key", "keyctl", "mbind", "get_mempolicy",
       "set_mempolicy", "migrate_pages", "move_pages", "set_mempolicy_home_node", "pkey_mprotect",
       "pkey_alloc", "pkey_free", "rseq", "memfd_secret", "map_shadow_stack", "mseal", "cachestat",
       "statmount", "listmount", "lsm_get_self_attr", "lsm_set_self_attr", "lsm_list_modules",
       "file_getattr", "file_setattr", "listns", "pidfd_open", "pidfd_send_signal", "pidfd_getfd",
       "process_madvise", "process_mrelease", "clone3", "openat2", "futex_waitv", "futex_wake",
       "futex_wait", "futex_requeue", "remap_file_pages", "ioprio_set", "ioprio_get", "membarrier",
       "eventfd2", "signalfd4", "timerfd_create", "timerfd_gettime64", "timerfd_settime64",
       "rt_sigreturn", "restart_syscall")
refuse(ENOSYS, "System V shared memory (CONFIG_SYSVIPC): impossible between guest processes, each "
       "an embedder process whose wasm linear memory is one private mapping no host memory can be placed "
       "in or shared with another process; a one-process stand-in would silently not share",
       "shmget", "shmctl", "shmat", "shmdt")
refuse(ENOSYS, "System V semaphores and message queues, POSIX message queues (CONFIG_SYSVIPC, "
       "CONFIG_POSIX_MQUEUE): the host's objects are named by host-wide keys and ids that would reach "
       "outside the sandbox, and sharing them only within the process tree needs a broker process the "
       "embedder does not have; programs fall back as on a kernel built without them",
       "mq_open", "mq_unlink", "mq_notify", "mq_getsetattr", "mq_timedsend_time64",
       "mq_timedreceive_time64", "msgget", "msgctl", "msgrcv", "msgsnd", "semget", "semctl", "semop",
       "semtimedop_time64")
refuse(EINVAL, "no zero-copy transfer between host descriptors: EINVAL makes callers fall back to "
       "read and write, as for descriptors the kernel can't splice",
       "sendfile64", "splice", "tee", "vmsplice", "copy_file_range")
refuse(EINVAL, "no execution domains, process options or CPU placement to change in the sandbox",
       "personality", "prctl", "sched_setaffinity")
