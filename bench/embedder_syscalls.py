#!/usr/bin/env python3
"""Microseconds per syscall in muslforge's wasm32 embedder against wasmtime's own WASI (the floor).

The same C program is built twice: against build/sysroots/wasm32 (muslforge cc) and against Debian's
wasi-libc (clang-22 --target=wasm32-wasi, package wasi-libc). Each times its own loops with
clock_gettime and prints ns per operation; wasmtime-py's WasiConfig (wasmtime's WASI implementation)
runs the WASI build. getpid has no host call in WASI (wasi-libc emulates it in the library), so its
floor is WASI's cheapest host call, clock_gettime.

    python3 bench/embedder_syscalls.py [iterations] [repeats]     # defaults 20000 5; prints medians
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SOURCE = r'''
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double now(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e9 + t.tv_nsec;
}

int main(int argc, char **argv)
{
    int n = argc > 1 ? atoi(argv[1]) : 20000;
    char buf[64];
    struct timespec ts;
    memset(buf, 'x', sizeof buf);
    double t = now();
    for (int i = 0; i < n; i++) clock_gettime(CLOCK_MONOTONIC, &ts);
    printf("clock_gettime %.0f\n", (now() - t) / n);
#ifndef __wasi__
    t = now();
    for (int i = 0; i < n; i++) getpid();
    printf("getpid %.0f\n", (now() - t) / n);
#endif
    int fd = open("bench.out", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    t = now();
    for (int i = 0; i < n; i++) write(fd, buf, sizeof buf);
    printf("write64 %.0f\n", (now() - t) / n);
    close(fd);
    t = now();
    for (int i = 0; i < n; i++) {
        fd = open("bench.out", O_RDONLY);
        read(fd, buf, sizeof buf);
        close(fd);
    }
    printf("open_read_close %.0f\n", (now() - t) / n);
    return 0;
}
'''
WASI_RUNNER = r'''
import sys, wasmtime
wasm, folder, out, n = sys.argv[1:]
engine = wasmtime.Engine()
linker = wasmtime.Linker(engine)
linker.define_wasi()
store = wasmtime.Store(engine)
wasi = wasmtime.WasiConfig()
wasi.argv = ["bench", n]
wasi.preopen_dir(folder, ".")
wasi.stdout_file = out
store.set_wasi(wasi)
instance = linker.instantiate(store, wasmtime.Module.from_file(engine, wasm))
try:
    instance.exports(store)["_start"](store)
except wasmtime.ExitTrap as stop:
    sys.exit(stop.code)
'''


def build(work: Path) -> tuple[Path, Path]:
    (work / "bench.c").write_text(SOURCE)
    ours, wasi = work / "ours.wasm", work / "wasi.wasm"
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    subprocess.run([sys.executable, "-m", "muslforge.cli", "cc", "--arch", "wasm32", "-O2", str(work / "bench.c"),
                    "-o", str(ours)], check=True, env=env)
    subprocess.run(["clang-22", "--target=wasm32-wasi", "-Wno-deprecated", "--sysroot=/usr", "-O2",
                    "-fuse-ld=lld", str(work / "bench.c"), "-o", str(wasi)], check=True)
    return ours, wasi


def parse(text: str) -> dict[str, float]:
    return {name: float(value) for name, value in (line.split() for line in text.splitlines())}


def run_ours(wasm: Path, folder: Path, n: int) -> dict[str, float]:
    done = subprocess.run([sys.executable, "-m", "muslforge.wasm", "--dir", str(folder), str(wasm), str(n)],
                          check=True, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    return parse(done.stdout)


def run_wasi(wasm: Path, folder: Path, n: int) -> dict[str, float]:
    out = folder / "wasi-stdout.txt"
    subprocess.run([sys.executable, "-c", WASI_RUNNER, str(wasm), str(folder), str(out), str(n)], check=True)
    return parse(out.read_text())


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 20000
    repeats = int(sys.argv[2]) if len(sys.argv) > 2 else 5
    with tempfile.TemporaryDirectory(prefix="muslforge-bench-") as name:
        work = Path(name)
        ours_wasm, wasi_wasm = build(work)
        ours = [run_ours(ours_wasm, work, n) for _ in range(repeats)]
        wasi = [run_wasi(wasi_wasm, work, n) for _ in range(repeats)]
    median = {key: statistics.median(r[key] for r in ours) for key in ours[0]}
    floor = {key: statistics.median(r[key] for r in wasi) for key in wasi[0]}
    floor["getpid"] = floor["clock_gettime"]
    print(f"µs per call, median of {repeats} runs of {n} (embedder / wasmtime WASI = ratio):")
    for key in ("getpid", "clock_gettime", "write64", "open_read_close"):
        print(f"  {key:16} {median[key] / 1000:7.2f} / {floor[key] / 1000:7.2f} = {median[key] / floor[key]:5.2f}x")


if __name__ == "__main__":
    main()
