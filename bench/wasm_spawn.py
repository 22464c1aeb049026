#!/usr/bin/env python3
"""How long a wasm32 guest takes to start a child process, against starting the same thing from Python.

Rows (milliseconds per child, started and waited for, median of RUNS runs of N children):
  posix_spawn of a wasm child      vs  `python3 -m muslforge.wasm child.wasm` from Python (the floor:
                                       a child is a new embedder process)
  vfork()+execve of a wasm child   vs  the same floor
  posix_spawn of /bin/true (host)  vs  subprocess.run(["/bin/true"]) from Python (--allow-host-exec)

    python3 bench/wasm_spawn.py [N] [RUNS] [SYSROOT]      # defaults: 10 children, 3 runs, build/sysroots/wasm32
"""

from __future__ import annotations

import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))
sys.path.insert(0, str(CHECKOUT / "bench"))

SPAWNER = r'''
#define _GNU_SOURCE
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
extern char **environ;
static double now(void) { struct timespec t; clock_gettime(CLOCK_MONOTONIC, &t); return t.tv_sec + t.tv_nsec / 1e9; }
int main(int argc, char **argv)
{
    if (argc < 3) return 0;                      /* the child: exits at once */
    int n = atoi(argv[2]), st;
    char *child[] = {argv[1], 0};
    double t0 = now();
    for (int i = 0; i < n; i++) {
        pid_t pid;
        if (!strcmp(argv[3], "vfork")) {
            if ((pid = vfork()) == 0) { execve(argv[1], child, environ); _exit(127); }
        } else if (posix_spawn(&pid, argv[1], 0, 0, child, environ)) return 1;
        if (waitpid(pid, &st, 0) != pid || !WIFEXITED(st) || WEXITSTATUS(st)) return 2;
    }
    printf("%f\n", (now() - t0) / n * 1000);
    return 0;
}
'''


def _median_ms(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        out = subprocess.run(command, cwd=CHECKOUT, capture_output=True, text=True, check=True).stdout
        times.append(float(out.split()[-1]))
    return statistics.median(times)


def _floor_ms(command: list[str], n: int, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        for _ in range(n):
            subprocess.run(command, cwd=CHECKOUT, check=True, capture_output=True)
        times.append((time.perf_counter() - start) / n * 1000)
    return statistics.median(times)


def main() -> None:
    n = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    runs = int(sys.argv[2]) if len(sys.argv) > 2 else 3
    sysroot = Path(sys.argv[3]) if len(sys.argv) > 3 else CHECKOUT / "build" / "sysroots" / "wasm32"
    from hello_size import build

    with tempfile.TemporaryDirectory() as tmp:
        wasm = build(sysroot, SPAWNER, Path(tmp) / "spawner.wasm")
        os.chmod(wasm, 0o755)
        embedder = [sys.executable, "-m", "muslforge.wasm", "--dir", tmp, "--cwd", tmp]
        run = [*embedder, "--allow-host-exec", "--ro-dir", "/usr/bin", str(wasm)]
        floor_wasm = _floor_ms([*embedder, str(wasm)], n, runs)
        floor_host = _floor_ms(["/usr/bin/true"], n, runs)
        rows = [("posix_spawn wasm child", _median_ms([*run, str(wasm), str(n), "spawn"], runs), floor_wasm),
                ("vfork+execve wasm child", _median_ms([*run, str(wasm), str(n), "vfork"], runs), floor_wasm),
                ("posix_spawn /usr/bin/true", _median_ms([*run, "/usr/bin/true", str(n), "spawn"], runs), floor_host)]
    print(f"{'child':28} {'ms/child':>9} {'floor ms':>9} {'ratio':>6}")
    for name, ms, floor in rows:
        print(f"{name:28} {ms:9.1f} {floor:9.1f} {ms / floor:6.2f}")
    print(f"floors: a new embedder process from Python; /bin/true from Python (median of {runs} runs of {n})")


if __name__ == "__main__":
    main()
