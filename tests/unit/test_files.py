"""One atomic-write helper and one file hash for the whole package."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from muslforge import files

MUSLFORGE = Path(files.__file__).parent


def test_write_replaces_whole_and_a_failure_leaves_the_old_file(tmp_path, monkeypatch):
    dest = tmp_path / "deep" / "report.json"
    files.write_atomically(dest, "old\n")
    synced: list[int] = []
    real_fsync = os.fsync
    monkeypatch.setattr(os, "fsync", lambda fd: (synced.append(fd), real_fsync(fd))[1])
    files.write_atomically(dest, b"new\n")
    assert dest.read_text() == "new\n" and len(synced) == 2     # the file, then its folder
    with pytest.raises(RuntimeError), files.atomic_target(dest) as tmp:
        tmp.write_text("half")
        raise RuntimeError("interrupted")
    assert dest.read_text() == "new\n"
    assert sorted(p.name for p in dest.parent.iterdir()) == ["report.json"]


def test_sha256_file_matches_hashlib(tmp_path):
    data = os.urandom(3 << 20)
    (tmp_path / "blob").write_bytes(data)
    assert files.sha256_file(tmp_path / "blob") == hashlib.sha256(data).hexdigest()


def test_no_module_renames_a_file_it_wrote_by_hand():
    """Files are committed by muslforge.files; os.replace elsewhere moves whole directories only."""
    allowed = {"files.py", "build.py", "unpack.py", "manifest.py", "builtins.py", "image.py"}  # dirs built aside
    offenders = [p.relative_to(MUSLFORGE) for p in MUSLFORGE.rglob("*.py")
                 if "wasm" not in p.parts and p.name not in allowed and "os.replace(" in p.read_text()]
    assert offenders == []


def test_listing_digest_sees_every_change_but_a_same_size_rewrite(tmp_path):
    """What usr_copy checks at every use: names, kinds, modes, sizes and link targets (not bytes)."""
    (tmp_path / "bin").mkdir()
    (tmp_path / "bin" / "clang").write_bytes(b"x" * 100)
    (tmp_path / "lib").mkdir()
    os.symlink("../bin/clang", tmp_path / "lib" / "link")
    first = files.listing_digest(tmp_path)
    assert files.listing_digest(tmp_path) == first
    changes = [
        lambda: os.truncate(tmp_path / "bin" / "clang", 50),
        lambda: os.chmod(tmp_path / "bin" / "clang", 0o600),
        lambda: (os.unlink(tmp_path / "lib" / "link"), os.symlink("clang", tmp_path / "lib" / "link")),
        lambda: (tmp_path / "lib" / "new").write_bytes(b""),
        lambda: os.rename(tmp_path / "bin", tmp_path / "bin2"),
    ]
    seen = {first}
    for change in changes:
        change()
        now = files.listing_digest(tmp_path)
        assert now not in seen
        seen.add(now)
    (tmp_path / "bin2" / "clang").write_bytes(b"y" * 50)  # same size, same mode: by design not seen
    assert files.listing_digest(tmp_path) in seen
