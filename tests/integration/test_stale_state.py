"""Nothing stale is trusted: inputs are verified when used, outputs are tracked whole, runs that share a
cache or build dir take turns. Real doit runs with a private build dir, cache and loopback mirror."""

from __future__ import annotations

import gzip
import io
import json
import subprocess
import sys
import tarfile
import time
from pathlib import Path

import pytest

from tests.conftest import CHECKOUT

from tests.integration.conftest import Doit

pytestmark = pytest.mark.integration


@pytest.fixture
def doit(session_mirror, tmp_path) -> Doit:
    return Doit(tmp_path / "build", tmp_path / "cache", session_mirror.url)


def _tampered_copy(original: Path, dest: Path) -> None:
    """A well-formed musl tarball with one file added: valid to unpack, wrong by its pinned sha256."""
    buffer = io.BytesIO()
    with tarfile.open(original, "r:gz") as source, tarfile.open(fileobj=buffer, mode="w") as out:
        for member in source.getmembers():
            out.addfile(member, source.extractfile(member) if member.isfile() else None)
        info = tarfile.TarInfo(f"{source.getmembers()[0].name.split('/')[0]}/PLANTED")
        info.size = 6
        out.addfile(info, io.BytesIO(b"pwned\n"))
    dest.write_bytes(gzip.compress(buffer.getvalue(), mtime=0))


def test_tarball_changed_in_the_cache_is_refetched_when_used(doit, musl_tarballs):
    """Once fetch is done, a modified cached tarball must not be unpacked: patch verifies it again."""
    doit("patch")
    cached = doit.cache / "musl-1.2.6.tar.gz"
    _tampered_copy(musl_tarballs / "musl-1.2.6.tar.gz", cached)
    for tree in (doit.build / "src").iterdir():
        (tree / ".muslforge-complete").unlink(missing_ok=True)
    done = doit("patch")
    assert f"{cached} does not match its pinned sha256; deleted it and fetching it again" in done.stdout
    assert cached.read_bytes() == (musl_tarballs / "musl-1.2.6.tar.gz").read_bytes()
    assert not list((doit.build / "src").glob("*/PLANTED"))


def test_tarball_changed_in_the_cache_reruns_fetch(doit, musl_tarballs):
    doit("fetch")
    cached = doit.cache / "musl-1.2.6.tar.gz"
    _tampered_copy(musl_tarballs / "musl-1.2.6.tar.gz", cached)
    done = doit("fetch")
    assert "fetch" in doit.executed(done.stdout)
    assert cached.read_bytes() == (musl_tarballs / "musl-1.2.6.tar.gz").read_bytes()


def _fake_sysroot(build: Path, arch: str = "x86_64", pinned: bool = True) -> Path:
    """A small sysroot-shaped folder and the record of what built it: enough for package and release,
    not for smoke (the tests run doit -s)."""
    record = {"backend": "host", "image": None, "pinned": pinned,
              "compiler": {"cc": "clang-22", "version": "Debian clang version 22.1.8 (1~deb12u1)"},
              "packages": {"clang-22": "1:22.1.8-1~deb12u1" if pinned else "1:22.1.9-1~deb12u1"}}
    (build / "provenance").mkdir(parents=True, exist_ok=True)
    (build / "provenance" / f"{arch}.json").write_text(json.dumps(record))
    root = build / "sysroots" / arch
    (root / "include").mkdir(parents=True)
    (root / "include" / "stdio.h").write_text("/* stdio */\n")
    (root / "lib").mkdir()
    for name in ("libc.a", "crt1.o", "crti.o", "crtn.o", "libclang_rt.builtins.a"):
        (root / "lib" / name).write_bytes(name.encode() * 20)
    return root


def test_a_deleted_release_tarball_is_published_again(doit, tmp_path):
    """Every file release publishes is a target: one deleted from dist/ is not 'up to date'."""
    _fake_sysroot(doit.build)
    dist = {"MUSLFORGE_DIST_DIR": str(tmp_path / "dist")}
    doit("-s", "package:x86_64", **dist)
    doit("-s", "release", "arches=x86_64", **dist)
    published = tmp_path / "dist" / "1.2.6" / "muslforge-musl-1.2.6-x86_64.tar.xz"
    published.unlink()
    done = doit("-s", "release", "arches=x86_64", **dist)
    assert doit.executed(done.stdout) == ["release"]
    assert published.is_file()


def test_a_sysroot_edited_after_packing_is_packed_again(doit, tmp_path):
    sysroot = _fake_sysroot(doit.build)
    doit("-s", "package:x86_64")
    (sysroot / "include" / "stdio.h").unlink()
    done = doit("-s", "package:x86_64")
    assert doit.executed(done.stdout) == ["package:x86_64"]


def test_a_sysroot_not_built_with_the_pins_is_refused_unless_unpinned(doit, tmp_path):
    _fake_sysroot(doit.build, pinned=False)
    dist = {"MUSLFORGE_DIST_DIR": str(tmp_path / "dist")}
    refused = doit("-s", "package:x86_64", check=False, **dist)
    assert refused.returncode == 1
    assert ("The x86_64 sysroot was not built with the pinned llvm-22 toolchain: clang-22 1:22.1.9-1~deb12u1 "
            "(pinned 1:22.1.8-1~deb12u1)") in refused.stdout
    doit("-s", "package:x86_64", "unpinned=1", **dist)
    assert doit("-s", "release", "arches=x86_64", check=False, **dist).returncode == 1
    doit("-s", "release", "arches=x86_64", "unpinned=1", **dist)
    data = json.loads((tmp_path / "dist" / "1.2.6" / "manifest.json").read_text())
    assert data["pinned"] is False
    assert data["arches"]["x86_64"]["built_with"]["packages"]["clang-22"] == "1:22.1.9-1~deb12u1"


# ---------------------------------------------------------------------------------------- locks

def _start(doit: Doit, *args: str, **env: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "doit", *args], cwd=CHECKOUT, text=True,
                            env={**doit.env, **env}, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)


def test_two_fetches_into_one_cache_take_turns(mirror, musl_tarballs, tmp_path):
    """Two checkouts share the default cache: the second fetch waits for the first, then uses its file."""
    mirror.add(musl_tarballs / "musl-1.2.6.tar.gz")
    mirror.always("musl-1.2.6.tar.gz", "slow")
    cache = tmp_path / "cache"
    first = Doit(tmp_path / "one", cache, mirror.url)
    second = Doit(tmp_path / "two", cache, mirror.url)
    runs = [_start(first, "fetch")]
    time.sleep(1.0)  # the first is downloading (about 2 s at the mirror's pace)
    runs.append(_start(second, "fetch"))
    outputs = [run.communicate(timeout=120)[0] for run in runs]
    assert [run.returncode for run in runs] == [0, 0], outputs
    assert "from cache, sha256 ok" in outputs[1]
    assert "WAIT     musl-1.2.6.tar.gz: pid " in outputs[1] and "(doit fetch) holds" in outputs[1]
    assert "Traceback" not in "".join(outputs)
    assert mirror.hits("musl-1.2.6.tar.gz") == [None]  # one download, no collision on the .part
    assert sorted(p.name for p in cache.iterdir() if not p.is_symlink()) == ["musl-1.2.6.tar.gz"]  # the lock went with its holder


def test_a_held_sysroot_makes_a_second_run_wait_or_say_who_holds_it(doit):
    """A build dir's outputs are locked per arch: another run waits, and names the holder when it
    gives up (MUSLFORGE_LOCK_TIMEOUT)."""
    _fake_sysroot(doit.build)
    holder = _start(doit, "-s", "package:x86_64")
    holder.communicate(timeout=120)
    lock_file = doit.build / "locks" / "sysroot-x86_64.lock"
    script = ("import sys; from pathlib import Path; from muslforge import lock\n"
              f"with lock.held(Path({str(lock_file)!r}), 'test'):\n"
              "    print('held', flush=True); sys.stdin.readline()\n")
    other = subprocess.Popen([sys.executable, "-c", script, "hold"], cwd=CHECKOUT, stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True, env=doit.env)
    assert other.stdout.readline() == "held\n"
    (doit.build / "sysroots" / "x86_64" / "include" / "stdio.h").write_text("/* changed */\n")
    refused = doit("-s", "package:x86_64", check=False, MUSLFORGE_LOCK_TIMEOUT="0.5")
    assert refused.returncode == 1
    assert f"holds {lock_file}" in refused.stdout and f"pid {other.pid} (-c hold)" in refused.stdout
    assert "raise MUSLFORGE_LOCK_TIMEOUT to wait longer" in refused.stdout
    assert "Traceback" not in refused.stdout
    waiting = _start(doit, "-s", "package:x86_64")
    line = waiting.stdout.readline()
    while line.startswith((".  ", "SETTINGS ")):  # task titles, the run's settings line
        line = waiting.stdout.readline()
    assert line.startswith(f"WAIT     sysroot-x86_64 in {doit.build}: pid {other.pid}"), line
    other.communicate("go\n", timeout=30)  # the holder lets go; the waiting run packs
    rest = waiting.communicate(timeout=120)[0]
    assert waiting.returncode == 0 and "PACKAGE  x86_64" in rest, rest
