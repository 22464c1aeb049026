"""The image recipe without Docker or network: tags, pins, the machine's apt sources, mmdebstrap's argv."""

from __future__ import annotations

import dataclasses

import pytest

from muslforge.toolchain import image
from muslforge.config.toolchain import load_toolchain
from muslforge.errors import BackendError
from muslforge.paths import TOOLCHAINS_DIR

SOURCES = """\
Types: deb
# a comment
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb-src
URIs: http://mirror.invalid/debian
Suites: trixie
Components: main

Types: deb deb-src
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main

Enabled: no
Types: deb
URIs: http://mirror.invalid/other
Suites: sid
Components: main
"""


@pytest.fixture
def llvm22():
    return load_toolchain(TOOLCHAINS_DIR, "llvm-22")


def test_tag_is_computed_without_docker_and_follows_the_pins(llvm22, monkeypatch):
    monkeypatch.setattr("muslforge.docker.client", lambda *a, **k: pytest.fail("talked to Docker"))
    tag = image.image_tag(llvm22)
    assert tag == image.image_tag(llvm22)
    assert tag.startswith("muslforge/llvm-22:") and len(tag.rpartition(":")[2]) == 16
    bumped = dataclasses.replace(llvm22, image=dataclasses.replace(
        llvm22.image, packages=(*llvm22.image.packages[:-1], "qemu-user-static=1:7.2+dfsg-7+deb12u99")))
    assert image.image_tag(bumped) != tag
    assert image.image_tag(load_toolchain(TOOLCHAINS_DIR, "llvm-19")).startswith("muslforge/llvm-19:")


def test_the_image_carries_no_builtins_only_the_tools_that_build_them(llvm22):
    assert "MUSLFORGE_BUILTINS" not in (image.RECIPE_DIR / "customize.sh").read_text()
    assert image.labels(llvm22, "0" * 64)["muslforge.compiler_rt"] == "llvm-toolchain-22=1:22.1.8-1~deb13u5"


def test_only_binary_entries_of_the_machines_sources_are_used(tmp_path):
    deb822, one_line = tmp_path / "debian.sources", tmp_path / "extra.list"
    deb822.write_text(SOURCES)
    one_line.write_text("# comment\ndeb-src http://mirror.invalid/debian sid main\n"
                        "deb http://mirror.invalid/debian bookworm main\n")
    stanzas, lines = image.binary_sources([deb822, one_line])
    assert stanzas.split("\n\n") == [
        ("Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm bookworm-updates\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg"),
        ("Types: deb\nURIs: http://mirror.invalid/debian-security\nSuites: bookworm-security\n"
        "Components: main\n")]
    assert lines == "deb http://mirror.invalid/debian bookworm main\n"


def test_missing_suite_is_refused_before_mmdebstrap(llvm22, tmp_path):
    sources = tmp_path / "debian.sources"
    sources.write_text(SOURCES.replace(" bookworm-updates", ""))
    with pytest.raises(BackendError) as error:
        image.check_suites(llvm22, [sources], image.binary_sources([sources])[0])
    assert "lack the suites bookworm-updates that toolchain llvm-22 is pinned to" in str(error.value)


def test_mmdebstrap_gets_the_pins_hooks_and_sources_file(llvm22, tmp_path):
    argv = image.mmdebstrap_argv(llvm22, tmp_path / "out.tar", tmp_path / "debs", [tmp_path / "apt.sources"])
    assert argv[0] == "mmdebstrap" and argv[-3:] == ["bookworm", str(tmp_path / "out.tar"),
                                                     str(tmp_path / "apt.sources")]
    assert f"--include={','.join(llvm22.image.packages)}" in argv
    assert "--variant=apt" in argv and "--format=tar" in argv
    assert f"--customize-hook={image.RECIPE_DIR / 'customize.sh'}" in argv
    assert not [a for a in argv if "://" in a]  # the mirror comes from the sources file, never a host name


def test_recipe_hook_is_executable():
    hook = image.RECIPE_DIR / "customize.sh"
    assert hook.stat().st_mode & 0o111
