#!/usr/bin/env python3
"""Clean `doit build:wasm32` time divided by a native arch's (default x86_64), same backend, one run.

    python3 bench/arch_ratio.py [native-arch]    # MUSLFORGE_BACKEND chooses the backend (default host)
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


def clean_build_seconds(arch: str, env: dict[str, str]) -> float:
    doit = [sys.executable, "-m", "doit"]
    started = time.monotonic()
    subprocess.run([*doit, f"build:{arch}"], cwd=CHECKOUT, env=env, check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)
    return time.monotonic() - started


def main() -> None:
    native = sys.argv[1] if len(sys.argv) > 1 else "x86_64"
    build = Path(tempfile.mkdtemp(prefix="muslforge-arches-"))
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(build),
           "MUSLFORGE_BACKEND": os.environ.get("MUSLFORGE_BACKEND", "host")}
    try:
        subprocess.run([sys.executable, "-m", "doit", "patch"], cwd=CHECKOUT, env=env, check=True,
                       stdout=subprocess.DEVNULL)
        wasm = clean_build_seconds("wasm32", env)
        other = clean_build_seconds(native, env)
    finally:
        shutil.rmtree(build, ignore_errors=True)
    print(f"clean doit build: wasm32 {wasm:.1f} s, {native} {other:.1f} s, ratio {wasm / other:.3f} "
          f"({env['MUSLFORGE_BACKEND']} backend)")


if __name__ == "__main__":
    main()
