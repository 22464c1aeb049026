"""One clean paragraph where a traceback used to be: Ctrl-C, a Docker daemon that is not there, files that
are not UTF-8, directories that are files, a host without dpkg, unknown arches, unsafe patches, a mirror
that never answers. Real doit runs, a real loopback server, real signals."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT

from tests.integration.conftest import Doit

pytestmark = pytest.mark.integration


@pytest.fixture
def doit(mirror, tmp_path) -> Doit:
    return Doit(tmp_path / "build", tmp_path / "cache", mirror.url)


def _clean(done: subprocess.CompletedProcess) -> str:
    assert "Traceback" not in done.stdout, done.stdout
    return done.stdout


def test_ctrl_c_during_a_task_prints_interrupted_and_exits_130(doit, mirror, musl_tarballs):
    mirror.add(musl_tarballs / "musl-1.2.6.tar.gz")
    mirror.always("musl-1.2.6.tar.gz", "hang")
    run = subprocess.Popen([sys.executable, "-m", "doit", "fetch"], cwd=CHECKOUT, env=doit.env, text=True,
                           stdout=subprocess.PIPE, stderr=subprocess.STDOUT, start_new_session=True)
    deadline = time.monotonic() + 60
    while not mirror.hits("musl-1.2.6.tar.gz") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert mirror.hits("musl-1.2.6.tar.gz"), "the fetch never reached the mirror"
    os.killpg(run.pid, signal.SIGINT)  # what a terminal's Ctrl-C does: the whole process group
    output = run.communicate(timeout=60)[0]
    assert run.returncode == 130, output
    assert "muslforge: interrupted" in output
    assert "Traceback" not in output and "KeyboardInterrupt" not in output


def test_docker_backend_without_a_daemon_is_one_task_failure(doit, tmp_path):
    done = doit("toolchain", check=False, MUSLFORGE_BACKEND="docker",
                DOCKER_HOST=f"unix://{tmp_path}/no-daemon.sock")
    assert done.returncode == 1
    assert f"Cannot reach the Docker daemon at unix://{tmp_path}/no-daemon.sock" in _clean(done)


def test_a_yaml_file_that_is_not_utf8_names_the_line(doit, tmp_path):
    arches = tmp_path / "arches"
    shutil.copytree(CHECKOUT / "arches", arches)
    (arches / "x86_64.yaml").write_bytes((arches / "x86_64.yaml").read_bytes() + b"# caf\xe9\n")
    line = (arches / "x86_64.yaml").read_bytes().count(b"\n")
    done = doit("list", check=False, MUSLFORGE_ARCHES_DIR=str(arches))
    assert done.returncode == 3
    assert _clean(done) == (f"ERROR: {arches}/x86_64.yaml: line {line} has the byte 0xe9, which is not "
                            f"UTF-8; save the file as UTF-8.\n")


@pytest.mark.parametrize("variable", ["MUSLFORGE_BUILD_DIR", "MUSLFORGE_DIST_DIR"])
def test_a_build_or_dist_dir_that_is_a_file_is_one_line(doit, tmp_path, variable):
    afile = tmp_path / "afile"
    afile.write_text("not a folder\n")
    done = doit("release", check=False, **{variable: str(afile)})
    assert done.returncode == 3
    assert f"ERROR: {variable} is {afile}, which is a file, not a folder; point {variable} at a folder" \
        in _clean(done)


def test_doit_list_needs_no_dpkg(doit, tmp_path):
    """The toolchain image's tag (which asks dpkg for the native arch) is computed only when needed."""
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    done = doit("list", check=False, PATH=str(bin_dir))
    assert done.returncode == 0, done.stdout
    assert "toolchain" in _clean(done)


# ---------------------------------------------------------------------------------------- messages

def test_an_unknown_arch_task_lists_the_known_arches(doit):
    done = doit("build:nosuch", check=False)
    assert done.returncode == 3
    assert _clean(done).startswith(f"ERROR: build:nosuch: no arch 'nosuch' in {CHECKOUT}/arches; known "
                                   f"arches: aarch64, ")
    assert "wasm32" in done.stdout and "x86_64" in done.stdout


@pytest.mark.parametrize("state", ["empty", "missing"])
def test_an_empty_or_missing_arches_dir_is_an_error(doit, tmp_path, state):
    arches = tmp_path / "arches"
    if state == "empty":
        arches.mkdir()
    done = doit("build", check=False, MUSLFORGE_ARCHES_DIR=str(arches))
    assert done.returncode == 3
    expected = "no arch files (*.yaml) in the arches folder" if state == "empty" else \
        "the arches folder does not exist"
    assert f"ERROR: {arches}: {expected}" in _clean(done)


def test_a_patch_leaving_the_tree_is_refused_as_unsafe(doit, mirror, musl_tarballs, tmp_path):
    mirror.add(musl_tarballs / "musl-1.2.6.tar.gz")
    patches = tmp_path / "patches"
    shutil.copytree(CHECKOUT / "patches", patches)
    folder = patches / "musl-1.2.6"
    (folder / "0099-escape.patch").write_text(
        "--- a/../../escaped.txt\n+++ b/../../escaped.txt\n@@ -0,0 +1 @@\n+written outside\n")
    with open(folder / "series", "a") as series:
        series.write("0099-escape.patch\n")
    done = doit("patch", check=False, MUSLFORGE_PATCHES_DIR=str(patches))
    assert done.returncode == 1
    assert (f"Patch {folder}/0099-escape.patch is refused as unsafe: line 1 names 'a/../../escaped.txt', "
            f"which leaves the tree through '..'") in _clean(done)
    assert not list(tmp_path.rglob("escaped.txt"))


def test_a_mirror_that_never_answers_times_out_in_seconds_and_says_so(doit, mirror, musl_tarballs):
    mirror.add(musl_tarballs / "musl-1.2.6.tar.gz")
    mirror.always("musl-1.2.6.tar.gz", "hang")
    started = time.monotonic()
    done = doit("fetch", check=False, MUSLFORGE_FETCH_TIMEOUT="1")
    assert done.returncode == 1
    assert time.monotonic() - started < 30
    url = f"{mirror.url}musl-1.2.6.tar.gz"
    assert f"RETRY    {url}: timed out waiting for data; trying again" in _clean(done)
    assert f"{url}: timed out waiting for data" in done.stdout


def test_the_default_timeouts_are_seconds_not_minutes():
    from muslforge.sources import fetch
    connect, read = fetch.TIMEOUT
    assert connect <= 5 and read <= 15 and fetch.READ_RETRIES <= 1


def test_auto_backend_with_a_silent_tcp_docker_host_falls_back_in_seconds(doit):
    """A DOCKER_HOST that accepts connections and never answers: auto falls back to the host backend with
    the usual notice instead of hanging for a minute."""
    import socket
    silent = socket.socket()
    silent.bind(("127.0.0.1", 0))
    silent.listen(8)  # connections complete in the kernel's backlog; nothing ever answers
    try:
        started = time.monotonic()
        try:
            env = {**doit.env, "MUSLFORGE_BACKEND": "auto",
                   "DOCKER_HOST": f"tcp://127.0.0.1:{silent.getsockname()[1]}"}
            done = subprocess.run([sys.executable, "-m", "doit", "toolchain"], cwd=CHECKOUT, env=env,
                                  text=True, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=25)
        except subprocess.TimeoutExpired:
            pytest.fail("doit toolchain hung with a silent TCP DOCKER_HOST")
        assert time.monotonic() - started < 20
        assert done.returncode == 0, done.stdout
        assert "using the host backend" in _clean(done)
    finally:
        silent.close()
