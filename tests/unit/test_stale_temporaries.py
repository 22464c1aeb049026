"""A SIGKILL skips every cleanup: the next write of the same file removes the dead run's temporaries."""

from __future__ import annotations

import os
import subprocess

from muslforge.release import package


def _dead_pid() -> int:
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


def test_temporaries_of_dead_runs_are_removed_and_live_ones_kept(tmp_path):
    dest = tmp_path / "muslforge-musl-1.2.6-x86_64.tar.xz"
    dead = tmp_path / f".{dest.name}.{_dead_pid()}.tmp"
    live = tmp_path / f".{dest.name}.{os.getppid()}.tmp"
    other = tmp_path / f".other.tar.xz.{_dead_pid()}.tmp"
    for path in (dead, live, other):
        path.write_bytes(b"half a tarball")
    package.write_atomically(dest, b"whole")
    assert dest.read_bytes() == b"whole"
    assert not dead.exists()
    assert live.exists() and other.exists()
