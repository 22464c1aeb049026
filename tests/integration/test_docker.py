"""The toolchain image and muslforge.docker against the real daemon.

These tests need a running Docker daemon; without one they fail (they never skip). Building the image
takes a minute or two the first time (the .debs are cached under MUSLFORGE_CACHE afterwards).
"""

from __future__ import annotations

import os
import socket
import time
from pathlib import Path

import pytest

from muslforge import docker, image
from muslforge.config.toolchain import load_toolchain
from muslforge.errors import BackendError, CommandFailed
from muslforge.paths import TOOLCHAINS_DIR

pytestmark = [pytest.mark.docker, pytest.mark.slow]

SDE = "1767225600"


@pytest.fixture(scope="session")
def toolchain():
    return load_toolchain(TOOLCHAINS_DIR, "llvm-22")


@pytest.fixture(scope="session")
def tag(toolchain) -> str:
    """The llvm-22 image, built when missing; a missing daemon is an error here, not a skip."""
    return image.ensure_image(toolchain)


def run(tag: str, script: str, **kwargs) -> None:
    kwargs.setdefault("mounts", {})
    kwargs.setdefault("workdir", Path("/"))
    kwargs.setdefault("env", {"SOURCE_DATE_EPOCH": SDE})
    kwargs.setdefault("timeout", 60)
    docker.run_in_container(tag, ["sh", "-c", script], **kwargs)


def containers() -> set[str]:
    """Containers this test process made (other users of the daemon may be running theirs)."""
    mine = {"label": f"muslforge.pid={os.getpid()}"}
    return {c.id for c in docker.client().containers.list(all=True, filters=mine)}


def test_image_exists_with_labels_and_a_second_ensure_is_a_no_op(toolchain, tag, capsys):
    assert tag == image.image_tag(toolchain)
    assert tag.startswith("muslforge/llvm-22:") and docker.image_exists(tag)
    labels = docker.image_labels(tag)
    assert labels["muslforge.packages"] == " ".join(toolchain.image.packages)
    assert len(labels["muslforge.rootfs.sha256"]) == 64
    # docker import keeps the tar as is: its one layer's diff id is the reproducible rootfs digest
    layers = docker.client().images.get(tag).attrs["RootFS"]["Layers"]
    assert layers == ["sha256:" + labels["muslforge.rootfs.sha256"]]
    assert labels["org.opencontainers.image.version"] == tag.rpartition(":")[2]
    assert labels["org.opencontainers.image.source"]
    capsys.readouterr()
    started = time.monotonic()
    assert image.ensure_image(toolchain) == tag
    assert time.monotonic() - started < 10
    assert "IMAGE" not in capsys.readouterr().out


def test_image_holds_the_pinned_toolchain_and_foreign_builtins(toolchain, tag, tmp_path):
    log = tmp_path / "run.log"
    run(tag, "clang-22 --version; ld.lld-22 --version; qemu-aarch64-static --version; "
             "ls /opt/muslforge/builtins/* /usr/lib/llvm-22/lib/clang/22/lib/linux "
             "/usr/lib/llvm-22/lib/clang/22/lib/wasi", log=log)
    text = log.read_text()
    assert "clang version 22.1.8" in text
    assert "libclang_rt.builtins-x86_64.a" in text       # the native package
    assert "libclang_rt.builtins-wasm32.a" in text
    assert set(image.builtins_arches(toolchain)) >= {"arm64", "armhf", "ppc64el"}
    for arch, file in {"arm64": "aarch64", "armhf": "armhf", "ppc64el": "powerpc64le"}.items():
        # extracted from that arch's .deb, flat, where the build looks for it
        assert f"{image.builtins_dir(arch)}:\n" in text
        assert f"libclang_rt.builtins-{file}.a" in text


def test_rootfs_is_reproducible(toolchain, tag, tmp_path):
    """Two mmdebstrap runs from the same pins give byte-identical tarballs (and the image's digest)."""
    first = image.rootfs_path(toolchain)
    if not first.is_file():
        first = image.build_rootfs(toolchain, tmp_path / "first.tar")
    second = image.build_rootfs(toolchain, tmp_path / "second.tar")
    digest = image.sha256_file(second)
    assert image.sha256_file(first) == digest
    assert docker.image_labels(tag)["muslforge.rootfs.sha256"] == digest
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no partial files left


@pytest.fixture
def host_listener():
    """A TCP port listening on the host's loopback; yields its port. (Tests here only ever send to
    loopback: the control container shares the host's network namespace instead of using a bridge.)"""
    with socket.create_server(("127.0.0.1", 0)) as server:
        server.listen(8)
        yield server.getsockname()[1]


def test_container_has_no_network(tag, tmp_path, host_listener):
    log = tmp_path / "net.log"
    run(tag, "ls /sys/class/net", log=log)
    assert log.read_text().splitlines()[1:] == ["lo"]  # no interface but its own loopback
    connect = ["bash", "-c", f"exec 3<>/dev/tcp/127.0.0.1/{host_listener} && echo connected"]
    # Control: the same step in the host's network namespace reaches the listener.
    control = docker.client().containers.run(tag, connect, remove=True, user=f"{os.getuid()}",
                                             network_mode="host")
    assert control == b"connected\n"
    with pytest.raises(CommandFailed) as failed:
        docker.run_in_container(tag, connect, mounts={}, workdir=Path("/"), env={}, timeout=30)
    assert "connection refused" in str(failed.value).lower()


def test_runs_as_the_host_uid_with_mounts_at_host_paths(tag, tmp_path, monkeypatch):
    monkeypatch.setattr(os, "getuid", lambda: 4321)
    monkeypatch.setattr(os, "getgid", lambda: 4322)
    out, ro = tmp_path / "out", tmp_path / "ro"
    out.mkdir(mode=0o777)
    out.chmod(0o777)
    ro.mkdir()
    (ro / "input").write_text("from the host\n")
    run(tag, f"id -u > made; id -g >> made; echo $HOME $SOURCE_DATE_EPOCH >> made; cat {ro}/input >> made",
        mounts={out: "rw", ro: "ro"}, workdir=out)
    made = out / "made"
    assert made.read_text() == f"4321\n4322\n/tmp {SDE}\nfrom the host\n"
    assert (made.stat().st_uid, made.stat().st_gid) == (4321, 4322)
    with pytest.raises(CommandFailed):
        run(tag, f"touch {ro}/nope", mounts={ro: "ro"}, workdir=ro)
    assert not (ro / "nope").exists()


def test_failure_reports_status_tail_and_log(tag, tmp_path, capsys):
    log = tmp_path / "fail.log"
    seen: list[str] = []
    with pytest.raises(CommandFailed) as failed:
        # one stream only: Docker does not keep the order of lines across stdout and stderr
        run(tag, "seq 1 40 >&2; echo boom >&2; exit 7", log=log, on_line=seen.append)
    message = str(failed.value)
    assert failed.value.returncode == 7
    assert "exited with status 7" in message and f"Full log: {log}" in message
    assert message.split("--- last 30 lines ---\n")[1].splitlines()[:1] == ["12"]
    assert "boom" in message and seen[-1] == "boom\n"
    assert "40\n" in capsys.readouterr().out  # relayed through sys.stdout, like proc.run
    assert "seq 1 40" in log.read_text()


def test_timeout_kills_the_container(tag):
    started = time.monotonic()
    with pytest.raises(CommandFailed) as failed:
        run(tag, "echo started; sleep 60", timeout=3)
    assert time.monotonic() - started < 30
    assert failed.value.returncode == docker.TIMED_OUT
    assert "timed out after 3 s" in str(failed.value)


def test_capture_separates_streams_and_feeds_stdin(tag):
    status, out, err = docker.capture_in_container(
        tag, ["sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], mounts={}, workdir=Path("/"),
        env={}, stdin_data=b"hello\n", timeout=30)
    assert (status, out, err) == (3, b"HELLO\n", b"oops\n")


def test_run_interactive_returns_the_status(tag, capfd):
    status = docker.run_interactive(tag, ["sh", "-c", "echo hi; exit 5"], mounts={}, workdir=Path("/"),
                                    env={})
    assert status == 5
    assert "hi" in capfd.readouterr().out


def test_no_container_is_left_behind(tag):
    assert containers() == set()
    during: set[str] = set()
    run(tag, "echo running", on_line=lambda line: during.update(containers()))
    assert len(during) == 1  # the filter does see this process's containers
    with pytest.raises(CommandFailed):
        run(tag, "exit 1")
    with pytest.raises(CommandFailed):
        run(tag, "sleep 60", timeout=2)
    docker.capture_in_container(tag, ["cat"], mounts={}, workdir=Path("/"), env={}, stdin_data=b"x")
    with pytest.raises(BackendError):
        run("muslforge/does-not-exist:0", "true")
    assert containers() == set()


def test_missing_image_names_the_task_that_makes_it():
    with pytest.raises(BackendError) as missing:
        run("muslforge/does-not-exist:0", "true")
    assert str(missing.value) == (
        f"The Docker image muslforge/does-not-exist:0 does not exist on {docker.docker_host()}. Build it "
        f"with `doit toolchain` (or use the host's toolchain: MUSLFORGE_BACKEND=host).")


def test_unreachable_daemon_names_the_socket_and_the_alternative(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    started = time.monotonic()
    assert docker.daemon_available() is False
    assert time.monotonic() - started < 2
    with pytest.raises(BackendError) as unreachable:
        docker.client()
    message = str(unreachable.value)
    assert message.startswith("Cannot reach the Docker daemon at unix:///nonexistent (DOCKER_HOST): ")
    assert message.endswith("Start Docker (systemctl start docker), point DOCKER_HOST at a running daemon, "
                            "or build with the host's own toolchain instead: MUSLFORGE_BACKEND=host.")
    assert "\n" not in message


def test_llvm_19_is_a_new_file_not_a_code_change():
    """A second toolchain gets its own tag and pins from toolchains/llvm-19.yaml alone."""
    llvm19 = load_toolchain(TOOLCHAINS_DIR, "llvm-19")
    tag = image.ensure_image(llvm19)
    assert tag.startswith("muslforge/llvm-19:") and tag != image.image_tag(load_toolchain(TOOLCHAINS_DIR, "llvm-22"))
    status, out, _ = docker.capture_in_container(
        tag, ["sh", "-c", "clang-19 --version; ls /opt/muslforge/builtins/arm64"], mounts={},
        workdir=Path("/"), env={}, timeout=60)
    assert status == 0
    assert b"clang version 19.1.7" in out and b"libclang_rt.builtins-aarch64.a" in out


def test_provenance_is_asked_of_the_image_and_matches_the_pins(toolchain, tag, tmp_path):
    """The docker backend records the image's own compiler and packages, not the host's."""
    from muslforge import provenance
    from muslforge.backend import DockerBackend
    data = provenance.record(DockerBackend(toolchain), cwd=tmp_path)
    assert (data["backend"], data["image"], data["pinned"]) == ("docker", tag, True)
    assert data["packages"] == provenance.pinned_packages(toolchain)
    assert data["compiler"]["version"].startswith("Debian clang version 22.")
