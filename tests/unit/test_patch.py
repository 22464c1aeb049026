"""Patch series: loading, digest, applying, and the conflict message with cleanup."""

import io
import tarfile
from pathlib import Path

import pytest

from muslforge import syscalls
from muslforge.errors import ConfigError, PatchError
from muslforge.sources.patch import COMPLETE_MARKER, load_series, marker, prepare_tree, tree_dir
from muslforge.syscalls import generate

ORIGINAL = "line one\nline two\nline three\n"
GOOD_PATCH = """--- a/src/hello.c
+++ b/src/hello.c
@@ -1,3 +1,3 @@
 line one
-line two
+line 2
 line three
"""
NEW_FILE_PATCH = """--- /dev/null
+++ b/arch/wasm32/bits/more.h
@@ -0,0 +1 @@
+/* per version */
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


def make_overlay(tmp_path: Path, files: dict[str, str]) -> Path:
    overlay = tmp_path / "port"
    for name, text in files.items():
        (overlay / name).parent.mkdir(parents=True, exist_ok=True)
        (overlay / name).write_text(text)
    return overlay


def test_common_series_applies_before_the_versions_and_the_overlay_comes_first(tmp_path):
    patches_dir = make_series(tmp_path, {"0001-more.patch": NEW_FILE_PATCH})
    (patches_dir / "common").mkdir()
    (patches_dir / "common" / "0001-two.patch").write_text(GOOD_PATCH)
    (patches_dir / "common" / "series").write_text("0001-two.patch\n")
    overlay = make_overlay(tmp_path, {"arch/wasm32/syscall_arch.h": "#define SYSCALL_STATIC 1\n"})
    series = load_series(patches_dir, "9.9.9", overlay)
    assert [f"{p.parent.name}/{p.name}" for p in series.patches] == ["common/0001-two.patch",
                                                                     "musl-9.9.9/0001-more.patch"]
    tree = prepare_tree(make_tarball(tmp_path), series, tmp_path / "src")
    assert (tree / "src" / "hello.c").read_text() == "line one\nline 2\nline three\n"
    assert (tree / "arch/wasm32/syscall_arch.h").read_text() == "#define SYSCALL_STATIC 1\n"
    assert (tree / "arch/wasm32/bits/more.h").read_text() == "/* per version */\n"
    # the syscall headers are generated from the table, not taken from any committed file
    assert "#define __NR_openat                       56\n" in (tree / generate.SYSCALL_H_IN).read_text()
    assert "#define __SYSS_NARGS_56 4\n" in (tree / generate.SYSCALL_STATIC_H).read_text()


def test_digest_covers_overlay_files_their_paths_and_the_table(tmp_path):
    patches_dir = make_series(tmp_path, {})
    overlay = make_overlay(tmp_path, {"src/string/wasm32/memcpy.c": "a\n"})
    series = load_series(patches_dir, "9.9.9", overlay)
    assert syscalls.TABLE in series.files
    before = series.digest()
    (overlay / "src/string/wasm32/memcpy.c").write_text("b\n")
    edited = load_series(patches_dir, "9.9.9", overlay).digest()
    assert edited != before
    (overlay / "src/string/wasm32/memcpy.c").rename(overlay / "src/string/wasm32/memmove.c")
    assert load_series(patches_dir, "9.9.9", overlay).digest() not in (edited, before)


def test_overlay_file_that_musl_ships_is_refused_and_leaves_nothing(tmp_path):
    overlay = make_overlay(tmp_path, {"src/hello.c": "mine\n"})
    series = load_series(make_series(tmp_path, {}), "9.9.9", overlay)
    src = tmp_path / "src"
    with pytest.raises(PatchError) as error:
        prepare_tree(make_tarball(tmp_path), series, src)
    assert str(error.value) == (
        f"{overlay}/src/hello.c: musl-9.9.9 already has src/hello.c. The port/ tree only adds files; change a "
        f"file musl ships with a patch in patches/common/ (or patches/musl-9.9.9/ when only this version "
        f"needs it).")
    assert list(src.iterdir()) == []


def test_repository_patches_are_one_copy_each():
    """A patch shared by versions lives once, in patches/common (no byte-for-byte duplicates)."""
    from muslforge import paths
    seen: dict[bytes, Path] = {}
    for patch in sorted(paths.PATCHES_DIR.rglob("*.patch")):
        assert patch.read_bytes() not in seen, f"{patch} duplicates {seen[patch.read_bytes()]}"
        seen[patch.read_bytes()] = patch


def test_patch_task_depends_on_the_port_tree_the_table_and_both_series():
    from muslforge import paths
    from muslforge.tasks import sources
    from muslforge.tasks.context import load_context
    deps = set(sources.patch_task(load_context("1.2.5"))["file_dep"])
    assert str(paths.PORT_DIR / "arch/wasm32/syscall_arch.h") in deps
    assert str(syscalls.TABLE) in deps
    assert {str(paths.PATCHES_DIR / "common/series"), str(paths.PATCHES_DIR / "musl-1.2.5/series")} <= deps
