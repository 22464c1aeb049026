"""Signals sent to self: handlers through the exported table, pending while blocked, default actions."""

import errno
import io
import struct

import pytest

from muslforge.wasm import abi
from muslforge.wasm.errors import ProcessExit
from muslforge.wasm.host import Instance
from muslforge.wasm.wat import syscall_module

SYSCALLS = {"rt_sigaction": 4, "rt_sigprocmask": 4, "kill": 2, "tkill": 2, "getpid": 0, "futex_time64": 6,
            "write": 3}
TABLE = """
  (table (export "__indirect_function_table") 4 funcref)
  (elem (i32.const 2) $on_signal $on_siginfo)
  (func $on_signal (param i32)
    (i32.store (i32.const 512) (local.get 0))
    (drop (call $write (i32.const 1) (i32.const 600) (i32.const 8))))
  (func $on_siginfo (param i32 i32 i32)
    (i32.store (i32.const 516) (i32.load (local.get 1)))
    (i32.store (i32.const 520) (i32.load offset=8 (local.get 1))))
"""
ACT, SET = 1024, 1100
SIGUSR1, SIGUSR2 = 10, 12


def make(tmp_path, table=True):
    wasm = syscall_module(SYSCALLS, extra=TABLE if table else "", data={600: b"handler\n"})
    out = io.BytesIO()
    instance = Instance(wasm, ["t"], root=tmp_path, stdout=out, stderr=io.BytesIO())
    return instance, out


def sigaction(instance, sig, handler, flags=0, mask=0):
    instance.proc.mem.write(ACT, struct.pack("<IIIQ", handler, flags, 0, mask))
    return instance.call("sys_rt_sigaction", sig, ACT, 0, 8)


def word(instance, addr):
    return struct.unpack("<i", instance.proc.mem.read(addr, 4))[0]


def test_handler_runs_synchronously_and_can_make_syscalls(tmp_path):
    instance, out = make(tmp_path)
    assert sigaction(instance, SIGUSR1, 2) == 0
    assert instance.call("sys_kill", 1, SIGUSR1) == 0
    assert word(instance, 512) == SIGUSR1
    assert out.getvalue() == b"handler\n"
    assert instance.proc.sigmask == 0                    # restored after the handler


def test_siginfo_handler_gets_signo_and_code(tmp_path):
    instance, _ = make(tmp_path)
    assert sigaction(instance, SIGUSR2, 3, flags=4) == 0
    assert instance.call("sys_tkill", 1, SIGUSR2) == 0
    assert word(instance, 516) == SIGUSR2 and word(instance, 520) == -6       # SI_TKILL


def test_blocked_signal_is_delivered_on_unblock(tmp_path):
    instance, _ = make(tmp_path)
    sigaction(instance, SIGUSR1, 2)
    instance.proc.mem.write(SET, struct.pack("<Q", 1 << (SIGUSR1 - 1)))
    instance.call("sys_rt_sigprocmask", abi.SIG_BLOCK, SET, 0, 8)
    assert instance.call("sys_kill", 1, SIGUSR1) == 0
    assert word(instance, 512) == 0
    instance.call("sys_rt_sigprocmask", abi.SIG_UNBLOCK, SET, 0, 8)
    assert word(instance, 512) == SIGUSR1


def test_blocked_fatal_signal_terminates_on_unblock(tmp_path):
    instance, _ = make(tmp_path)
    instance.proc.mem.write(SET, struct.pack("<Q", (1 << 64) - 1))
    instance.call("sys_rt_sigprocmask", abi.SIG_BLOCK, SET, 0, 8)
    assert instance.call("sys_tkill", 1, 6) == 0          # abort()'s raise with everything blocked
    with pytest.raises(ProcessExit) as caught:
        instance.call("sys_rt_sigprocmask", abi.SIG_SETMASK, SET + 8, 0, 8)
    assert caught.value.status == 134


def test_handler_without_exported_table_takes_the_default_action(tmp_path):
    instance, _ = make(tmp_path, table=False)
    sigaction(instance, SIGUSR1, 2)
    with pytest.raises(ProcessExit) as caught:
        instance.call("sys_kill", 1, SIGUSR1)
    assert caught.value.status == 128 + SIGUSR1


def test_futex_single_thread_rules(tmp_path):
    instance, _ = make(tmp_path)
    instance.proc.mem.write(700, struct.pack("<i", 5))
    assert instance.call("sys_futex_time64", 700, 1 | 128, 1, 0, 0, 0) == 0               # WAKE
    assert instance.call("sys_futex_time64", 700, 0 | 128, 4, 0, 0, 0) == -errno.EAGAIN   # changed
    instance.proc.mem.write(720, abi.TIMESPEC.pack(0, 1_000_000))
    assert instance.call("sys_futex_time64", 700, 0, 5, 720, 0, 0) == -errno.ETIMEDOUT
    with pytest.raises(ProcessExit) as caught:
        instance.call("sys_futex_time64", 700, 0, 5, 0, 0, 0)                             # deadlock
    assert caught.value.status == 134
