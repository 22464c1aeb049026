"""Guest path resolution: everything stays inside the root; escapes are EACCES."""

import errno
import os

import pytest

from muslforge.wasm.errors import EmbedderError, Errno
from muslforge.wasm.sandbox import Sandbox


@pytest.fixture
def root(tmp_path):
    base = tmp_path / "root"
    (base / "sub").mkdir(parents=True)
    (base / "sub" / "file.txt").write_text("x")
    (tmp_path / "outside.txt").write_text("secret")
    os.symlink("sub/file.txt", base / "inner-link")
    os.symlink("../outside.txt", base / "escape-link")
    os.symlink(str(tmp_path / "outside.txt"), base / "abs-escape")
    os.symlink("loop", base / "loop")
    return base


def refused(sandbox, base, path, **kw):
    with pytest.raises(Errno) as caught:
        sandbox.resolve(base, path, **kw)
    return caught.value.errno


def test_relative_paths_resolve_inside_root(root):
    box = Sandbox(root)
    assert box.resolve(box.root, b"sub/file.txt") == str(root / "sub" / "file.txt")
    assert box.resolve(box.root, b"./sub/../sub/./file.txt") == str(root / "sub" / "file.txt")
    assert box.resolve(str(root / "sub"), b"..") == str(root)


def test_absolute_path_inside_root_is_allowed(root):
    box = Sandbox(root)
    assert box.resolve("/", str(root / "sub").encode()) == str(root / "sub")


def test_absolute_path_outside_root_is_eacces(root):
    box = Sandbox(root)
    assert refused(box, box.root, b"/etc/passwd") == errno.EACCES
    assert refused(box, box.root, str(root.parent / "outside.txt").encode()) == errno.EACCES


def test_dotdot_above_root_is_eacces(root):
    box = Sandbox(root)
    assert refused(box, box.root, b"..") == errno.EACCES
    assert refused(box, box.root, b"sub/../../outside.txt") == errno.EACCES


def test_symlinks_inside_are_followed_and_escaping_ones_refused(root):
    box = Sandbox(root)
    assert box.resolve(box.root, b"inner-link") == str(root / "sub" / "file.txt")
    assert refused(box, box.root, b"escape-link") == errno.EACCES
    assert refused(box, box.root, b"abs-escape") == errno.EACCES


def test_last_component_not_followed_when_asked(root):
    box = Sandbox(root)
    assert box.resolve(box.root, b"escape-link", follow=False) == str(root / "escape-link")


def test_symlink_loop_is_eloop(root):
    box = Sandbox(root)
    assert refused(box, box.root, b"loop") == errno.ELOOP


def test_missing_final_component_resolves_for_creation(root):
    box = Sandbox(root)
    assert box.resolve(box.root, b"sub/new.txt") == str(root / "sub" / "new.txt")


def test_file_used_as_directory_is_enotdir(root):
    box = Sandbox(root)
    assert refused(box, box.root, b"sub/file.txt/x") == errno.ENOTDIR


def test_empty_path_is_enoent_and_devices_are_allowed(root):
    box = Sandbox(root)
    assert refused(box, box.root, b"") == errno.ENOENT
    assert box.resolve(box.root, b"/dev/null") == "/dev/null"


def test_trailing_slash_is_kept(root):
    box = Sandbox(root)
    assert box.resolve(box.root, b"sub/") == str(root / "sub") + "/"


def test_root_must_be_a_directory(tmp_path):
    with pytest.raises(EmbedderError, match="not a directory"):
        Sandbox(tmp_path / "missing")
