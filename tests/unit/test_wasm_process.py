"""Clocks, sleeping, identity, randomness, uname, signals; the process tree seen by one guest and the
signal masks of ppoll/pselect6."""

import errno
import io
import os
import struct
import time

import pytest

from muslforge.wasm import abi
from muslforge.wasm.errors import ProcessExit
from muslforge.wasm.wat import syscall_module
from tests.unit.wasm_guest import call, instance

MODULE = syscall_module({
    "clock_gettime64": 2, "clock_getres_time64": 2, "clock_nanosleep_time64": 4, "nanosleep": 2,
    "getpid": 0, "getppid": 0, "gettid": 0, "getuid": 0, "geteuid": 0, "getgid": 0, "getegid": 0,
    "set_tid_address": 1, "getrandom": 3, "uname": 1, "rt_sigaction": 4, "rt_sigprocmask": 4,
    "sched_yield": 0, "kill": 2, "tkill": 2, "tgkill": 3, "prlimit64": 4, "getpgid": 1, "getsid": 1,
    "setpgid": 2, "setsid": 0, "ppoll_time64": 5, "pselect6_time64": 6,
})
BUF = 4096
MASK, ACT, TIMEOUT, ARG = 4200, 4300, 4400, 4600      # the tree and wait-mask tests' buffers
SIGUSR1 = 10


@pytest.fixture
def inst(tmp_path):
    with instance(MODULE, tmp_path) as running:
        yield running


def test_clock_gettime_realtime_and_monotonic(inst):
    assert call(inst, "clock_gettime64", abi.CLOCK_REALTIME, BUF) == 0
    sec, nsec = abi.TIMESPEC.unpack(inst.proc.mem.read(BUF, 16))
    assert abs(sec - time.time()) < 5 and 0 <= nsec < 10**9
    assert call(inst, "clock_gettime64", abi.CLOCK_MONOTONIC, BUF) == 0
    assert call(inst, "clock_gettime64", 99, BUF) == -errno.EINVAL
    assert call(inst, "clock_getres_time64", abi.CLOCK_MONOTONIC, BUF) == 0
    assert abi.TIMESPEC.unpack(inst.proc.mem.read(BUF, 16))[1] > 0


def test_sleeps(inst):
    inst.proc.mem.write(BUF, abi.TIMESPEC.pack(0, 20_000_000))
    before = time.monotonic()
    assert call(inst, "nanosleep", BUF, 0) == 0
    assert call(inst, "clock_nanosleep_time64", abi.CLOCK_MONOTONIC, 0, BUF, 0) == 0
    assert time.monotonic() - before >= 0.04
    inst.proc.mem.write(BUF, abi.TIMESPEC.pack(0, 2 * 10**9))
    assert call(inst, "nanosleep", BUF, 0) == -errno.EINVAL
    inst.proc.mem.write(BUF, abi.TIMESPEC.pack(1, 0))                  # absolute time long past
    assert call(inst, "clock_nanosleep_time64", abi.CLOCK_MONOTONIC, abi.TIMER_ABSTIME, BUF, 0) == 0


def test_identity(inst):
    import os
    assert [call(inst, n) for n in ("getpid", "gettid", "getppid")] == [1, 1, 0]
    assert call(inst, "getuid") == os.getuid() and call(inst, "getegid") == os.getegid()
    assert call(inst, "set_tid_address", BUF) == 1
    assert call(inst, "sched_yield") == 0


def test_getrandom_and_uname(inst):
    assert call(inst, "getrandom", BUF, 32, 0) == 32
    assert inst.proc.mem.read(BUF, 32) != bytes(32)
    assert call(inst, "uname", BUF) == 0
    fields = [inst.proc.mem.read(BUF + 65 * i, 65).split(b"\0")[0] for i in range(6)]
    assert fields[0] == b"Linux" and fields[4] == b"wasm32"


def test_prlimit(inst):
    assert call(inst, "prlimit64", 0, 7, 0, BUF) == 0
    assert struct.unpack("<QQ", inst.proc.mem.read(BUF, 16)) == (1024, 1024)


def test_sigprocmask_records_the_mask(inst):
    inst.proc.mem.write(BUF, struct.pack("<Q", 1 << 5))
    assert call(inst, "rt_sigprocmask", abi.SIG_BLOCK, BUF, BUF + 8, 8) == 0
    assert call(inst, "rt_sigprocmask", abi.SIG_SETMASK, 0, BUF + 8, 8) == 0
    assert struct.unpack("<Q", inst.proc.mem.read(BUF + 8, 8))[0] == 1 << 5
    assert call(inst, "rt_sigprocmask", 7, BUF, 0, 8) == -errno.EINVAL


def test_fatal_signal_to_self_exits_128_plus_signal(inst):
    with pytest.raises(ProcessExit) as caught:
        call(inst, "tkill", 1, 6)
    assert caught.value.status == 134
    assert call(inst, "kill", 1, 0) == 0                     # existence check
    assert call(inst, "kill", 77, 15) == -errno.ESRCH
    assert call(inst, "tgkill", 1, 1, 17) == 0               # SIGCHLD: ignored by default


def test_ignored_or_handled_signal_is_not_fatal(inst):
    inst.proc.mem.write(BUF, struct.pack("<IIQI", abi.SIG_IGN, 0, 0, 0))
    assert call(inst, "rt_sigaction", 15, BUF, 0, 8) == 0
    assert call(inst, "kill", 1, 15) == 0
    assert call(inst, "rt_sigaction", 15, 0, BUF + 64, 8) == 0
    assert inst.proc.mem.read(BUF + 64, 4) == struct.pack("<I", abi.SIG_IGN)
    assert call(inst, "rt_sigaction", 9, BUF, 0, 8) == -errno.EINVAL
    with pytest.raises(ProcessExit):
        call(inst, "kill", 1, 9)


def test_exit_from_start_via_signal(tmp_path):
    from muslforge.wasm import run
    wasm = syscall_module({"getpid": 0, "kill": 2}, "(drop (call $kill (call $getpid) (i32.const 15)))")
    path = tmp_path / "k.wasm"
    path.write_bytes(wasm)
    assert run(path, [], root=tmp_path, stdout=io.BytesIO(), stderr=io.BytesIO()) == 143


# ---- the process tree seen by one guest (tree.py), the masks of ppoll/pselect6 (signals.wait_mask)

def test_the_first_guest_is_pid_1_leading_group_and_session_1(inst):
    assert [call(inst, n) for n in ("getpid", "getppid")] == [1, 0]
    assert call(inst, "getpgid", 0) == call(inst, "getsid", 0) == 1
    assert call(inst, "setsid") == -errno.EPERM                 # a group leader already
    assert call(inst, "setpgid", 0, 0) == 0
    assert call(inst, "setpgid", 0, 5) == -errno.EPERM


def test_nothing_outside_the_tree_can_be_named(inst):
    """The test runner's pid and group, the host group the embedder runs in, pid 1 of the host."""
    me, group = os.getpid(), os.getpgid(0)
    for pid in (me, os.getppid(), 999_999):
        assert call(inst, "kill", pid, 0) == -errno.ESRCH
        assert call(inst, "getpgid", pid) == -errno.ESRCH
    assert call(inst, "kill", -group, 0) == -errno.ESRCH       # the host group is named 1 inside
    assert call(inst, "setpgid", 0, group) == -errno.EPERM
    assert call(inst, "kill", -1, 0) == 0                       # no children: nothing to reach


def _block_usr1_pending(inst, handler):
    inst.proc.mem.write(ACT, struct.pack("<IIIQ", handler, 0, 0, 0))
    assert call(inst, "rt_sigaction", SIGUSR1, ACT, 0, 8) == 0
    inst.proc.mem.store_u64(MASK, 1 << (SIGUSR1 - 1))
    assert call(inst, "rt_sigprocmask", abi.SIG_SETMASK, MASK, 0, 8) == 0
    assert call(inst, "kill", 1, SIGUSR1) == 0                  # pending while blocked
    inst.proc.mem.write(TIMEOUT, abi.TIMESPEC.pack(0, 100_000_000))


@pytest.mark.parametrize("let_through", [True, False])
def test_ppoll_waits_with_its_mask_an_ignored_signal_let_through_vanishes(inst, let_through):
    _block_usr1_pending(inst, abi.SIG_IGN)
    inst.proc.mem.store_u64(MASK, 0 if let_through else 1 << (SIGUSR1 - 1))
    start = time.monotonic()
    assert call(inst, "ppoll_time64", 0, 0, TIMEOUT, MASK, 8) == 0       # ignored: the wait goes on
    assert time.monotonic() - start >= 0.09
    assert inst.proc.threads.current.pending == (0 if let_through else 1 << (SIGUSR1 - 1))
    inst.proc.mem.store_u64(BUF, 0)
    call(inst, "rt_sigprocmask", abi.SIG_BLOCK, 0, BUF, 8)
    assert struct.unpack("<Q", inst.proc.mem.read(BUF, 8))[0] == 1 << (SIGUSR1 - 1)   # the old mask is back


def test_pselect_with_a_mask_that_lets_a_fatal_signal_through_ends_the_program(inst):
    _block_usr1_pending(inst, abi.SIG_DFL)
    inst.proc.mem.store_u64(MASK, 0)
    inst.proc.mem.write(ARG, struct.pack("<II", MASK, 8))
    with pytest.raises(ProcessExit) as end:
        call(inst, "pselect6_time64", 0, 0, 0, 0, TIMEOUT, ARG)
    assert end.value.status == 128 + SIGUSR1
