"""Limits on a hostile guest: --timeout, --max-memory, SIGINT/SIGTERM on a compute loop, bad modules."""

import io
import os
import signal
import subprocess
import sys
import time

import pytest

from muslforge.wasm import EmbedderError, run
from muslforge.wasm.limits import parse_size
from muslforge.wasm.wat import syscall_module
from tests.conftest import CHECKOUT

GO = "(drop (call $write (i32.const 1) (i32.const 32) (i32.const 3)))\n"      # "go\n": it runs
SPIN = syscall_module({"write": 3}, GO + "(loop $forever (br $forever))", data={32: b"go\n"})
SLEEP = syscall_module({"write": 3, "nanosleep": 2}, GO + "(i64.store (i32.const 64) (i64.const 30))\n"
                       "(drop (call $nanosleep (i32.const 64) (i32.const 0)))", data={32: b"go\n"})
# exit(1) when memory.grow by 160 pages (10 MiB) fails, 2 when a 10 MiB brk fails, else 0.
GROW = syscall_module({"exit_group": 1, "brk": 1}, """
    (if (i32.eq (memory.grow (i32.const 160)) (i32.const -1))
        (then (drop (call $exit_group (i32.const 1)))))
    (if (i32.lt_u (call $brk (i32.const 0x4000000)) (i32.const 0x4000000))
        (then (drop (call $exit_group (i32.const 2)))))
    (drop (call $exit_group (i32.const 0)))""")


def run_bytes(tmp_path, wasm, **kw):
    path = tmp_path / "prog.wasm"
    path.write_bytes(wasm)
    err = io.BytesIO()
    status = run(path, ["prog"], root=tmp_path, stdout=io.BytesIO(), stderr=err, **kw)
    return status, err.getvalue().decode()


@pytest.mark.parametrize("wasm", [SPIN, SLEEP], ids=["compute-loop", "host-sleep"])
def test_timeout_stops_the_guest_with_124(tmp_path, wasm):
    started = time.monotonic()
    status, err = run_bytes(tmp_path, wasm, timeout=0.3)
    assert status == 124
    assert time.monotonic() - started < 5
    assert err == "muslforge.wasm: prog.wasm: stopped: it ran past the time limit (--timeout 0.3 s)\n"


def test_max_memory_makes_growth_fail(tmp_path):
    assert run_bytes(tmp_path, GROW)[0] == 0
    assert run_bytes(tmp_path, GROW, max_memory=parse_size("4M"))[0] == 1
    with pytest.raises(EmbedderError, match="--max-memory 65536 bytes at start"):
        run_bytes(tmp_path, GROW, max_memory=65536)


def test_sizes():
    assert [parse_size(s) for s in ("100", "64K", "2M", "1G", "3MiB")] == [100, 65536, 2 << 20, 1 << 30,
                                                                           3 << 20]
    with pytest.raises(EmbedderError, match="give a size in bytes"):
        parse_size("lots")


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
@pytest.mark.parametrize("wasm", [SPIN, SLEEP], ids=["compute-loop", "host-sleep"])
def test_signals_stop_a_running_guest(tmp_path, sig, wasm):
    path = tmp_path / "prog.wasm"
    path.write_bytes(wasm)
    child = subprocess.Popen([sys.executable, "-m", "muslforge.wasm", "--dir", str(tmp_path), str(path)],
                             cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    try:
        assert child.stdout.read(3) == b"go\n"          # the guest is running
        time.sleep(0.2)
        sent = time.monotonic()
        child.send_signal(sig)
        status = child.wait(timeout=10)
    finally:
        child.kill()
    assert status == 128 + sig, child.stderr.read().decode()
    assert time.monotonic() - sent < 1.0
    assert child.stderr.read() == b""


@pytest.mark.parametrize("content, message", [
    (b"", "prog.wasm is empty, not a wasm module"),
    (b"#!/bin/sh\necho hi\n", "prog.wasm is not a wasm module: it does not start with the bytes \\0asm"),
    (SPIN[:30], "prog.wasm is not a valid wasm module for this embedder: truncated at byte 30 (the section"),
    (b"\0asm\x02\0\0\0", "unknown binary version"),
])
def test_bad_modules_say_what_is_wrong(tmp_path, content, message):
    with pytest.raises(EmbedderError) as caught:
        run_bytes(tmp_path, content)
    assert message in str(caught.value)
    assert "Caused by" not in str(caught.value) and "\n" not in str(caught.value)


def test_wrong_import_types_are_shown_in_wat(tmp_path):
    import wasmtime

    wasm = wasmtime.wat2wasm('(module (import "env" "__syscall_read" (func (param i64) (result f32)))'
                             ' (import "js" "mem" (memory 1 2)))')
    with pytest.raises(EmbedderError) as caught:
        run_bytes(tmp_path, wasm)
    assert "env.__syscall_read (func (param i64) (result f32)): has the wrong type" in str(caught.value)
    assert "js.mem (memory 1 2): not provided by the embedder" in str(caught.value)


def test_compiled_modules_are_cached_and_a_bad_cache_file_is_recompiled(tmp_path, monkeypatch):
    from muslforge.wasm.host import module_cache

    monkeypatch.setenv("MUSLFORGE_CACHE", str(tmp_path / "cache"))
    hello = syscall_module({"exit_group": 1}, "(drop (call $exit_group (i32.const 5)))")
    cached = module_cache(hello)
    assert not cached.exists()
    assert run_bytes(tmp_path, hello)[0] == 5
    assert cached.is_file() and cached.name.endswith(".cwasm")
    assert run_bytes(tmp_path, hello)[0] == 5                     # from the cache
    cached.write_bytes(b"not a compiled module")
    assert run_bytes(tmp_path, hello)[0] == 5                     # refused by wasmtime: compiled again
    assert cached.read_bytes() != b"not a compiled module"
