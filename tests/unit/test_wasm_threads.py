"""Guest threads on hand-written WAT modules: clone, join through clear-child-tid, exit vs exit_group,
the thread limit, signals that interrupt a blocked thread, deadlock detection, host futexes, and guest
code running in parallel without the GIL."""

import errno
import io
import threading
import time

import pytest

from muslforge.wasm.errors import Errno
from muslforge.wasm.futex import FutexTable
from muslforge.wasm.guest import SharedGuestMemory, shared_memory
from muslforge.wasm.host import Instance, engine

MUSL_CLONE_FLAGS = 0x7D0F00     # what musl's pthread_create passes
SYSCALLS = {"clone": 5, "futex_time64": 6, "exit": 1, "exit_group": 1, "gettid": 0, "tkill": 2,
            "rt_sigaction": 4, "sched_yield": 0}


def threaded_module(start: str, thread: str, extra: str = "") -> bytes:
    """A module shaped like a wasm32-threads program: imported shared memory, __wasm_thread_start."""
    import wasmtime

    imports = "\n".join(f'(import "env" "__syscall_{n}" (func ${n} (param{" i32" * k}) (result i32)))'
                        for n, k in SYSCALLS.items())
    return wasmtime.wat2wasm(f"""(module
      (import "env" "memory" (memory 2 16 shared))
      {imports}
      (global (export "__heap_base") i32 (i32.const 65536))
      {extra}
      (func (export "__wasm_thread_start") (param $tid i32) (param $stack i32) (param $tls i32) {thread})
      (func (export "_start") (param $p i32) (local $tid i32) (local $i i32) {start}))""")


# main: clone a thread (ptid at 104, ctid at 100), wait on ctid until the host clears it, then exit with
# 100*(tls seen by the child == 777) + 10*(ptid == tid) + (child's gettid == tid).
JOIN = """
  (i32.store (i32.const 100) (i32.const -1))
  (local.set $tid (call $clone (i32.const 0x7d0f00) (i32.const 60000) (i32.const 104) (i32.const 777)
                               (i32.const 100)))
  (block $done (loop $wait
    (br_if $done (i32.eqz (i32.atomic.load (i32.const 100))))
    (drop (call $futex_time64 (i32.const 100) (i32.const 128) (i32.const -1) (i32.const 0) (i32.const 0)
                              (i32.const 0)))
    (br $wait)))
  (drop (call $exit_group (i32.add (i32.add
      (i32.mul (i32.eq (i32.load (i32.const 204)) (i32.const 777)) (i32.const 100))
      (i32.mul (i32.eq (i32.load (i32.const 104)) (local.get $tid)) (i32.const 10)))
      (i32.eq (i32.load (i32.const 200)) (local.get $tid)))))
"""
CHILD_RECORDS = """
  (i32.atomic.store (i32.const 200) (call $gettid))
  (i32.atomic.store (i32.const 204) (local.get $tls))
  (drop (call $exit (i32.const 0)))
"""


def run(tmp_path, wasm, **options):
    err = io.BytesIO()
    instance = Instance(wasm, ["t"], root=tmp_path, stdout=io.BytesIO(), stderr=err, **options)
    try:
        return instance.run(), err.getvalue().decode()
    finally:
        instance.close()


def test_clone_runs_the_thread_start_and_join_sees_the_tid_cleared(tmp_path):
    assert run(tmp_path, threaded_module(JOIN, CHILD_RECORDS)) == (111, "")


def test_exit_group_in_a_thread_stops_a_main_thread_running_guest_code(tmp_path):
    spin_forever = """
      (drop (call $clone (i32.const 0x7d0f00) (i32.const 60000) (i32.const 0) (i32.const 0) (i32.const 0)))
      (loop $spin (br $spin))"""
    started = time.monotonic()
    status, err = run(tmp_path, threaded_module(spin_forever, "(drop (call $exit_group (i32.const 7)))"))
    assert (status, err) == (7, "")
    assert time.monotonic() - started < 10


def test_threads_beyond_the_limit_get_eagain(tmp_path):
    # main clones until clone fails, then exits with -result*10 + number of threads made (parked forever).
    clone_until_refused = """
      (block $full (loop $more
        (local.set $tid (call $clone (i32.const 0x7d0f00) (i32.const 60000) (i32.const 0) (i32.const 0)
                                     (i32.const 0)))
        (br_if $full (i32.lt_s (local.get $tid) (i32.const 0)))
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br $more)))
      (drop (call $exit_group (i32.add (i32.mul (i32.sub (i32.const 0) (local.get $tid)) (i32.const 10))
                                       (local.get $i))))"""
    park = """(loop $park (drop (call $futex_time64 (i32.const 300) (i32.const 128) (i32.const 0) (i32.const 0)
                                  (i32.const 0) (i32.const 0))) (br $park))"""
    assert run(tmp_path, threaded_module(clone_until_refused, park), max_threads=4)[0] == errno.EAGAIN * 10 + 3


def test_clone_needs_the_thread_flags_and_a_stack(tmp_path):
    fork_like = """(drop (call $exit_group (i32.sub (i32.const 0) (call $clone (i32.const 17) (i32.const 60000)
                     (i32.const 0) (i32.const 0) (i32.const 0)))))"""
    assert run(tmp_path, threaded_module(fork_like, ""))[0] == errno.ENOSYS


def test_a_signal_interrupts_a_thread_blocked_in_futex_wait(tmp_path):
    # main installs a SIGUSR1 handler (table index 2), starts a child that waits on a futex nobody wakes
    # (storing the result at 208), sends it SIGUSR1 until that wait ends, joins it, and exits with
    # -result + 10 * the signal the handler (run in the child) saw.
    extra = """
      (table (export "__indirect_function_table") 3 funcref)
      (elem (i32.const 2) $handler)
      (func $handler (param i32) (i32.atomic.store (i32.const 216) (local.get 0)))"""
    start = """
      (i32.store (i32.const 400) (i32.const 2))                    ;; struct k_sigaction: handler 2
      (drop (call $rt_sigaction (i32.const 10) (i32.const 400) (i32.const 0) (i32.const 8)))
      (i32.store (i32.const 100) (i32.const -1))
      (local.set $tid (call $clone (i32.const 0x7d0f00) (i32.const 60000) (i32.const 0) (i32.const 0)
                                   (i32.const 100)))
      ;; signal until the child's wait has ended: a signal handled at a safe point before the child
      ;; enters the wait does not end it (as on Linux), the next one does
      (block $ended (loop $send
        (br_if $ended (i32.atomic.load (i32.const 208)))
        (drop (call $tkill (local.get $tid) (i32.const 10)))
        (drop (call $sched_yield))
        (br $send)))
      (block $done (loop $wait
        (br_if $done (i32.eqz (i32.atomic.load (i32.const 100))))
        (drop (call $futex_time64 (i32.const 100) (i32.const 128) (i32.const -1) (i32.const 0)
                                  (i32.const 0) (i32.const 0)))
        (br $wait)))
      (drop (call $exit_group (i32.add (i32.sub (i32.const 0) (i32.load (i32.const 208)))
                                       (i32.mul (i32.load (i32.const 216)) (i32.const 10)))))"""
    child = """
      (i32.atomic.store (i32.const 208) (call $futex_time64 (i32.const 300) (i32.const 128) (i32.const 0)
                                            (i32.const 0) (i32.const 0) (i32.const 0)))
      (drop (call $exit (i32.const 0)))"""
    status, err = run(tmp_path, threaded_module(start, child, extra))
    assert status == errno.EINTR + 10 * 10, err     # -EINTR from the wait, the handler saw SIGUSR1


def test_all_threads_waiting_without_timeout_is_a_deadlock(tmp_path):
    both_wait = """
      (drop (call $clone (i32.const 0x7d0f00) (i32.const 60000) (i32.const 0) (i32.const 0) (i32.const 0)))
      (drop (call $futex_time64 (i32.const 300) (i32.const 128) (i32.const 0) (i32.const 0) (i32.const 0)
                                (i32.const 0)))"""
    child = """(drop (call $futex_time64 (i32.const 304) (i32.const 128) (i32.const 0) (i32.const 0)
                                      (i32.const 0) (i32.const 0)))"""
    status, err = run(tmp_path, threaded_module(both_wait, child))
    assert status == 134
    assert "all 2 threads wait on futexes with no timeout: deadlock" in err


def test_guest_code_runs_in_parallel_without_the_gil():
    """Thread A spins in wasm until thread B, also in wasm, sets a flag. If entering wasm kept the GIL,
    B could never start while A spins, and A would give up after its iteration budget."""
    import wasmtime

    eng = engine()
    module = wasmtime.Module(eng, """(module (import "env" "memory" (memory 1 1 shared))
      (func (export "spin") (result i32) (local $i i32)
        (block $seen (loop $l
          (br_if $seen (i32.atomic.load (i32.const 0)))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br_if $l (i32.lt_u (local.get $i) (i32.const 2000000000)))))
        (i32.atomic.load (i32.const 0)))
      (func (export "set") (i32.atomic.store (i32.const 0) (i32.const 1))))""")
    memory = shared_memory(eng, wasmtime.MemoryType(wasmtime.Limits(1, 1), shared=True))
    seen = []

    def call(export: str) -> None:
        store = wasmtime.Store(eng)
        store.set_epoch_deadline(1)
        linker = wasmtime.Linker(eng)
        linker.define(store, "env", "memory", memory)
        result = linker.instantiate(store, module).exports(store)[export](store)
        seen.append(result)
    spinner = threading.Thread(target=call, args=("spin",))
    spinner.start()
    time.sleep(0.05)
    call("set")
    spinner.join(60)
    assert seen[-1] == 1


# ---- the futex table on its own -------------------------------------------------------------------

@pytest.fixture
def mem():
    import wasmtime

    memory = shared_memory(engine(), wasmtime.MemoryType(wasmtime.Limits(1, 1), shared=True))
    return SharedGuestMemory(memory, None)


def waiter(table, mem, addr, value, timeout=None, bitset=0xFFFFFFFF, interrupted=lambda: False):
    results, event = [], threading.Event()

    def wait():
        deadline = None if timeout is None else time.monotonic_ns() + int(timeout * 1e9)
        try:
            results.append(table.wait(mem, addr, value, deadline, bitset, event, interrupted, threads=99))
        except Errno as error:
            results.append(-error.errno)
    thread = threading.Thread(target=wait)
    thread.start()
    for _ in range(500):
        if table.waiting(addr) or results:
            break
        time.sleep(0.01)
    return thread, results, event


def test_futex_wait_returns_eagain_when_the_word_changed(mem):
    mem.write(64, (5).to_bytes(4, "little"))
    with pytest.raises(Errno) as error:
        FutexTable().wait(mem, 64, 4, None, 0xFFFFFFFF, threading.Event(), lambda: False, threads=9)
    assert error.value.errno == errno.EAGAIN


def test_futex_wake_wakes_at_most_count_waiters(mem):
    table = FutexTable()
    waiters = [waiter(table, mem, 64, 0) for _ in range(3)]
    assert table.waiting(64) == 3
    assert table.wake(64, 2) == 2
    assert table.wake(64, -1) == 1                     # negative: all
    for thread, results, _ in waiters:
        thread.join(5)
        assert results == [0]


def test_futex_wait_times_out(mem):
    thread, results, _ = waiter(FutexTable(), mem, 64, 0, timeout=0.05)
    thread.join(5)
    assert results == [-errno.ETIMEDOUT]


def test_futex_bitsets_select_waiters(mem):
    table = FutexTable()
    low, high = waiter(table, mem, 64, 0, bitset=1), waiter(table, mem, 64, 0, bitset=2)
    assert table.wake(64, 10, bitset=2) == 1
    high[0].join(5)
    assert high[1] == [0] and low[1] == []
    assert table.wake(64, 10) == 1
    low[0].join(5)


def test_futex_requeue_moves_waiters_and_cmp_requeue_checks_the_word(mem):
    table = FutexTable()
    waiters = [waiter(table, mem, 64, 0) for _ in range(3)]
    with pytest.raises(Errno):
        table.requeue(mem, 64, 1, 128, 10, expected=9)
    assert table.requeue(mem, 64, 1, 128, 10, expected=0) == 3
    assert (table.waiting(64), table.waiting(128)) == (0, 2)
    assert table.wake(128, 5) == 2
    for thread, results, _ in waiters:
        thread.join(5)
        assert results == [0]


def test_futex_wait_is_interrupted(mem):
    flag = []
    table = FutexTable()
    thread, results, event = waiter(table, mem, 64, 0, interrupted=lambda: bool(flag))
    flag.append(1)
    event.set()
    thread.join(5)
    assert results == [-errno.EINTR] and table.waiting(64) == 0


def test_futex_addresses_must_be_aligned(mem):
    with pytest.raises(Errno) as error:
        FutexTable().wake(65, 1)
    assert error.value.errno == errno.EINVAL
