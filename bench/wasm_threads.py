#!/usr/bin/env python3
"""wasm32-threads on the embedder: 2-thread compute speedup (goal >= 1.7x one thread on 2 idle cores)
and mutex ping-pong latency, each against the same C program built natively in the same run.

    python3 bench/wasm_threads.py [--runs 5] [--rounds 20000] [--handoffs 2000]

The sysroot is build/sysroots/wasm32-threads (`doit build:wasm32-threads`) or
$MUSLFORGE_WASM32_THREADS_SYSROOT; the native floor is the host's clang-22 -pthread (glibc). Times are
measured inside the programs (thread creation and join included, program start excluded); each figure
is the median of --runs runs. The load average is printed: on a shared machine the speedup is bounded by
the CPU the other processes leave, which the native floor shows; a handoff also pays for the woken host
thread to be scheduled, which Python's own Event ping-pong (measured in the same run) shows.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
SOURCES = Path(__file__).resolve().parent / "wasm_threads"
sys.path.insert(0, str(CHECKOUT))


def build(out: Path) -> dict[str, list[str]]:
    """compute and pingpong, as wasm32-threads modules (run by the embedder) and native executables."""
    from muslforge import paths, proc
    from muslforge.sysroot.cc import cc_argv
    from muslforge.config.arch import load_arch
    from muslforge.config.toolchain import load_toolchain

    arch = load_arch(paths.ARCHES_DIR, "wasm32-threads")
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")
    sysroot = Path(os.environ.get("MUSLFORGE_WASM32_THREADS_SYSROOT") or paths.sysroot_dir("wasm32-threads"))
    commands = {}
    for name in ("compute", "pingpong"):
        source, wasm, native = SOURCES / f"{name}.c", out / f"{name}.wasm", out / name
        proc.output(cc_argv(toolchain, arch, sysroot, ["-O2", str(source), "-o", str(wasm)]))
        proc.output([toolchain.cc, "-O2", "-pthread", str(source), "-o", str(native)])
        commands[f"{name}.wasm"] = [sys.executable, "-m", "muslforge.wasm", "--dir", str(out), str(wasm)]
        commands[name] = [str(native)]
    return commands


def python_handoff(handoffs: int) -> float:
    """Seconds for `handoffs` handoffs between two Python threads through threading.Event: the floor
    for any host that wakes a guest thread from Python (what the machine's scheduler allows now)."""
    import threading
    import time

    ping, pong = threading.Event(), threading.Event()

    def other() -> None:
        for _ in range(handoffs // 2):
            ping.wait()
            ping.clear()
            pong.set()
    thread = threading.Thread(target=other)
    thread.start()
    started = time.perf_counter()
    for _ in range(handoffs // 2):
        ping.set()
        pong.wait()
        pong.clear()
    thread.join()
    return time.perf_counter() - started


def seconds(command: list[str], *args: str) -> float:
    done = subprocess.run([*command, *args], cwd=CHECKOUT, check=True, capture_output=True, text=True)
    return float(done.stdout.split()[0])


def median(runs: int, command: list[str], *args: str) -> float:
    return statistics.median(seconds(command, *args) for _ in range(runs))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--rounds", type=int, default=20000, help="compute rounds (work) in all")
    parser.add_argument("--handoffs", type=int, default=2000)
    options = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="muslforge-threads-bench-") as scratch:
        commands = build(Path(scratch))
        load = os.getloadavg()[0]
        speedups = {}
        for program in ("compute.wasm", "compute"):
            one = median(options.runs, commands[program], "1", str(options.rounds))
            two = median(options.runs, commands[program], "2", str(options.rounds))
            speedups[program] = one / two
            print(f"{program:13} 1 thread {one:.3f} s, 2 threads {two:.3f} s: speedup {one / two:.2f}x")
        latency = {p: median(options.runs, commands[p], str(options.handoffs)) / options.handoffs * 1e6
                   for p in ("pingpong.wasm", "pingpong")}
        latency["python Event"] = statistics.median(python_handoff(options.handoffs)
                                                    for _ in range(options.runs)) / options.handoffs * 1e6
        for program, micros in latency.items():
            what = "thread wake-up" if program == "python Event" else "mutex/condvar handoff"
            print(f"{program:13} {micros:.1f} us per {what}")
    print(f"summary: 2-thread speedup {speedups['compute.wasm']:.2f}x (native {speedups['compute']:.2f}x, "
          f"goal 1.7x); handoff {latency['pingpong.wasm']:.1f} us "
          f"({latency['pingpong.wasm'] / latency['pingpong']:.1f}x native, "
          f"{latency['pingpong.wasm'] / latency['python Event']:.1f}x Python's own thread handoff); "
          f"load average {load:.1f} on {os.cpu_count()} CPUs")


if __name__ == "__main__":
    main()
