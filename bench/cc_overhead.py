#!/usr/bin/env python3
"""What each route to the compiler costs per call, against clang itself with the sysroot's .cfg.

Routes: `clang-22 --config=<sysroot>/<triple>.cfg` (the floor), the sysroot's `bin/<triple>-cc` (goal
<= 1.3x the floor), `muslforge cc` on the host backend, and `muslforge cc` on the Docker backend (goal:
its overhead over the floor <= 1.5x the host backend's). Then one real configure script (libogg's, from
Debian's source package, as the tests fetch it) run with each route as CC.

    python3 bench/cc_overhead.py [--arch wasm32] [--calls 20] [--no-configure] [--no-docker]

Needs a built sysroot (doit build:<arch>); the Docker rows need the toolchain image (doit toolchain).
Each per-call figure is the median of --calls compiles of a small file (-c), after one warm-up call.
"""

from __future__ import annotations

import argparse
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

from muslforge.sysroot import buildtools  # noqa: E402
from muslforge import paths
from muslforge.config.arch import load_arch  # noqa: E402
from muslforge.sysroot.flags import config_name  # noqa: E402

SOURCE = '#include <stdio.h>\n#include <string.h>\nint main(int c, char **v) { puts(v[0]); return (int)strlen(v[0]); }\n'


def muslforge_program() -> list[str]:
    """The console script beside this Python (not a version manager's shim, which adds its own ~0.3 s)."""
    beside = Path(sys.executable).parent / "muslforge"
    return [str(beside)] if beside.is_file() else [sys.executable, "-m", "muslforge.cli"]


def routes(arch_name: str, docker: bool) -> dict[str, tuple[list[str], dict[str, str]]]:
    arch = load_arch(paths.ARCHES_DIR, arch_name)
    sysroot = paths.sysroot_dir(arch_name)
    if not buildtools.cc_wrapper(arch, sysroot).is_file():
        sys.exit(f"no {buildtools.cc_wrapper(arch, sysroot)}: run doit build:{arch_name} first")
    env = {**os.environ, "PYTHONPATH": str(CHECKOUT)}
    found = {
        "clang --config (floor)": (["clang-22", f"--config={sysroot / config_name(arch)}"], env),
        "bin/<triple>-cc": ([str(buildtools.cc_wrapper(arch, sysroot))], env),
        "muslforge cc, host": ([*muslforge_program(), "cc", "--arch", arch_name],
                               {**env, "MUSLFORGE_BACKEND": "host"}),
    }
    if docker:
        found["muslforge cc, docker"] = ([*muslforge_program(), "cc", "--arch", arch_name],
                                         {**env, "MUSLFORGE_BACKEND": "docker"})
    return found


def per_call(cc: list[str], env: dict[str, str], work: Path, calls: int) -> float:
    argv = [*cc, "-O2", "-c", "prog.c", "-o", "prog.o"]
    subprocess.run(argv, cwd=work, env=env, check=True)  # warm-up (starts the Docker session)
    times = []
    for _ in range(calls):
        started = time.perf_counter()
        subprocess.run(argv, cwd=work, env=env, check=True)
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def transport(calls: int) -> tuple[float, float]:
    """`true` run on the host and in the session container from this process: the session's own cost
    per call, without Python's start-up or the compiler."""
    from muslforge import cli
    from muslforge.toolchain import session
    box = session.Session(cli._cached_image_tag())
    env = session.container_env(dict(os.environ))
    box.run(["true"], cwd=Path.cwd(), env=env)  # starts the session if needed

    def median(run) -> float:
        times = []
        for _ in range(calls):
            started = time.perf_counter()
            run()
            times.append(time.perf_counter() - started)
        return statistics.median(times)
    return (median(lambda: subprocess.run(["true"], check=True)),
            median(lambda: box.run(["true"], cwd=Path.cwd(), env=env)))


def configure_time(cc: list[str], env: dict[str, str], arch_name: str, work: Path) -> float:
    sys.path.insert(0, str(CHECKOUT / "tests" / "integration"))
    from debian_source import unpack  # the tests' cache of Debian orig tarballs
    source = unpack("libogg", work)
    build = work / "build"
    build.mkdir()
    host = load_arch(paths.ARCHES_DIR, arch_name).tool_prefix
    started = time.perf_counter()
    subprocess.run([str(source / "configure"), f"--host={host}", "--build=x86_64-pc-linux-gnu",
                    f"CC={' '.join(cc)}", "--disable-shared"], cwd=build, env=env, check=True,
                   stdout=subprocess.DEVNULL)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--arch", default="wasm32")
    parser.add_argument("--calls", type=int, default=20)
    parser.add_argument("--no-configure", action="store_true")
    parser.add_argument("--no-docker", action="store_true")
    options = parser.parse_args()
    docker = not options.no_docker and shutil.which("docker") is not None
    chosen = routes(options.arch, docker)
    work = Path(tempfile.mkdtemp(prefix="muslforge-cc-bench-"))
    try:
        (work / "prog.c").write_text(SOURCE)
        calls = {name: per_call(cc, env, work, options.calls) for name, (cc, env) in chosen.items()}
        floor = calls["clang --config (floor)"]
        print(f"per call, {options.arch}, median of {options.calls} (`-O2 -c` of a small file):")
        for name, seconds in calls.items():
            print(f"  {name:24} {seconds * 1000:7.1f} ms   x{seconds / floor:5.2f} of clang   "
                  f"overhead {(seconds - floor) * 1000:6.1f} ms")
        print(f"  bin/<triple>-cc / clang: {calls['bin/<triple>-cc'] / floor:.2f} (goal <= 1.3)")
        if "muslforge cc, docker" in calls:
            host_over = calls["muslforge cc, host"] - floor
            docker_over = calls["muslforge cc, docker"] - floor
            print(f"  docker overhead / host overhead: {docker_over / host_over:.2f} (goal <= 1.5); "
                  f"docker call / host call: {calls['muslforge cc, docker'] / calls['muslforge cc, host']:.2f}")
            on_host, in_session = transport(options.calls)
            print(f"  `true` from Python: host {on_host * 1000:.1f} ms, session container "
                  f"{in_session * 1000:.1f} ms (the session's own per-call cost)")
        if not options.no_configure:
            print("libogg's ./configure, wall time by CC route:")
            base = None
            tools = str(paths.sysroot_dir(options.arch) / "bin")  # <triple>-ar etc., as a user has them
            for index, (name, (cc, env)) in enumerate(chosen.items()):
                folder = work / f"configure-{index}"
                folder.mkdir()
                env = {**env, "PATH": os.pathsep.join([tools, env["PATH"]])}
                seconds = configure_time(cc, env, options.arch, folder)
                base = base or seconds
                print(f"  {name:24} {seconds:6.1f} s   x{seconds / base:5.2f}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
