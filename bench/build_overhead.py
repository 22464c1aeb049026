#!/usr/bin/env python3
"""What muslforge's orchestration costs on top of musl's own build, for x86_64 with the host backend.

Prints (a) the wall time of a no-op `doit build:x86_64` (median of 5; goal <= 0.3 s) and (b) the wall time
of a clean `doit build:x86_64` divided by a bare `configure && make -j lib/libc.a` (and by the bare make
alone) on the same patched tree with the same compiler, measured in this one run (goal <= 1.05).

    python3 bench/build_overhead.py            # needs the musl tarball cached or MUSLFORGE_MIRRORS set
"""

from __future__ import annotations

import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(CHECKOUT))

from muslforge.sysroot.build import BuildPlan, configure_argv  # noqa: E402
from muslforge.backend import HostBackend  # noqa: E402
from muslforge.sources.patch import tree_dir  # noqa: E402
from muslforge.tasks.context import load_context  # noqa: E402


def timed(argv: list[str], env: dict[str, str], cwd: Path = CHECKOUT) -> float:
    started = time.monotonic()
    subprocess.run(argv, cwd=cwd, env=env, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    build = Path(tempfile.mkdtemp(prefix="muslforge-bench-"))
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(build), "MUSLFORGE_BACKEND": "host"}
    doit = [sys.executable, "-m", "doit"]
    try:
        timed([*doit, "patch"], env)
        clean = timed([*doit, "build:x86_64"], env)
        noop = statistics.median(timed([*doit, "build:x86_64"], env) for _ in range(5))
        configure, make = bare_build(build)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    print(f"(a) no-op doit build:x86_64: {noop:.3f} s (goal <= 0.3 s)")
    print(f"(b) clean doit build:x86_64: {clean:.1f} s; bare configure {configure:.1f} s + make lib/libc.a "
          f"{make:.1f} s")
    print(f"    ratio vs bare configure+make: {clean / (configure + make):.3f} (goal <= 1.05)")
    print(f"    ratio vs bare make alone:     {clean / make:.3f}")


def bare_build(build: Path) -> tuple[float, float]:
    """configure + make -j lib/libc.a by hand, with the same flags muslforge passes."""
    ctx = load_context(None, "llvm-22")
    arch = next(a for a in ctx.arches if a.name == "x86_64")
    objdir = build / "bare-obj"
    objdir.mkdir()
    plan = BuildPlan(arch=arch, tree=tree_dir(build / "src", ctx.series), objdir=objdir,
                     sysroot=build / "unused", log=build / "unused.log", jobs=os.cpu_count() or 1)
    env = {**os.environ, "LC_ALL": "C"}
    configure = timed(configure_argv(plan, HostBackend(ctx.toolchain)), env, cwd=objdir)
    make = timed(["make", f"-j{plan.jobs}", "lib/libc.a"], env, cwd=objdir)
    return configure, make


if __name__ == "__main__":
    main()
