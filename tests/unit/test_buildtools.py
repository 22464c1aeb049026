"""The files that let other build systems use a sysroot, and the flags they all share (no clang needed)."""

from __future__ import annotations

import os
import shutil
import struct
import subprocess
from pathlib import Path

import pytest

from muslforge.sysroot import binfmt, buildtools, flags
from muslforge import paths
from muslforge.toolchain import session
from muslforge.config.arch import Arch, RunMode, load_arch, load_arches
from muslforge.config.toolchain import load_toolchain
from muslforge.errors import MuslforgeError

TOOLCHAIN = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")


def sysroot_with_tools(tmp_path: Path, arch: Arch) -> Path:
    root = tmp_path / "sysroot"
    (root / "lib").mkdir(parents=True)
    for name in ("libc.a", "crt1.o", "crti.o", "crtn.o", flags.BUILTINS_NAME):
        (root / "lib" / name).write_bytes(b"x")
    buildtools.write_all(arch, TOOLCHAIN, root)
    return root


def wrapper_says(command: list[str], cwd: Path) -> str:
    """What bin/<triple>-cc would run, with clang replaced by echo."""
    done = subprocess.run(command, cwd=cwd, env={**os.environ, "MUSLFORGE_CLANG": "echo"}, text=True,
                          capture_output=True, check=True)
    return done.stdout.strip()


def test_every_sysroot_gets_its_wrappers_cross_files_and_config(tmp_path):
    arch = load_arch(paths.ARCHES_DIR, "aarch64")
    root = sysroot_with_tools(tmp_path, arch)
    executables = sorted(p.name for p in (root / "bin").iterdir())
    assert executables == [f"aarch64-linux-musl-{t}" for t in ("ar", "cc", "nm", "objcopy", "objdump", "ranlib",
                                                               "readelf", "run", "size", "strings", "strip")]
    assert "llvm-objdump-22" in (root / "bin/aarch64-linux-musl-objdump").read_text()
    assert all(os.access(p, os.X_OK) for p in (root / "bin").iterdir())
    assert (root / "aarch64-linux-musl.cfg").read_text() == flags.clang_config(arch, root)
    for name in (buildtools.CMAKE_FILE, buildtools.MESON_FILE, buildtools.STATIC_ONLY_FILE):
        assert (root / name).stat().st_mode & 0o777 == 0o644


def test_the_cc_wrapper_finds_its_sysroot_however_it_is_called(tmp_path):
    root = sysroot_with_tools(tmp_path, load_arch(paths.ARCHES_DIR, "aarch64"))
    cfg = "aarch64-linux-musl.cfg"
    assert wrapper_says([str(root / "bin/aarch64-linux-musl-cc"), "-c", "a.c"], tmp_path) == \
        f"--config={root}/{cfg} -c a.c"
    assert wrapper_says(["./aarch64-linux-musl-cc", "x"], root / "bin") == f"--config=./../{cfg} x"
    assert wrapper_says(["sysroot/bin/aarch64-linux-musl-cc"], tmp_path) == f"--config=sysroot/{cfg}"
    link = tmp_path / "elsewhere" / "cc"
    link.parent.mkdir()
    link.symlink_to(root / "bin/aarch64-linux-musl-cc")
    assert wrapper_says([str(link)], tmp_path) == f"--config={root}/{cfg}"


def test_wrappers_keep_arguments_with_spaces_and_quotes_whole(tmp_path):
    root = sysroot_with_tools(tmp_path, load_arch(paths.ARCHES_DIR, "x86_64"))
    show = tmp_path / "show-args"
    show.write_text('#!/bin/sh\nfor a in "$@"; do echo "[$a]"; done\n')
    show.chmod(0o755)
    argv = [str(root / "bin/x86_64-linux-musl-cc"), '-DGREETING="hi there"', "a b.c", "$HOME"]
    done = subprocess.run(argv, env={**os.environ, "MUSLFORGE_CLANG": str(show)}, capture_output=True,
                          text=True, check=True)
    assert done.stdout.splitlines()[1:] == ['[-DGREETING="hi there"]', "[a b.c]", "[$HOME]"]


def test_wasm32_tools_carry_the_autoconf_triple_config_sub_accepts():
    arch = load_arch(paths.ARCHES_DIR, "wasm32")
    assert arch.triple == "wasm32-unknown-unknown"      # what clang is given (--target)
    assert arch.tool_prefix == "wasm32-linux-musl"       # ./configure --host=..., bin/ names
    assert buildtools.tool_name(arch, "cc") == "wasm32-linux-musl-cc"
    native = {a.name: a.tool_prefix for a in load_arches(paths.ARCHES_DIR) if a.name != "wasm32"}
    assert native["aarch64"] == "aarch64-linux-musl" and native["ppc64le"] == "powerpc64le-linux-musl"


def test_host_triple_is_part_of_the_fingerprint_only_when_set(tmp_path):
    base = load_arch(paths.ARCHES_DIR, "aarch64")
    named = Arch(**{**{f: getattr(base, f) for f in base.__dataclass_fields__}, "host_triple": "aarch64-x-linux"})
    assert named.fingerprint() != base.fingerprint()


def test_cmake_toolchain_names_the_tools_and_runs_tests_through_muslforge():
    text = buildtools.cmake_toolchain(load_arch(paths.ARCHES_DIR, "aarch64"))
    assert 'get_filename_component(MUSLFORGE_SYSROOT "${CMAKE_CURRENT_LIST_DIR}/../.." ABSOLUTE)' in text
    assert 'set(CMAKE_C_COMPILER "${MUSLFORGE_SYSROOT}/bin/aarch64-linux-musl-cc")' in text
    assert 'set(CMAKE_AR "${MUSLFORGE_SYSROOT}/bin/aarch64-linux-musl-ar" CACHE FILEPATH "")' in text
    assert '"${MUSLFORGE_PROGRAM};run;--arch;aarch64"' in text
    assert "find_program(MUSLFORGE_QEMU qemu-aarch64-static)" in text  # when muslforge is not on PATH
    wasm = buildtools.cmake_toolchain(load_arch(paths.ARCHES_DIR, "wasm32"))
    assert "set(CMAKE_SYSTEM_PROCESSOR wasm32)" in wasm and "QEMU" not in wasm


def test_link_only_arches_get_no_emulator():
    x32 = load_arch(paths.ARCHES_DIR, "x32")
    assert buildtools.emulator(x32) == []
    assert "set(CMAKE_CROSSCOMPILING_EMULATOR" not in buildtools.cmake_toolchain(x32)
    assert "\nexe_wrapper =" not in buildtools.meson_cross(x32)


def test_meson_cross_file_is_relative_to_itself():
    text = buildtools.meson_cross(load_arch(paths.ARCHES_DIR, "s390x"))
    assert "sysroot = '@DIRNAME@' / '..' / '..'" in text
    assert "c = sysroot / 'bin' / 's390x-linux-musl-cc'" in text
    assert "exe_wrapper = ['muslforge', 'run', '--arch', 's390x']" in text
    assert "endian = 'big'" in text and "cpu_family = 's390x'" in text
    assert "default_library = 'static'" in text


def test_config_file_keeps_compile_and_link_flags_apart_from_the_link_inputs(tmp_path):
    arch = load_arch(paths.ARCHES_DIR, "wasm32")
    root = sysroot_with_tools(tmp_path, arch)
    lines = [x for x in flags.clang_config(arch, root).splitlines() if not x.startswith("#")]
    assert lines[:4] == ["--target=wasm32-unknown-unknown", "--sysroot=<CFGDIR>", "-nostdlibinc",
                         "-isystem <CFGDIR>/include"]
    assert "-nostdinc" not in lines  # clang's own stdatomic.h, wasm_simd128.h stay reachable
    inputs = [x for x in lines if x.startswith("$")]
    assert inputs == [f"$<CFGDIR>/lib/{n}" for n in ("crt1.o", "crti.o", "libc.a", flags.BUILTINS_NAME, "crtn.o")]
    absolute = flags.clang_config(arch, root, root=str(root))
    assert f"--sysroot={root}" in absolute and "<CFGDIR>" not in absolute


def test_dynamic_linkage_names_the_loader(tmp_path):
    link = flags.link_flags(load_arch(paths.ARCHES_DIR, "x86_64"), linkage=flags.Linkage.DYNAMIC,
                            loader="/lib/ld-musl-x86_64.so.1")
    assert link[0] == "-Wl,--dynamic-linker=/lib/ld-musl-x86_64.so.1" and "-static" not in link


# ---------------------------------------------------------------------------------------- session

def test_session_request_framing():
    body = session._request(["cc", "-c", "a b.c"], Path("/w"), {"K": "v=1"}, stdin=False)
    (length,) = struct.unpack(">I", body[:4])
    assert body[4:].split(b"\0") == [b"/w", b"1", b"K=v=1", b"3", b"cc", b"-c", b"a b.c", b"0"]
    assert length == len(body) - 4


def test_session_container_sees_the_host_except_system_folders():
    assert session.visible(Path("/work/x")) and session.visible(Path("/tmp/a/../b"))
    assert not session.visible(Path("/usr/include/stdio.h")) and not session.visible(Path("/opt/x"))
    assert all(p.name not in session.SYSTEM_DIRS for p in session.mounts())
    env = session.container_env({"PATH": "/host/bin", "LD_PRELOAD": "x.so", "CFLAGS": "-O2"})
    assert env == {"CFLAGS": "-O2", "PATH": session.IMAGE_PATH}


# ---------------------------------------------------------------------------------------- binfmt

def fake_binfmt(tmp_path: Path) -> Path:
    folder = tmp_path / "binfmt_misc"
    folder.mkdir()
    (folder / "register").write_text("")
    (folder / "qemu-aarch64").write_text("enabled\ninterpreter /usr/libexec/qemu-binfmt/aarch64-binfmt-P\n")
    return folder


def test_binfmt_rule_for_wasm32_names_the_sysroot_runner(tmp_path):
    runner = tmp_path / "bin" / "wasm32-linux-musl-run"
    runner.parent.mkdir()
    runner.write_text("#!/bin/sh\n")
    folder = fake_binfmt(tmp_path)
    assert binfmt.register(runner, folder) == rf":muslforge-wasm32:M::\x00asm\x01\x00\x00\x00::{runner}:"
    assert (folder / "register").read_text() == binfmt.wasm_rule(runner)


def test_binfmt_status_names_each_entry_and_what_to_do(tmp_path):
    arches = [load_arch(paths.ARCHES_DIR, name) for name in ("aarch64", "riscv64", "wasm32", "x32")]
    lines = binfmt.status(arches, fake_binfmt(tmp_path))
    assert lines[0] == "aarch64      registered: qemu-aarch64 -> /usr/libexec/qemu-binfmt/aarch64-binfmt-P"
    assert lines[1].startswith("riscv64      not registered: install qemu-user-static")
    assert lines[2] == "wasm32       not registered: muslforge binfmt --register (as root)"
    assert len(lines) == 3  # x32: nothing can run it


def test_binfmt_without_the_filesystem_says_how_to_mount_it(tmp_path):
    assert binfmt.status([], tmp_path) == [
        f"binfmt_misc is not mounted at {tmp_path}: as root, mount -t binfmt_misc none {tmp_path}"]
    with pytest.raises(MuslforgeError, match="binfmt_misc is not mounted at"):
        binfmt.unregister(tmp_path)


def test_without_clang_the_wrapper_asks_muslforge_and_the_host_backend_says_what_to_install(tmp_path):
    if shutil.which("muslforge") is None:
        pytest.skip("muslforge is not on PATH (pip install -e . puts it there)")
    root = sysroot_with_tools(tmp_path, load_arch(paths.ARCHES_DIR, "aarch64"))
    env = {**os.environ, "MUSLFORGE_CLANG": "clang-0-missing", "MUSLFORGE_BACKEND": "host"}
    done = subprocess.run([str(root / "bin/aarch64-linux-musl-cc"), "-c", "a.c"], env=env, capture_output=True,
                          text=True)
    assert done.returncode == 2
    assert done.stderr == ("muslforge: 'clang-0-missing' was not found on PATH and the backend is host. "
                           "Install it (apt-get install clang-0-missing) or use the toolchain image: "
                           "MUSLFORGE_BACKEND=docker.\n")


def test_a_remote_docker_daemon_cannot_host_the_session(monkeypatch, tmp_path):
    monkeypatch.setenv("DOCKER_HOST", "tcp://192.0.2.1:2375")
    monkeypatch.setenv("MUSLFORGE_SESSION_DIR", str(tmp_path))
    with pytest.raises(MuslforgeError, match="DOCKER_HOST is tcp://192.0.2.1:2375, which cannot see them"):
        session.Session("muslforge/llvm-22:0").run(["true"], cwd=tmp_path, env={})
