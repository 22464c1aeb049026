"""Fixtures for the integration tests that drive doit: one build directory and loopback mirror per session."""

from __future__ import annotations

import atexit
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT, MirrorServer


@pytest.fixture(scope="session")
def session_mirror(musl_tarballs, tmp_path_factory):
    """A loopback mirror serving upstream's real musl tarballs (and 1.2.5's signature)."""
    server = MirrorServer(tmp_path_factory.mktemp("session-mirror"))
    for name in ("musl-1.2.6.tar.gz", "musl-1.2.5.tar.gz", "musl-1.2.5.tar.gz.asc"):
        server.add(musl_tarballs / name)
    yield server
    server.close()


class Doit:
    """Runs `doit` in the checkout with a private build dir, cache and mirror."""

    def __init__(self, build: Path, cache: Path, mirror_url: str, backend: str = "host"):
        self.build, self.cache = build, cache
        share_builtins(cache)
        self.env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(build), "MUSLFORGE_CACHE": str(cache),
                    "MUSLFORGE_MIRRORS": mirror_url, "MUSLFORGE_BACKEND": backend,
                    "MUSLFORGE_FETCH_BACKOFF": "0"}
        for key in ("MUSLFORGE_MUSL_VERSION", "MUSLFORGE_TOOLCHAIN", "MUSLFORGE_ARCHES_DIR",
                    "MUSLFORGE_PATCHES_DIR"):
            self.env.pop(key, None)

    def __call__(self, *args: str, check: bool = True, **extra_env: str) -> subprocess.CompletedProcess:
        done = subprocess.run([sys.executable, "-m", "doit", *args], cwd=CHECKOUT, text=True,
                              env={**self.env, **extra_env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        if check and done.returncode != 0:
            pytest.fail(f"doit {' '.join(args)} exited {done.returncode}:\n{done.stdout[-6000:]}", pytrace=False)
        return done

    def executed(self, output: str) -> list[str]:
        """Tasks doit ran (its '.  name' lines), as opposed to up-to-date ones ('-- name')."""
        return [line[3:].strip() for line in output.splitlines() if line.startswith(".  ")]


@functools.cache
def shared_builtins_dirs() -> Path:
    """One compiler-rt source and one builtins cache for every cache of this pytest run, so each arch's
    builtins are built once per run (and really built: the run's folder starts empty). A source already
    verified in the user's cache is copied; otherwise the first build fetches it (as `doit build` would),
    so tests that build no builtins never leave the machine."""
    from muslforge import paths
    from muslforge.config.toolchain import load_toolchain
    from muslforge.toolchain.builtins import source_dir, source_verified
    shared = Path(tempfile.mkdtemp(prefix="muslforge-test-builtins-"))
    atexit.register(shutil.rmtree, shared, True)
    (shared / "builtins").mkdir()
    (shared / "compiler-rt").mkdir()
    for name in ("llvm-22", "llvm-19"):
        pin = load_toolchain(paths.TOOLCHAINS_DIR, name).compiler_rt
        if source_verified(source_dir(paths.cache_dir(), pin), pin):
            shutil.copytree(source_dir(paths.cache_dir(), pin), source_dir(shared, pin))
    return shared


def share_builtins(cache: Path) -> None:
    """cache/compiler-rt and cache/builtins: links to the run's shared folders (locked, verified at use)."""
    cache.mkdir(parents=True, exist_ok=True)
    for name in ("compiler-rt", "builtins"):
        if not (cache / name).exists():
            (cache / name).symlink_to(shared_builtins_dirs() / name, target_is_directory=True)


@pytest.fixture(scope="session")
def host_doit(session_mirror, tmp_path_factory) -> Doit:
    root = tmp_path_factory.mktemp("host-build")
    return Doit(root / "build", root / "cache", session_mirror.url)


@pytest.fixture(scope="session")
def wasm32_sysroot(host_doit) -> Path:
    """The wasm32 sysroot built by `doit build:wasm32` with the host backend."""
    host_doit("build:wasm32")
    return host_doit.build / "sysroots" / "wasm32"


@pytest.fixture(scope="session")
def built(request) -> Path:
    """The build dir holding wasm32 and aarch64 sysroots: the session's host build (built once, shared
    with other tests), or $MUSLFORGE_TEST_BUILD_DIR for quick iteration on already-built sysroots."""
    override = os.environ.get("MUSLFORGE_TEST_BUILD_DIR")
    if override:
        return Path(override)
    host_doit = request.getfixturevalue("host_doit")
    host_doit("-n", "2", "build:wasm32", "build:aarch64")
    return host_doit.build


@pytest.fixture(scope="session")
def wasm32_threads_sysroot(host_doit) -> Path:
    """The wasm32-threads sysroot: $MUSLFORGE_WASM32_THREADS_SYSROOT, or `doit build:wasm32-threads`."""
    override = os.environ.get("MUSLFORGE_WASM32_THREADS_SYSROOT")
    if override:
        return Path(override)
    host_doit("build:wasm32-threads")
    return host_doit.build / "sysroots" / "wasm32-threads"
