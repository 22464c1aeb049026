#!/usr/bin/env python3
"""Start-up cost of `muslforge run`, each against its floor measured in the same run.

  1. hello.wasm: `muslforge run --arch wasm32 hello.wasm` wall time / a bare wasmtime-py process that
     loads, compiles and instantiates the same module (goal <= 1.3x), with the compiled-module cache
     warm, and once more with an empty cache;
  2. `muslforge run --arch x86_64 /bin/true` minus /bin/true itself, in ms (goal <= 30 ms);
  3. optionally a big module (argument: a .wasm built with the wasm32 sysroot, e.g. SQLite's shell):
     first start (compiles) and second start (cached), in seconds (goal: second <= 0.1 s).

    python3 bench/embedder_start.py [repeats] [big.wasm]    # medians of `repeats` runs (default 9)
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
# Bytecode caches as a user has them (this machine's environment may disable writing them; that would
# charge every start, bare wasmtime-py's too, with compiling Python sources).
ENV = {**{k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}, "PYTHONPATH": str(CHECKOUT)}
BARE = r'''
import sys, wasmtime
config = wasmtime.Config()
config.wasm_exceptions = True
engine = wasmtime.Engine(config)
module = wasmtime.Module.from_file(engine, sys.argv[1])
linker = wasmtime.Linker(engine)
for imp in module.imports:
    linker.define_func(imp.module, imp.name, imp.type, lambda *args: 0)
linker.instantiate(wasmtime.Store(engine), module)
'''
HELLO = '#include <stdio.h>\nint main(void) { puts("hello"); return 0; }\n'


def wall(argv: list[str], env: dict[str, str] | None = None) -> float:
    started = time.perf_counter()
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, env=env or ENV)
    return time.perf_counter() - started


def median(argv: list[str], repeats: int, env: dict[str, str] | None = None) -> float:
    wall(argv, env)                               # warm the page cache (and the module cache)
    return statistics.median(wall(argv, env) for _ in range(repeats))


def muslforge(*args: str) -> list[str]:
    return [sys.executable, "-m", "muslforge.cli", *args]


def main() -> None:
    repeats = int(sys.argv[1]) if len(sys.argv) > 1 else 9
    big = Path(sys.argv[2]) if len(sys.argv) > 2 else None
    with tempfile.TemporaryDirectory(prefix="muslforge-bench-") as name:
        work = Path(name)
        (work / "hello.c").write_text(HELLO)
        hello = work / "hello.wasm"
        subprocess.run(muslforge("cc", "--arch", "wasm32", "-O2", str(work / "hello.c"), "-o", str(hello)),
                       check=True, env=ENV)
        bare = median([sys.executable, "-c", BARE, str(hello)], repeats)
        ours = median(muslforge("run", "--arch", "wasm32", str(hello)), repeats)
        cold = statistics.median(
            wall(muslforge("run", "--arch", "wasm32", str(hello)),
                 {**ENV, "MUSLFORGE_CACHE": tempfile.mkdtemp(dir=work)}) for _ in range(repeats))
        true = median(["/bin/true"], repeats)
        python = median([sys.executable, "-c", "pass"], repeats)
        native = median(muslforge("run", "--arch", "x86_64", "/bin/true"), repeats)
        print(f"hello.wasm start: muslforge run {ours * 1000:.0f} ms / bare wasmtime-py load+compile+"
              f"instantiate {bare * 1000:.0f} ms = {ours / bare:.2f}x (no module cache: {cold * 1000:.0f} ms, "
              f"{cold / bare:.2f}x)")
        print(f"native: muslforge run --arch x86_64 /bin/true {native * 1000:.1f} ms - /bin/true "
              f"{true * 1000:.1f} ms = {(native - true) * 1000:.1f} ms over (of which the Python interpreter's "
              f"own start, `python3 -c pass`: {python * 1000:.1f} ms)")
        if big is not None:
            cache = {**ENV, "MUSLFORGE_CACHE": tempfile.mkdtemp(dir=work)}
            first = wall(muslforge("run", "--arch", "wasm32", str(big), "--version"), cache)
            second = statistics.median(wall(muslforge("run", "--arch", "wasm32", str(big), "--version"), cache)
                                       for _ in range(repeats))
            print(f"{big.name}: first start {first:.2f} s (compiles), second {second:.2f} s (cached)")
    print(f"(medians of {repeats}; machine load average {os.getloadavg()[0]:.1f})")


if __name__ == "__main__":
    main()
