"""wasm32-threads end to end: the smoke task (every smoke program, the thread programs in
tests/smoke/wasm32-threads among them) and what needs the embedder's options: a deadlock's message,
--timeout and Ctrl-C stopping threads that spin, --max-threads, threads running in parallel."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from muslforge import paths, proc
from muslforge.sysroot.cc import cc_argv
from muslforge.config.arch import load_arch
from muslforge.config.toolchain import load_toolchain

pytestmark = pytest.mark.slow

PROGRAM = r'''
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static pthread_mutex_t a = PTHREAD_MUTEX_INITIALIZER, b = PTHREAD_MUTEX_INITIALIZER;
static pthread_barrier_t both;
static volatile unsigned spun;

static void *lock_b_then_a(void *x) { pthread_mutex_lock(&b); pthread_barrier_wait(&both); pthread_mutex_lock(&a); return 0; }
static void *spin(void *x) { for (;;) spun++; }
static void *park(void *x) { pthread_mutex_lock(&a); return 0; }

int main(int argc, char **argv)
{
    pthread_t t;
    if (!strcmp(argv[1], "deadlock")) {
        pthread_barrier_init(&both, 0, 2);
        pthread_create(&t, 0, lock_b_then_a, 0);
        pthread_mutex_lock(&a);
        pthread_barrier_wait(&both);
        pthread_mutex_lock(&b);
    } else if (!strcmp(argv[1], "spin")) {
        for (int i = 0; i < 2; i++) pthread_create(&t, 0, spin, 0);
        puts("spinning");
        fflush(stdout);
        pthread_join(t, 0);
    } else if (!strcmp(argv[1], "limit")) {
        int made = 0;
        pthread_mutex_lock(&a);
        while (made < 1000 && pthread_create(&t, 0, park, 0) == 0) made++;
        printf("%d\n", made);
        return 0;
    }
    return 3;
}
'''


@pytest.fixture(scope="module")
def program(wasm32_threads_sysroot, tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("threads")
    source, wasm = out / "threads.c", out / "threads.wasm"
    source.write_text(PROGRAM)
    arch = load_arch(paths.ARCHES_DIR, "wasm32-threads")
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")
    proc.output(cc_argv(toolchain, arch, wasm32_threads_sysroot, ["-O2", str(source), "-o", str(wasm)]))
    return wasm


def embedder(wasm: Path, *args: str, timeout: float = 60) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "muslforge.wasm", "--dir", str(wasm.parent), *args],
                          capture_output=True, text=True, timeout=timeout)


def test_smoke_wasm32_threads(host_doit, wasm32_threads_sysroot):
    if os.environ.get("MUSLFORGE_WASM32_THREADS_SYSROOT"):
        pytest.skip("the smoke task runs against the session's own build")
    done = host_doit("smoke:wasm32-threads")
    report = json.loads((host_doit.build / "smoke" / "wasm32-threads.json").read_text())
    names = {p["name"] for p in report["programs"]}
    assert {"threads_lifecycle", "threads_sync", "threads_cancel", "threads_stdio_malloc"} <= names
    assert report["passed"], done.stdout[-4000:]


def test_a_deadlock_ends_at_once_with_a_clear_message(program):
    done = embedder(program, str(program), "deadlock")
    assert done.returncode == 134
    assert "all 2 threads wait on futexes with no timeout: deadlock" in done.stderr


def test_timeout_stops_every_spinning_thread(program):
    started = time.monotonic()
    done = embedder(program, "--timeout", "1", str(program), "spin")
    assert done.returncode == 124, done.stderr
    assert "spinning" in done.stdout and "time limit (--timeout 1 s)" in done.stderr
    assert time.monotonic() - started < 20


def test_ctrl_c_stops_every_spinning_thread(program):
    child = subprocess.Popen([sys.executable, "-m", "muslforge.wasm", "--dir", str(program.parent),
                              str(program), "spin"], stdout=subprocess.PIPE, text=True)
    assert child.stdout.readline() == "spinning\n"
    child.send_signal(signal.SIGINT)
    assert child.wait(20) == 130


def test_max_threads_makes_pthread_create_fail(program):
    done = embedder(program, "--max-threads", "5", str(program), "limit")
    assert (done.returncode, done.stdout) == (0, "4\n"), done.stderr
    assert embedder(program, "--max-threads", "0", str(program), "limit").returncode == 2
