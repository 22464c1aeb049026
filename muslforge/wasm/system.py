"""The rest of the process's view of the system: file system and memory statistics, CPU times, ids,
priorities and scheduling, memory locking, memfd, preadv2/pwritev2.

Answers are what Linux gives an unprivileged process that is alone in its session: the ids are the
host's and can only be "changed" to themselves (else EPERM); the nice value can be raised but not
lowered (EACCES); real-time scheduling is EPERM; mlock and friends succeed (a wasm memory is never
swapped out by the guest's choice). statfs reports the host file system behind a mount (and an empty
tmpfs for the virtual ancestors); sysinfo reports the guest's own memory (its maximum: --max-memory or
4 GiB) and the host's uptime and load. memfd_create makes an unlinked file in the process's private
work directory, so its data costs host disk like /tmp, never host memory.
"""

from __future__ import annotations

import errno
import os
import struct
import time

from . import abi
from ._registry import syscall
from .errors import Errno
from .files import _iovecs, base_dir, seekable
from .guest import u32
from .tree import tree

# struct statfs64 on an ILP32 arch: type, bsize, blocks, bfree, bavail, files, ffree, fsid[2], namelen,
# frsize, flags, spare[4]: 88 bytes.
_STATFS64 = struct.Struct("<IIQQQQQiiIII16x4x")
_HOST_STATFS = struct.Struct("<qqQQQQQiiqqq32x")      # 64-bit Linux struct statfs (120 bytes)
_TMPFS_MAGIC = 0x01021994
# struct sysinfo (musl, ILP32): uptime, loads[3], totalram, freeram, sharedram, bufferram, totalswap,
# freeswap, procs, pad, totalhigh, freehigh, mem_unit, then reserved bytes (the kernel writes 64).
_SYSINFO = struct.Struct("<IIIIIIIIIIHHIII")
_TMS = struct.Struct("<iiii")
_CLK_TCK = 100


def _host_statfs(fd: int) -> tuple:
    import ctypes

    buf = ctypes.create_string_buffer(_HOST_STATFS.size)
    if ctypes.CDLL(None, use_errno=True).fstatfs(fd, buf) != 0:
        raise Errno(ctypes.get_errno())
    return _HOST_STATFS.unpack(buf.raw)


def _write_statfs(proc, size: int, buf: int, fd: int | None) -> int:
    if size != _STATFS64.size:
        raise Errno(errno.EINVAL)
    proc.mem.view(buf, size)
    if fd is None:                                   # a virtual directory: an empty, read-only tmpfs
        values = (_TMPFS_MAGIC, 4096, 0, 0, 0, 0, 0, 0, 0, 255, 4096, 1)      # ST_RDONLY
    else:
        ftype, bsize, blocks, bfree, bavail, files, ffree, f0, f1, namelen, frsize, flags = _host_statfs(fd)
        values = (ftype & 0xFFFFFFFF, bsize, blocks, bfree, bavail, files, ffree, f0, f1, namelen, frsize,
                  flags & 0xFFFFFFFF)
    proc.mem.write(buf, _STATFS64.pack(*values))
    return 0


@syscall("statfs64")
def sys_statfs64(proc, path, size, buf):
    with proc.ns.locate(base_dir(proc, abi.AT_FDCWD), proc.mem.cstring(path)) as place:
        if place.dir.virtual and place.name is None and place.device is None:
            return _write_statfs(proc, size, buf, None)
        if place.device is not None or place.dir.virtual:
            if place.device is None:
                raise Errno(errno.ENOENT)
            return _write_statfs(proc, size, buf, None)
        fd = os.open(place.name or ".", os.O_PATH | os.O_CLOEXEC, dir_fd=place.dir.fd)
        try:
            return _write_statfs(proc, size, buf, fd)
        finally:
            os.close(fd)


@syscall("fstatfs64")
def sys_fstatfs64(proc, fd, size, buf):
    file = proc.fds.get(fd)
    host = file.hostfd if file.hostfd is not None else (file.dir.fd if file.dir is not None else None)
    return _write_statfs(proc, size, buf, host)


@syscall("sysinfo")
def sys_sysinfo(proc, buf):
    unit = abi.WASM_PAGE
    total = (proc.max_memory if proc.max_memory is not None else 1 << 32) // unit
    used = proc.mem.size() // unit
    with open("/proc/uptime", "rb") as f:
        uptime = int(float(f.read().split()[0]))
    loads = [min(int(load * 65536), 0xFFFFFFFF) for load in os.getloadavg()]
    procs = len(proc.threads.live)
    proc.mem.fill(buf, 64)
    proc.mem.write(buf, _SYSINFO.pack(uptime, *loads, total, max(0, total - used), 0, 0, 0, 0, procs, 0,
                                      0, 0, unit))
    return 0


@syscall("times")
def sys_times(proc, buf):
    """CPU times of the host thread running the guest, in clock ticks (sysconf(_SC_CLK_TCK) = 100)."""
    if buf:
        cpu = time.clock_gettime(time.CLOCK_THREAD_CPUTIME_ID)
        proc.mem.write(buf, _TMS.pack(min(int(cpu * _CLK_TCK), 0x7FFFFFFF), 0, 0, 0))
    return int(time.monotonic() * _CLK_TCK) & 0x3FFFFFFF


# ---- ids -----------------------------------------------------------------------------------------

def _same(wanted: int, current: int) -> None:
    """An unprivileged set*id: only to the current id (-1: unchanged), else EPERM."""
    wanted = u32(wanted)
    if wanted != 0xFFFFFFFF and wanted != current:
        raise Errno(errno.EPERM)


@syscall("setuid", "setfsuid")
def sys_setuid(proc, uid):
    _same(uid, os.getuid())
    return 0


@syscall("setgid", "setfsgid")
def sys_setgid(proc, gid):
    _same(gid, os.getgid())
    return 0


@syscall("setreuid")
def sys_setreuid(proc, ruid, euid):
    for value in (ruid, euid):
        _same(value, os.getuid())
    return 0


@syscall("setregid")
def sys_setregid(proc, rgid, egid):
    for value in (rgid, egid):
        _same(value, os.getgid())
    return 0


@syscall("setresuid")
def sys_setresuid(proc, ruid, euid, suid):
    for value in (ruid, euid, suid):
        _same(value, os.getuid())
    return 0


@syscall("setresgid")
def sys_setresgid(proc, rgid, egid, sgid):
    for value in (rgid, egid, sgid):
        _same(value, os.getgid())
    return 0


@syscall("getresuid")
def sys_getresuid(proc, r, e, s):
    for ptr in (r, e, s):
        proc.mem.write(ptr, os.getuid().to_bytes(4, "little"))
    return 0


@syscall("getresgid")
def sys_getresgid(proc, r, e, s):
    for ptr in (r, e, s):
        proc.mem.write(ptr, os.getgid().to_bytes(4, "little"))
    return 0


@syscall("setpgid")
def sys_setpgid(proc, pid, pgid):
    """tree.py; in posix_spawn's child (POSIX_SPAWN_SETPGROUP) the choice is kept for the exec."""
    vfork = getattr(proc, "vfork", None)
    if vfork is not None and pid == 0:
        if pgid < 0:
            raise Errno(errno.EINVAL)
        vfork.pgid = pgid
        return 0
    from .tree import setpgid
    return setpgid(proc, pid, pgid)


@syscall("setsid")
def sys_setsid(proc):
    vfork = getattr(proc, "vfork", None)
    if vfork is not None:                  # posix_spawn's child (POSIX_SPAWN_SETSID)
        vfork.setsid = True
        return 0
    from .tree import setsid
    return setsid(proc)


@syscall("capget")
def sys_capget(proc, header, data):
    """No capabilities. An unknown version gets the preferred one written back and EINVAL."""
    version, pid = struct.unpack("<Ii", proc.mem.read(header, 8))
    if version not in (0x19980330, 0x20071026, 0x20080522):
        proc.mem.write(header, (0x20080522).to_bytes(4, "little"))
        raise Errno(errno.EINVAL)
    if pid not in (0, tree(proc).pid):
        raise Errno(errno.ESRCH)
    if data:
        proc.mem.fill(data, 12 if version == 0x19980330 else 24)
    return 0


# ---- priorities and scheduling -------------------------------------------------------------------

def _who(proc, which: int, who: int) -> None:
    if which not in (0, 1, 2):             # PRIO_PROCESS, PRIO_PGRP, PRIO_USER
        raise Errno(errno.EINVAL)
    if which in (0, 1) and who not in (0, tree(proc).pid) or which == 2 and who not in (0, os.getuid()):
        raise Errno(errno.ESRCH)


@syscall("getpriority")
def sys_getpriority(proc, which, who):
    _who(proc, which, who)
    return 20 - getattr(proc, "nice", 0)        # the kernel's encoding: 20 - nice, 1..40


@syscall("setpriority")
def sys_setpriority(proc, which, who, value):
    _who(proc, which, who)
    value = max(-20, min(19, value))
    if value < getattr(proc, "nice", 0):
        raise Errno(errno.EACCES)
    proc.nice = value
    return 0


_SCHED_OTHER, _SCHED_FIFO, _SCHED_RR, _SCHED_BATCH, _SCHED_IDLE = 0, 1, 2, 3, 5


def _pid(proc, pid: int) -> None:
    if pid < 0:
        raise Errno(errno.EINVAL)
    if pid not in (0, tree(proc).pid):
        raise Errno(errno.ESRCH)


@syscall("sched_getscheduler")
def sys_sched_getscheduler(proc, pid):
    _pid(proc, pid)
    return _SCHED_OTHER


@syscall("sched_getparam")
def sys_sched_getparam(proc, pid, param):
    _pid(proc, pid)
    proc.mem.write(param, bytes(4))
    return 0


@syscall("sched_setscheduler")
def sys_sched_setscheduler(proc, pid, policy, param):
    _pid(proc, pid)
    priority = struct.unpack("<i", proc.mem.read(param, 4))[0]
    if policy in (_SCHED_FIFO, _SCHED_RR):
        raise Errno(errno.EPERM)
    if policy not in (_SCHED_OTHER, _SCHED_BATCH, _SCHED_IDLE) or priority != 0:
        raise Errno(errno.EINVAL)
    return 0


@syscall("sched_setparam")
def sys_sched_setparam(proc, pid, param):
    _pid(proc, pid)
    if struct.unpack("<i", proc.mem.read(param, 4))[0] != 0:
        raise Errno(errno.EINVAL)
    return 0


@syscall("sched_get_priority_max")
def sys_sched_get_priority_max(proc, policy):
    if policy in (_SCHED_FIFO, _SCHED_RR):
        return 99
    if policy in (_SCHED_OTHER, _SCHED_BATCH, _SCHED_IDLE):
        return 0
    raise Errno(errno.EINVAL)


@syscall("sched_get_priority_min")
def sys_sched_get_priority_min(proc, policy):
    return min(1, sys_sched_get_priority_max(proc, policy))


@syscall("sched_rr_get_interval_time64")
def sys_sched_rr_get_interval(proc, pid, ts):
    _pid(proc, pid)
    proc.mem.write(ts, abi.TIMESPEC.pack(0, 100_000_000))
    return 0


@syscall("sched_getattr")
def sys_sched_getattr(proc, pid, attr, size, flags):
    _pid(proc, pid)
    if flags or u32(size) < 48:
        raise Errno(errno.EINVAL)
    proc.mem.write(attr, struct.pack("<IIQiIQQQ", 48, _SCHED_OTHER, 0, getattr(proc, "nice", 0), 0, 0, 0, 0))
    return 0


@syscall("getcpu")
def sys_getcpu(proc, cpu, node, cache):
    for ptr in (cpu, node):
        if ptr:
            proc.mem.write(ptr, bytes(4))
    return 0


# ---- memory and files ----------------------------------------------------------------------------

@syscall("mlockall", "munlockall")
def sys_mlockall(proc, flags=0):
    if flags & ~7:
        raise Errno(errno.EINVAL)
    return 0


@syscall("mlock2")
def sys_mlock2(proc, addr, length, flags):
    if flags & ~1:
        raise Errno(errno.EINVAL)
    _check_range(proc, addr, length)
    return 0


def _check_range(proc, addr: int, length: int) -> None:
    if u32(addr) + u32(length) > proc.mem.size():
        raise Errno(errno.ENOMEM)


@syscall("mincore")
def sys_mincore(proc, addr, length, vec):
    """Every page of linear memory is resident (one byte per 4 KiB page)."""
    if u32(addr) % abi.MMAP2_UNIT:
        raise Errno(errno.EINVAL)
    _check_range(proc, addr, length)
    pages = (u32(length) + abi.MMAP2_UNIT - 1) // abi.MMAP2_UNIT
    proc.mem.fill(vec, pages, 1)
    return 0


@syscall("readahead")
def sys_readahead(proc, fd, off_lo, off_hi, count):
    seekable(proc.fds.get(fd))
    return 0


@syscall("sync_file_range")
def sys_sync_file_range(proc, fd, off_lo, off_hi, len_lo, len_hi, flags):
    if flags & ~7:
        raise Errno(errno.EINVAL)
    seekable(proc.fds.get(fd))
    return 0


_RWF_ALLOWED = 0x1F                      # HIPRI DSYNC SYNC NOWAIT APPEND


def _rw2(proc, fd: int, iov: int, count: int, off_lo: int, off_hi: int, flags: int, write: bool) -> int:
    if flags & ~_RWF_ALLOWED:
        raise Errno(errno.EOPNOTSUPP)
    file = proc.fds.get(fd)
    vecs = _iovecs(proc, iov, count)
    offset = (u32(off_hi) << 32) | u32(off_lo)
    if offset == 0xFFFFFFFFFFFFFFFF:      # -1: the current position, as readv/writev
        return file.writefrom(vecs) if write else file.readinto(vecs)
    host = seekable(file)
    if not vecs:
        return 0
    return (os.pwritev if write else os.preadv)(host, vecs, offset, flags & ~0x10 if not write else flags)


@syscall("preadv2")
def sys_preadv2(proc, fd, iov, count, off_lo, off_hi, flags):
    return _rw2(proc, fd, iov, count, off_lo, off_hi, flags, False)


@syscall("pwritev2")
def sys_pwritev2(proc, fd, iov, count, off_lo, off_hi, flags):
    return _rw2(proc, fd, iov, count, off_lo, off_hi, flags, True)


_MFD_CLOEXEC, _MFD_ALLOW_SEALING = 1, 2


@syscall("memfd_create")
def sys_memfd_create(proc, name, flags):
    from .fdtable import OpenFile

    if flags & ~(_MFD_CLOEXEC | _MFD_ALLOW_SEALING | 4):         # | MFD_HUGETLB: accepted, ignored
        raise Errno(errno.EINVAL)
    if len(proc.mem.cstring(name, 250)) > 249:
        raise Errno(errno.EINVAL)
    hostfd = os.open(proc.workdir, os.O_TMPFILE | os.O_RDWR | os.O_CLOEXEC, 0o600)
    try:
        return proc.fds.add(OpenFile(flags=abi.O_RDWR, hostfd=hostfd), cloexec=bool(flags & _MFD_CLOEXEC))
    except BaseException:
        os.close(hostfd)
        raise
