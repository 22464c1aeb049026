"""compiler-rt's builtins really built with its CMake (host backend): the same bytes from two build folders
and two caches, no build path in them, a cache hit that builds nothing, a damaged cache entry rebuilt."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from muslforge.backend import HostBackend
from muslforge.config.arch import load_arch
from muslforge.config.toolchain import load_toolchain
from muslforge.paths import ARCHES_DIR, TOOLCHAINS_DIR
from muslforge.toolchain import builtins
from tests.integration.conftest import shared_builtins_dirs

pytestmark = pytest.mark.slow

LLVM22 = load_toolchain(TOOLCHAINS_DIR, "llvm-22")
X86_64 = load_arch(ARCHES_DIR, "x86_64")


@pytest.fixture(scope="module")
def tree(host_doit) -> Path:
    host_doit("patch")
    (found,) = (host_doit.build / "src").glob("musl-1.2.6-*")
    return found


def cache_at(folder: Path) -> Path:
    """A fresh builtins cache that shares the run's (verified) compiler-rt source."""
    folder.mkdir(parents=True)
    (folder / "compiler-rt").symlink_to(shared_builtins_dirs() / "compiler-rt", target_is_directory=True)
    return folder


def provide(tree: Path, root: Path, cache: Path) -> Path:
    return builtins.provide(X86_64, HostBackend(LLVM22), tree=tree, musl=tree.name, work=root / "work",
                            cache=cache, out=root / "out" / builtins.ARCHIVE_NAME, jobs=2)


def test_two_builds_give_the_same_bytes_and_the_cache_is_used_and_checked(tree, tmp_path, capsys):
    first = provide(tree, tmp_path / "one", cache_at(tmp_path / "cache-one"))
    second = provide(tree, tmp_path / "a-longer-folder-name" / "two", cache_at(tmp_path / "cache-two"))
    assert first.read_bytes() == second.read_bytes()
    data = first.read_bytes()
    assert data.startswith(b"!<arch>\n") and b"__udivti3" in data and b"__floattitf" in data
    assert str(tmp_path).encode() not in data and str(tree).encode() not in data
    assert not (tmp_path / "one" / "work").exists()
    assert capsys.readouterr().out.count(": built ") == 2

    provide(tree, tmp_path / "three", tmp_path / "cache-one")
    assert ": cached " in capsys.readouterr().out

    (cached,) = (tmp_path / "cache-one" / "builtins" / "llvm-22").glob("x86_64-*.a")
    cached.write_bytes(b"!<arch>\n")  # damaged after it was stored: its sidecar no longer matches
    again = provide(tree, tmp_path / "four", tmp_path / "cache-one")
    assert ": built " in capsys.readouterr().out
    assert again.read_bytes() == data == cached.read_bytes()


def test_a_failing_configure_is_one_paragraph_naming_the_arch_the_error_and_the_log(tree, tmp_path):
    bad = dataclasses.replace(X86_64, cflags=("-mno-such-flag",))
    with pytest.raises(builtins.BuiltinsError) as caught:
        builtins.provide(bad, HostBackend(LLVM22), tree=tree, musl=tree.name, work=tmp_path / "work",
                         cache=cache_at(tmp_path / "cache"), out=tmp_path / "out.a", log=tmp_path / "log")
    assert str(caught.value) == (
        f"compiler-rt's CMake configure of the builtins for x86_64 (x86_64-linux-musl) failed: clang-22: "
        f"error: unknown argument: '-mno-such-flag'. Full output: {tmp_path / 'log'} and "
        f"{tmp_path / 'work' / 'build'}/CMakeFiles/. A flag in {X86_64.path} (cflags) or the toolchain's "
        f"compiler may not suit compiler-rt; fix it and run again.")
    assert not (tmp_path / "out.a").exists() and not list((tmp_path / "cache" / "builtins").rglob("*.a"))
