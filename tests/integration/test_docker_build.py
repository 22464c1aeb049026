"""The Docker backend end to end: with clang, lld and qemu hidden from PATH, the toolchain image builds
x86_64 and wasm32 sysroots and runs their smoke programs (x86_64's static and dynamic); its libc.a
and libc.so are byte-identical to the host backend's; nothing is left running and no image is rebuilt
on a second run."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from muslforge import docker

from tests.integration.conftest import Doit

pytestmark = [pytest.mark.slow, pytest.mark.docker]

HIDDEN = re.compile(r"^(clang|ld\.lld|lld|wasm-ld|llvm-|qemu-)")


def path_without_compilers(bin_dir: Path) -> str:
    """A PATH of symlinks to every program on PATH except compilers, linkers and emulators."""
    bin_dir.mkdir()
    for folder in os.environ["PATH"].split(os.pathsep):
        if not os.path.isdir(folder):
            continue
        for name in os.listdir(folder):
            target = os.path.join(folder, name)
            if not HIDDEN.match(name) and not (bin_dir / name).exists() and os.access(target, os.X_OK):
                (bin_dir / name).symlink_to(target)
    return str(bin_dir)


@pytest.fixture(scope="session")
def docker_doit(session_mirror, tmp_path_factory) -> Doit:
    root = tmp_path_factory.mktemp("docker-build")
    doit = Doit(root / "build", root / "cache", session_mirror.url, backend="docker")
    doit.env["PATH"] = path_without_compilers(root / "bin")
    doit("toolchain", "build:x86_64", "build:wasm32", "smoke:x86_64", "smoke:wasm32")
    return doit


def test_builds_and_smokes_without_host_compilers(docker_doit):
    for arch in ("x86_64", "wasm32"):
        assert (docker_doit.build / "sysroots" / arch / "lib" / "libc.a").is_file()
        assert '"passed": true' in (docker_doit.build / "smoke" / f"{arch}.json").read_text()


def test_second_run_builds_no_image_and_runs_no_action(docker_doit):
    done = docker_doit("toolchain", "build:x86_64", "build:wasm32")
    assert docker_doit.executed(done.stdout) == []
    assert "IMAGE" not in done.stdout


@pytest.mark.parametrize("library", ["libc.a", "libc.so"])
def test_libc_is_byte_identical_to_the_host_backend(docker_doit, host_doit, library):
    host_doit("build:x86_64")
    in_docker = (docker_doit.build / "sysroots" / "x86_64" / "lib" / library).read_bytes()
    on_host = (host_doit.build / "sysroots" / "x86_64" / "lib" / library).read_bytes()
    assert in_docker == on_host


def test_no_container_left_and_no_foreign_owner(docker_doit):
    left = docker.client().containers.list(all=True, filters={"label": "muslforge.pid"})
    assert left == []
    owners = {p.stat().st_uid for p in docker_doit.build.rglob("*") if not p.is_symlink()}
    assert owners == {os.getuid()}


def test_llvm_19_toolchain_builds_and_smokes_x86_64(session_mirror, tmp_path):
    """A second toolchain is a new YAML file, not a code change: LLVM 19 builds a native sysroot."""
    doit = Doit(tmp_path / "build", tmp_path / "cache", session_mirror.url, backend="docker")
    done = doit("toolchain", "build:x86_64", "smoke:x86_64", "toolchain=llvm-19")
    assert "SMOKE    x86_64: 32/32 passed (docker backend)" in done.stdout  # 10 programs x 3 linkages + 2
    assert (tmp_path / "build" / "sysroots" / "x86_64" / "lib" / "libc.a").is_file()


def test_muslforge_run_feeds_piped_stdin_through_the_container(docker_doit, tmp_path):
    """With no qemu on PATH, `muslforge run` runs an aarch64 program in the image; piped stdin gets there."""
    import subprocess
    docker_doit("build:aarch64")
    source = tmp_path / "upper.c"
    source.write_text('#include <stdio.h>\n#include <ctype.h>\n'
                      'int main(void) { int c; while ((c = getchar()) != EOF) putchar(toupper(c)); return 5; }\n')
    env = {**docker_doit.env}
    subprocess.run(["muslforge", "cc", "--arch", "aarch64", "-O2", str(source), "-o", "upper"], cwd=tmp_path,
                   env=env, check=True)
    done = subprocess.run(["muslforge", "run", "--arch", "aarch64", "./upper"], cwd=tmp_path, env=env,
                          input=b"piped text\n", capture_output=True)
    assert (done.returncode, done.stdout) == (5, b"PIPED TEXT\n")
