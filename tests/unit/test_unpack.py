"""unpack.extract: the real tarball unpacks; every escaping member is refused by name, leaving nothing."""

from __future__ import annotations

import io
import tarfile
from pathlib import Path

import pytest

from muslforge.errors import UnpackError
from muslforge.sources.unpack import extract


def make_tarball(path: Path, members: list[tuple[str, str, str]]) -> Path:
    """members: (name, kind, payload) with kind file|dir|sym|link|chr|fifo; payload is text or link target."""
    with tarfile.open(path, "w:gz") as archive:
        for name, kind, payload in members:
            info = tarfile.TarInfo(name)
            data = b""
            if kind == "file":
                data = payload.encode()
                info.size = len(data)
            elif kind == "dir":
                info.type, info.mode = tarfile.DIRTYPE, 0o755
            elif kind in ("sym", "link"):
                info.type = tarfile.SYMTYPE if kind == "sym" else tarfile.LNKTYPE
                info.linkname = payload
            else:
                info.type = tarfile.CHRTYPE if kind == "chr" else tarfile.FIFOTYPE
            archive.addfile(info, io.BytesIO(data) if data else None)
    return path


def refusal(tarball: Path, member: str, reason: str) -> str:
    return (f"{tarball}: refusing to extract member '{member}': {reason}. The tarball is damaged or "
            f"malicious; delete it and fetch it again.")


GOOD = [("pkg-1.0", "dir", ""), ("pkg-1.0/VERSION", "file", "1.0\n"), ("pkg-1.0/src", "dir", ""),
        ("pkg-1.0/src/a.c", "file", "int a;\n"), ("pkg-1.0/src/link.c", "sym", "a.c"),
        ("pkg-1.0/src/hard.c", "link", "pkg-1.0/src/a.c")]


def test_real_musl_tarball_unpacks_to_its_top_directory(musl_tarballs, tmp_path):
    tree = extract(musl_tarballs / "musl-1.2.6.tar.gz", tmp_path / "src")
    assert tree == tmp_path / "src" / "musl-1.2.6"
    assert (tree / "VERSION").read_text() == "1.2.6\n"
    assert (tree / "src" / "string" / "memcpy.c").is_file()
    assert [p.name for p in (tmp_path / "src").iterdir()] == ["musl-1.2.6"]


def test_small_tarball_with_safe_links_unpacks(tmp_path):
    tarball = make_tarball(tmp_path / "pkg.tar.gz", GOOD)
    tree = extract(tarball, tmp_path / "out")
    assert (tree / "src" / "link.c").read_text() == "int a;\n"
    assert (tree / "src" / "hard.c").read_text() == "int a;\n"


def test_existing_tree_is_replaced_whole(tmp_path):
    tarball = make_tarball(tmp_path / "pkg.tar.gz", GOOD)
    stale = tmp_path / "out" / "pkg-1.0"
    stale.mkdir(parents=True)
    (stale / "leftover").write_text("old")
    tree = extract(tarball, tmp_path / "out")
    assert not (tree / "leftover").exists()
    assert sorted(p.name for p in (tmp_path / "out").iterdir()) == ["pkg-1.0"]


@pytest.mark.parametrize("member, reason", [
    (("/etc/evil", "file", "x"), "absolute path"),
    (("pkg-1.0/../../evil", "file", "x"), "path contains '..'"),
    (("pkg-1.0/src/up", "sym", "../../../etc/passwd"),
     "symlink to '../../../etc/passwd' points outside the tree"),
    (("pkg-1.0/abs", "sym", "/etc/passwd"), "symlink to the absolute path '/etc/passwd'"),
    (("pkg-1.0/hard", "link", "../outside"), "hard link to '../outside' points outside the tree"),
    (("pkg-1.0/tty", "chr", ""), "device file"),
    (("pkg-1.0/pipe", "fifo", ""), "FIFO"),
    (("README", "file", "x"), "a file at the top level (expected one top-level directory)"),
])
def test_unsafe_member_is_refused_by_name_and_nothing_is_extracted(tmp_path, member, reason):
    tarball = make_tarball(tmp_path / "bad.tar.gz", [*GOOD, member])
    with pytest.raises(UnpackError) as raised:
        extract(tarball, tmp_path / "out")
    assert str(raised.value) == refusal(tarball, member[0], reason)
    assert not (tmp_path / "out").exists() or list((tmp_path / "out").iterdir()) == []


def test_two_top_level_directories_are_refused(tmp_path):
    tarball = make_tarball(tmp_path / "two.tar.gz", [*GOOD, ("other", "dir", "")])
    with pytest.raises(UnpackError) as raised:
        extract(tarball, tmp_path / "out")
    assert str(raised.value) == f"{tarball}: expected exactly one top-level directory, found other, pkg-1.0."


def test_not_a_tarball_is_a_clear_error(tmp_path):
    junk = tmp_path / "junk.tar.gz"
    junk.write_bytes(b"this is not gzip")
    with pytest.raises(UnpackError) as raised:
        extract(junk, tmp_path / "out")
    assert str(raised.value).startswith(f"{junk}: not a readable tarball (")
    assert str(raised.value).endswith("); delete it and fetch it again.")


def test_data_filter_refusal_is_reported_by_member(tmp_path, monkeypatch):
    """Our own checks run first; should tarfile's 'data' filter still object, the member is named."""
    from muslforge.sources import unpack

    monkeypatch.setattr(unpack, "_unsafe", lambda member: None)
    tarball = make_tarball(tmp_path / "bad.tar.gz", [*GOOD, ("pkg-1.0/abs", "sym", "/etc/passwd")])
    with pytest.raises(UnpackError) as raised:
        extract(tarball, tmp_path / "out")
    assert str(raised.value).startswith(f"{tarball}: refusing to extract member 'pkg-1.0/abs': ")
    assert list((tmp_path / "out").iterdir()) == []
