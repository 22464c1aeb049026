"""Patch series: loading, digest, applying, and the conflict message with cleanup."""

import io
import tarfile
from pathlib import Path

import pytest

from muslforge.errors import ConfigError, PatchError
from muslforge.patch import COMPLETE_MARKER, load_series, marker, prepare_tree, tree_dir

ORIGINAL = "line one\nline two\nline three\n"
GOOD_PATCH = """--- a/src/hello.c
+++ b/src/hello.c
@@ -1,3 +1,3 @@
 line one
-line two
+line 2
 line three
"""
CONFLICTING_PATCH = """--- a/src/hello.c
+++ b/src/hello.c
@@ -1,3 +1,3 @@
 line one
-line TWO that is not there
+line II
 line three
"""


def make_tarball(tmp_path: Path, version="9.9.9") -> Path:
    tarball = tmp_path / f"musl-{version}.tar.gz"
    with tarfile.open(tarball, "w:gz") as tar:
        data = ORIGINAL.encode()
        info = tarfile.TarInfo(f"musl-{version}/src/hello.c")
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))
    return tarball


def make_series(tmp_path: Path, patches: dict[str, str], version="9.9.9") -> Path:
    folder = tmp_path / "patches" / f"musl-{version}"
    folder.mkdir(parents=True)
    for name, text in patches.items():
        (folder / name).write_text(text)
    (folder / "series").write_text("# applied in order\n" + "\n".join(patches) + "\n")
    return tmp_path / "patches"


def test_series_lists_patches_in_order_and_digest_tracks_edits(tmp_path):
    patches_dir = make_series(tmp_path, {"0002-b.patch": GOOD_PATCH, "0001-a.patch": GOOD_PATCH})
    series = load_series(patches_dir, "9.9.9")
    assert [p.name for p in series.patches] == ["0002-b.patch", "0001-a.patch"]
    before = series.digest()
    (patches_dir / "musl-9.9.9" / "0001-a.patch").write_text(GOOD_PATCH + "\n")
    assert load_series(patches_dir, "9.9.9").digest() != before


def test_series_naming_a_missing_patch_is_a_clear_error(tmp_path):
    patches_dir = make_series(tmp_path, {})
    (patches_dir / "musl-9.9.9" / "series").write_text("0001-gone.patch\n")
    with pytest.raises(ConfigError) as error:
        load_series(patches_dir, "9.9.9")
    assert str(error.value) == (
        f"{patches_dir}/musl-9.9.9/series: line 1 names '0001-gone.patch', which is not a file in "
        f"{patches_dir}/musl-9.9.9; add the patch or remove the line.")


def test_missing_series_file_names_the_path(tmp_path):
    with pytest.raises(ConfigError, match=r"musl-1\.0\.0/series: missing"):
        load_series(tmp_path, "1.0.0")


def test_good_series_applies_and_marks_the_tree_complete(tmp_path):
    series = load_series(make_series(tmp_path, {"0001-two.patch": GOOD_PATCH}), "9.9.9")
    tree = prepare_tree(make_tarball(tmp_path), series, tmp_path / "src")
    assert tree == tree_dir(tmp_path / "src", series)
    assert (tree / "src" / "hello.c").read_text() == "line one\nline 2\nline three\n"
    assert marker(tmp_path / "src", series).read_text().strip() == series.digest()


def test_conflict_names_patch_file_and_hunk_and_leaves_nothing(tmp_path):
    series = load_series(make_series(tmp_path, {"0001-two.patch": GOOD_PATCH,
                                                "0002-conflict.patch": CONFLICTING_PATCH}), "9.9.9")
    src = tmp_path / "src"
    with pytest.raises(PatchError) as error:
        prepare_tree(make_tarball(tmp_path), series, src)
    message = str(error.value)
    assert "0002-conflict.patch does not apply: src/hello.c: hunk #1 (at line 1)" in message
    assert "half-patched tree was deleted" in message
    assert list(src.iterdir()) == []  # no tree, no scratch directory
    assert not any(src.rglob(COMPLETE_MARKER))
