"""The toolchain image and muslforge.docker against the real daemon.

These tests need a running Docker daemon; without one they fail (they never skip). Building the image
takes a minute or two the first time (the .debs are cached under MUSLFORGE_CACHE afterwards).
"""

from __future__ import annotations

import contextlib
import os
import socket
import time
from pathlib import Path

import pytest

from muslforge import docker, files
from muslforge.toolchain import image
from muslforge.backend import DockerSession
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


@contextlib.contextmanager
def session(tag: str, mounts=None):
    """One started container, as a build task gets: its commands are exec'd in it."""
    env = {"SOURCE_DATE_EPOCH": SDE}
    with docker.started(tag, mounts=mounts or {}, env=env) as container:
        yield DockerSession(container, tag, env)


def run(tag: str, script: str, *, mounts=None, workdir: Path = Path("/"), **kwargs) -> None:
    with session(tag, mounts) as s:
        s.run(["sh", "-c", script], cwd=workdir, **kwargs)


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


def test_image_holds_the_pinned_toolchain_and_the_tools_that_build_builtins(toolchain, tag, tmp_path):
    log = tmp_path / "run.log"
    run(tag, "clang-22 --version; clang++-22 --version; ld.lld-22 --version; qemu-aarch64-static --version; "
             "cmake --version; ninja --version; "
             "echo builtins in the image: $(find /usr /opt -name 'libclang_rt.builtins*' | wc -l)", log=log)
    text = log.read_text()
    assert "clang version 22.1.8" in text and "cmake version 3.25.1" in text and "1.11.1" in text
    assert "builtins in the image: 0" in text  # none ship in the image: they are built


def test_rootfs_is_reproducible(toolchain, tag, tmp_path):
    """Two mmdebstrap runs from the same pins give byte-identical tarballs (and the image's digest)."""
    first = image.rootfs_path(toolchain)
    if not first.is_file():
        first = image.build_rootfs(toolchain, tmp_path / "first.tar")
    second = image.build_rootfs(toolchain, tmp_path / "second.tar")
    digest = files.sha256_file(second)
    assert files.sha256_file(first) == digest
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
        with session(tag) as s:
            s.run(connect, cwd=Path("/"))
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
    with pytest.raises(CommandFailed) as failed:
        # one stream only: Docker does not keep the order of lines across stdout and stderr
        run(tag, "seq 1 40 >&2; echo boom >&2; exit 7", log=log)
    message = str(failed.value)
    assert failed.value.returncode == 7
    assert message.startswith(f"sh (in {tag}) exited with status 7: sh -c seq 1 40")
    assert f"Full log: {log}" in message
    assert message.split("--- last 30 lines ---\n")[1].splitlines()[:1] == ["12"]
    assert "boom" in message
    assert "40\n" in capsys.readouterr().out  # relayed through sys.stdout by proc.run
    assert "seq 1 40" in log.read_text()


def test_capture_timeout_stops_the_program_in_the_container(tag):
    started = time.monotonic()
    with session(tag) as s:
        status, out, _ = s.capture(["sh", "-c", "echo started; sleep 60"], cwd=Path("/"), timeout=3)
        assert (status, out) == (124, b"started\n")
        # not left running (the container's own keepalive is a `sleep` too, under Docker's init)
        assert b"sleep 60" not in s.capture(["ps", "-eo", "args"], cwd=Path("/"))[1]
    assert time.monotonic() - started < 30


def test_capture_separates_streams_and_feeds_stdin(tag):
    with session(tag) as s:
        status, out, err = s.capture(["sh", "-c", "tr a-z A-Z; echo oops >&2; exit 3"], cwd=Path("/"),
                                     stdin_data=b"hello\n", timeout=30)
    assert (status, out, err) == (3, b"HELLO\n", b"oops\n")


def test_passthrough_returns_the_status(tag, capfd):
    with session(tag) as s:
        assert s.passthrough(["sh", "-c", "echo hi; exit 5"], cwd=Path("/")) == 5
    assert "hi" in capfd.readouterr().out


def test_one_container_per_session_whatever_runs_in_it(tag):
    assert containers() == set()
    during: set[str] = set()
    with session(tag) as s:
        for _ in range(3):
            s.run(["true"], cwd=Path("/"), on_line=None)
            s.capture(["cat"], cwd=Path("/"), stdin_data=b"x")
        with pytest.raises(CommandFailed):
            s.run(["sh", "-c", "exit 1"], cwd=Path("/"))
        s.run(["echo", "running"], cwd=Path("/"), on_line=lambda line: during.update(containers()))
    assert len(during) == 1  # every command ran in the session's one container
    with pytest.raises(BackendError):
        run("muslforge/does-not-exist:0", "true")
    with pytest.raises(RuntimeError), session(tag):
        raise RuntimeError("a task that fails midway")
    assert containers() == set()


def test_a_task_container_reads_the_images_usr_from_a_host_copy(tag, tmp_path, capsys):
    """The copy is the image's /usr (same files, same bytes), named by the image id and made once; a
    build container binds its folders read-only over /usr, init still runs as PID 1."""
    usr = image.usr_copy(tag)
    assert usr.name.endswith(docker.image_id(tag).removeprefix("sha256:")[:16]) and usr.parent.name == "images"
    assert image.usr_copy(tag) == usr and "once per image" not in capsys.readouterr().err
    script = ("cat /proc/self/mountinfo > mounts; readlink /proc/1/exe > init; "
              "sha256sum /usr/bin/clang-22 /usr/lib/llvm-22/bin/clang > sums; touch /usr/lib/x 2> denied || true")
    with docker.started(tag, mounts={tmp_path: "rw"}, env={}, usr=usr) as container:
        DockerSession(container, tag, {}).run(["sh", "-c", script], cwd=tmp_path)
    mounts = (tmp_path / "mounts").read_text()
    assert " /usr/lib ro," in mounts or " /usr/lib ro " in mounts.replace(",", " ")
    assert "docker-init" in (tmp_path / "init").read_text()
    assert "Read-only file system" in (tmp_path / "denied").read_text()
    host_sum = files.sha256_file(usr / "lib" / "llvm-22" / "bin" / "clang")
    assert (tmp_path / "sums").read_text().split()[::2] == [host_sum, host_sum]


def test_a_task_container_weighs_in_the_cpu_scheduler_like_the_host_processes_it_runs(tag):
    """With the cgroupfs driver a container sits beside the host's processes, weighing one per CPU
    (make -j<cpus>), not inside the daemon's one /docker group (which weighs as one host process)."""
    driver = docker.engine("GET", "/info")[1]["CgroupDriver"]
    with docker.started(tag, mounts={}, env={}) as container:
        config = docker.client().api.inspect_container(container)["HostConfig"]
    if driver == "cgroupfs":
        assert (config["CgroupParent"], config["CpuShares"]) == ("/", 1024 * os.cpu_count())
    else:
        assert config["CgroupParent"] == "" and config["CpuShares"] == 0


def test_missing_image_names_the_task_that_makes_it():
    with pytest.raises(BackendError) as missing:
        run("muslforge/does-not-exist:0", "true")
    assert str(missing.value) == (
        f"The Docker image muslforge/does-not-exist:0 does not exist on {docker.docker_host()}. Build it "
        f"with `doit toolchain` (or use the host's toolchain: MUSLFORGE_BACKEND=host).")


def test_unreachable_daemon_names_the_socket_and_the_alternative(monkeypatch):
    monkeypatch.setenv("DOCKER_HOST", "unix:///nonexistent")
    started = time.monotonic()
    assert docker.probe() == "No such file or directory"
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
    with session(tag) as s:
        status, out, _ = s.capture(["sh", "-c", "clang-19 --version; clang++-19 --version; cmake --version"],
                                   cwd=Path("/"), timeout=60)
    assert status == 0
    assert b"clang version 19.1.7" in out and b"cmake version 3.25.1" in out


def test_provenance_is_asked_of_the_image_and_matches_the_pins(toolchain, tag, tmp_path):
    """The docker backend records the image's own compiler and packages, not the host's."""
    from muslforge.sysroot import provenance
    from muslforge.backend import DockerBackend
    data = provenance.record(DockerBackend(toolchain), cwd=tmp_path)
    assert (data["backend"], data["image"], data["pinned"]) == ("docker", tag, True)
    assert data["packages"] == provenance.pinned_packages(toolchain)
    assert data["compiler"]["version"].startswith("Debian clang version 22.")


def test_a_damaged_usr_copy_is_made_again_never_used(tag, tmp_path, monkeypatch, capsys):
    """The copy's listing is checked at every use: a file deleted or truncated since it was made
    (a full disk, a stray rm, a half-finished prune) gives a new copy, not a broken compiler."""
    monkeypatch.setenv("MUSLFORGE_CACHE", str(tmp_path / "cache"))
    usr = image.usr_copy(tag)
    clang = usr / "lib" / "llvm-22" / "bin" / "clang"
    whole = files.sha256_file(clang)
    assert image.usr_copy(tag) == usr and "once per image" in capsys.readouterr().err  # made once, then used
    os.truncate(clang, 4096)
    assert image.usr_copy(tag) == usr and "damaged since it was made" in capsys.readouterr().err
    assert files.sha256_file(clang) == whole
    (usr / "bin" / "ld.lld-22").unlink()
    image.usr_copy(tag)
    assert (usr / "bin" / "ld.lld-22").exists() and "damaged" in capsys.readouterr().err
