#!/usr/bin/env python3
"""Clean `doit build:<arch>` time in the Docker backend divided by the host backend's, measured in one run
as host, docker, docker, host and given as the sums' ratio (the toolchain image must exist: `doit
toolchain`; its /usr copy is made before the clock starts). Also checks that every libc.a is identical,
and prints the load average before and after.

    python3 bench/backend_ratio.py [arch]      # default x86_64
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

CHECKOUT = Path(__file__).resolve().parent.parent


# host, docker, docker, host: a load that rises or falls steadily during the run (the machine is shared)
# weighs on both backends alike.
ORDER = ("host", "docker", "docker", "host")
USR_COPY = ("from muslforge import settings; from muslforge.config.toolchain import load_toolchain; "
            "from muslforge.paths import TOOLCHAINS_DIR; from muslforge.toolchain import image; "
            "image.usr_copy(image.image_tag(load_toolchain(TOOLCHAINS_DIR, settings.current().toolchain)))")


def clean_build(arch: str, backend: str, root: Path) -> tuple[float, bytes]:
    build = root / backend
    shutil.rmtree(build, ignore_errors=True)
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(build), "MUSLFORGE_BACKEND": backend}
    doit = [sys.executable, "-m", "doit"]
    subprocess.run([*doit, "patch"], cwd=CHECKOUT, env=env, check=True, stdout=subprocess.DEVNULL)
    if backend == "docker":  # made once per image, like the image itself: not part of a build's time
        subprocess.run([sys.executable, "-c", USR_COPY], cwd=CHECKOUT, env=env, check=True)
    started = time.monotonic()
    subprocess.run([*doit, f"build:{arch}"], cwd=CHECKOUT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - started, (build / "sysroots" / arch / "lib" / "libc.a").read_bytes()


def main() -> None:
    arch = sys.argv[1] if len(sys.argv) > 1 else "x86_64"
    before = " ".join(f"{x:.2f}" for x in os.getloadavg())
    root = Path(tempfile.mkdtemp(prefix="muslforge-backends-"))
    times: dict[str, list[float]] = {"host": [], "docker": []}
    libcs = set()
    try:
        for backend in ORDER:
            seconds, libc = clean_build(arch, backend, root)
            times[backend].append(seconds)
            libcs.add(libc)
    finally:
        shutil.rmtree(root, ignore_errors=True)
    host, docker = sum(times["host"]), sum(times["docker"])
    shown = ", ".join(f"{backend} {seconds:.1f} s" for backend, seconds in zip(ORDER, [
        times[b].pop(0) for b in ORDER]))
    print(f"clean doit build:{arch} ({shown}): ratio docker/host {docker / host:.3f}")
    print(f"load average before {before}, after {' '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"libc.a identical across backends: {len(libcs) == 1}")


if __name__ == "__main__":
    main()
