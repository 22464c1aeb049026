"""The process layer's missing-tool message, and config errors reaching doit as one clean line."""

import os
import subprocess
import sys

import pytest

from muslforge import proc
from muslforge.errors import CommandFailed, ToolMissing
from tests.conftest import CHECKOUT


@pytest.mark.parametrize("program, package", [("clang-22", "clang-22"), ("llvm-ar-22", "llvm-22"),
                                              ("ld.lld-19", "lld-19"), ("qemu-riscv64-static", "qemu-user-static"),
                                              ("gpgv", "gpgv"), ("dpkg-deb", "dpkg")])
def test_apt_package_for_a_program(program, package):
    assert proc.apt_package(program) == package


def test_missing_program_names_the_apt_get_line():
    with pytest.raises(ToolMissing) as error:
        proc.run(["clang-999", "--version"])
    assert str(error.value) == ("'clang-999' was not found on PATH. Install it with: apt-get install clang-999 "
                                "(or choose the Docker backend: MUSLFORGE_BACKEND=docker).")


def test_failure_carries_the_tail_and_the_log(tmp_path):
    log = tmp_path / "task.log"
    with pytest.raises(CommandFailed) as error:
        proc.run(["sh", "-c", "for i in $(seq 1 40); do echo line$i; done; exit 7"], log=log, echo=False,
                 quiet=True)
    message = str(error.value)
    assert error.value.returncode == 7
    assert "line40" in message and "line10\n" not in message  # only the last 30 lines
    assert message.endswith(f"Full log: {log}")
    assert "line1\n" in log.read_text()


def test_bad_arch_file_is_one_clean_doit_error(tmp_path):
    arches = tmp_path / "arches"
    arches.mkdir()
    (arches / "x86_64.yaml").write_text("name: x86_64\ntripple: x\n")
    done = subprocess.run([sys.executable, "-m", "doit", "list"], cwd=CHECKOUT, capture_output=True, text=True,
                          env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path), "MUSLFORGE_ARCHES_DIR": str(arches),
                               "MUSLFORGE_BUILD_DIR": str(tmp_path / "build"),
                               "PYTHONPATH": str(CHECKOUT)})
    assert done.returncode == 3
    assert done.stderr == (f"ERROR: {arches}/x86_64.yaml: unknown key 'tripple'; did you mean 'triple'?\n")
    assert "Traceback" not in done.stdout + done.stderr


def test_every_door_maps_errors_to_the_same_status(tmp_path):
    """muslforge cc/run, python -m muslforge.manifest/.abi ...: 2 for an error, 130 for Ctrl-C, one format
    (doit's own doors keep doit's codes: 3 for a bad dodo/config, 1 for a failed task, 130 for Ctrl-C)."""
    from muslforge import errors
    assert errors.exit_status(errors.ConfigError("x")) == errors.exit_status(errors.BackendError("y")) == 2
    assert errors.exit_status(KeyboardInterrupt()) == 130
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(tmp_path / "build")}
    doors = [["-m", "muslforge.cli", "run", "--arch", "nosuch", "x"],
             ["-m", "muslforge.release.manifest", "check", str(tmp_path / "missing")],
             ["-m", "muslforge.sysroot.libc_abi", "only-one-argument"]]
    for door in doors:
        done = subprocess.run([sys.executable, *door], cwd=tmp_path, env=env, capture_output=True, text=True)
        assert done.returncode == 2, (door, done.stderr)
        assert done.stderr.startswith("muslforge"), door
        assert "Traceback" not in done.stderr
