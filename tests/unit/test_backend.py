"""The backend is decided once, by one rule: a short daemon probe, with a notice when auto falls back."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time

import pytest

from muslforge import docker
from muslforge.backend import decide
from muslforge.errors import BackendError
from muslforge.paths import CHECKOUT


@pytest.fixture
def stale_socket(tmp_path, monkeypatch):
    """A socket file nobody listens on any more (a daemon that died without cleaning up)."""
    path = tmp_path / "docker.sock"
    with socket.socket(socket.AF_UNIX) as server:
        server.bind(str(path))
    monkeypatch.setenv("DOCKER_HOST", f"unix://{path}")
    return path


@pytest.fixture
def silent_tcp(monkeypatch):
    """A loopback TCP DOCKER_HOST that accepts connections and never answers."""
    with socket.create_server(("127.0.0.1", 0)) as server:
        monkeypatch.setenv("DOCKER_HOST", f"tcp://127.0.0.1:{server.getsockname()[1]}")
        monkeypatch.setattr(docker, "PROBE_TIMEOUT", 0.3)
        yield


def test_stale_socket_falls_back_to_the_host_with_a_notice(stale_socket):
    notices: list[str] = []
    assert decide("auto", notice=notices.append) == "host"
    assert notices == [f"muslforge: no Docker daemon answered at unix://{stale_socket} (Connection refused); "
                       f"using the host backend (set MUSLFORGE_BACKEND=host to skip this check)."]


def test_silent_tcp_host_times_out_quickly(silent_tcp):
    notices: list[str] = []
    started = time.monotonic()
    assert decide("auto", notice=notices.append) == "host"
    assert time.monotonic() - started < 2
    assert "(timed out)" in notices[0]


def test_docker_asked_for_but_unreachable_is_one_clear_error(stale_socket):
    assert decide("docker") == "docker"  # not probed: the first container names the daemon
    with pytest.raises(BackendError) as error:
        with docker.started("muslforge/anything:0", mounts={}, env={}):
            pass
    message = str(error.value)
    assert message.startswith(f"Cannot reach the Docker daemon at unix://{stale_socket} (DOCKER_HOST): ")
    assert message.endswith("or build with the host's own toolchain instead: MUSLFORGE_BACKEND=host.")


def test_host_never_probes_and_a_typo_is_named(monkeypatch):
    monkeypatch.setattr(docker, "probe", lambda: pytest.fail("probed the daemon"))
    assert decide(" Host ") == "host"
    assert decide("docker") == "docker"
    with pytest.raises(BackendError, match="MUSLFORGE_BACKEND is 'dokcer'; it must be docker, host or auto."):
        decide("dokcer")


def test_doit_with_a_stale_socket_prints_the_notice_not_a_traceback(stale_socket, tmp_path):
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(tmp_path / "build"), "MUSLFORGE_BACKEND": "auto"}
    done = subprocess.run([sys.executable, "-m", "doit", "list"], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    assert "Traceback" not in done.stderr
    assert done.stderr.count("no Docker daemon answered") == 1
