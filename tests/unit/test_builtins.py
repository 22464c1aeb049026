"""muslforge.toolchain.builtins without network or apt: fake builtins_dirs, fake apt-get/dpkg-deb, fake clang."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from muslforge.toolchain import builtins
from muslforge.toolchain.builtins import BuiltinsMissing, locate
from muslforge.config.arch import Arch, RunMode
from muslforge.config.toolchain import ImagePins, Toolchain
from muslforge.errors import CommandFailed

PKG = "libclang-rt-19-dev=1:19.1.7-3~deb12u1"


def toolchain(dirs=(), debs=()) -> Toolchain:
    return Toolchain(name="llvm-test", cc="clang-22", ar="llvm-ar-22", ranlib="llvm-ranlib-22",
                     nm="llvm-nm-22", strip="llvm-strip-22", builtins_dirs=tuple(str(d) for d in dirs),
                     builtins_debs=tuple(sorted(debs)),
                     image=ImagePins(suite="bookworm", packages=(), source_date_epoch=0))


def arch(name="armv7", builtins_file="libclang_rt.builtins-armhf.a", debian_arch="armhf",
         triple="armv7-linux-musleabihf", cflags=()) -> Arch:
    return Arch(name=name, triple=triple, musl_target="arm", run=RunMode.QEMU, qemu="qemu-arm-static",
                builtins=builtins_file, debian_arch=debian_arch, cflags=tuple(cflags))


class FakeApt:
    """Stands in for proc.run / proc.output: apt-get download writes a .deb, dpkg-deb -x unpacks it."""

    def __init__(self, holds=("usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.builtins-armhf.a",),
                 foreign="armhf", fail_download=False):
        self.holds, self.foreign, self.fail_download = holds, foreign, fail_download
        self.calls: list[list[str]] = []

    def run(self, argv, *, cwd=None, **_):
        argv = [str(a) for a in argv]
        self.calls.append(argv)
        if argv[:2] == ["apt-get", "download"]:
            if self.fail_download:
                raise CommandFailed("apt-get exited with status 100: apt-get download x\n--- last 30 lines ---\n"
                                    "E: Can't select candidate version from package", 100)
            (Path(cwd) / "libclang-rt-19-dev_19.1.7_armhf.deb").write_bytes(b"!<arch>\n")
        elif argv[:2] == ["dpkg-deb", "-x"]:
            for rel in self.holds:
                target = Path(argv[3]) / rel
                target.parent.mkdir(parents=True, exist_ok=True)
                target.write_bytes(b"!<arch>\n")
        else:
            raise AssertionError(f"unexpected command {argv}")

    def output(self, argv, **_):
        return {"--print-architecture": "amd64\n", "--print-foreign-architectures": f"{self.foreign}\n"}[argv[1]]


# ----------------------------------------------------------------------------------- builtins_dirs

def test_found_in_builtins_dirs_without_any_process(tmp_path):
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir(), second.mkdir()
    (second / "libclang_rt.builtins-armhf.a").write_bytes(b"x")
    apt = FakeApt()
    found = locate(toolchain([first, second], [("armhf", PKG)]), arch(), tmp_path / "cache",
                   run=apt.run, output=apt.output)
    assert found == second / "libclang_rt.builtins-armhf.a"
    assert apt.calls == []


def test_builtins_dirs_searched_in_order(tmp_path):
    for folder in ("a", "b"):
        (tmp_path / folder).mkdir()
        (tmp_path / folder / "libclang_rt.builtins-armhf.a").write_bytes(b"x")
    found = locate(toolchain([tmp_path / "a", tmp_path / "b"]), arch(), tmp_path / "cache")
    assert found == tmp_path / "a" / "libclang_rt.builtins-armhf.a"


# ---------------------------------------------------------------------------------- Debian package

def test_downloads_and_unpacks_the_package_once(tmp_path):
    cache = tmp_path / "cache"
    apt = FakeApt()
    tc = toolchain([tmp_path / "empty"], [("armhf", PKG)])
    found = locate(tc, arch(), cache, run=apt.run, output=apt.output)
    unpacked = cache / "builtins" / "libclang-rt-19-dev_1%3a19.1.7-3~deb12u1_armhf"
    assert found == unpacked / "usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.builtins-armhf.a"
    assert apt.calls[0] == ["apt-get", "download", "libclang-rt-19-dev:armhf=1:19.1.7-3~deb12u1"]
    assert apt.calls[1][:2] == ["dpkg-deb", "-x"]
    assert sorted(p.name for p in (cache / "builtins").iterdir()) == [unpacked.name]  # no temp left
    assert not list(unpacked.rglob("*.deb"))
    assert locate(tc, arch(), cache, run=apt.run, output=apt.output) == found
    assert len(apt.calls) == 2


def test_unpinned_package_dir_is_package_and_arch(tmp_path):
    assert builtins.package_dir(tmp_path, "libclang-rt-19-dev", "armhf") == \
        tmp_path / "builtins" / "libclang-rt-19-dev_armhf"


def test_foreign_arch_not_configured_says_how_to_add_it(tmp_path):
    apt = FakeApt(foreign="arm64")
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain([], [("armhf", PKG)]), arch(), tmp_path, run=apt.run, output=apt.output)
    assert str(caught.value) == (
        "the builtins for armv7 come from a Debian armhf package, but dpkg does not know the armhf "
        "architecture. Enable it (this installs nothing) with: dpkg --add-architecture armhf && apt-get update")
    assert apt.calls == []


def test_failed_download_says_how_to_refresh_and_leaves_nothing(tmp_path):
    apt = FakeApt(fail_download=True)
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain([], [("armhf", PKG)]), arch(), tmp_path, run=apt.run, output=apt.output)
    message = str(caught.value)
    assert message.startswith("apt-get download libclang-rt-19-dev:armhf=1:19.1.7-3~deb12u1 failed "
                              "(E: Can't select candidate version from package).")
    assert "dpkg --add-architecture armhf && apt-get update" in message
    assert "apt-cache policy libclang-rt-19-dev:armhf" in message
    assert list((tmp_path / "builtins").iterdir()) == []


def test_package_without_the_file(tmp_path):
    apt = FakeApt(holds=("usr/lib/llvm-19/lib/clang/19/lib/linux/libclang_rt.asan-s390x.a",), foreign="s390x")
    s390x = arch("s390x", "libclang_rt.builtins-s390x.a", "s390x", "s390x-linux-musl")
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain([], [("s390x", PKG)]), s390x, tmp_path, run=apt.run, output=apt.output)
    target = tmp_path / "builtins" / "libclang-rt-19-dev_1%3a19.1.7-3~deb12u1_s390x"
    assert str(caught.value) == (
        f"{PKG} for s390x (unpacked in {target}) holds no libclang_rt.builtins-s390x.a; the toolchain "
        f"should map s390x to another package or to 'source' in builtins_debs, then run: rm -rf {target}")


# ------------------------------------------------------------------------------------- from source

def test_source_arch_is_compiled_by_the_build_not_located(tmp_path):
    riscv = arch("riscv64", "libclang_rt.builtins-riscv64.a", "riscv64", "riscv64-linux-musl")
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain([], [("riscv64", "source")]), riscv, tmp_path)
    assert str(caught.value) == (
        "libclang_rt.builtins-riscv64.a for riscv64 is compiled from compiler-rt source (Debian ships no "
        "builtins for riscv64) inside `doit build:riscv64`; there is no file to locate first.")


def test_fingerprint_covers_where_builtins_come_from(tmp_path):
    base = toolchain([tmp_path / "a"], [("riscv64", "source")])
    assert dataclasses.replace(base, builtins_dirs=(str(tmp_path / "b"),)).fingerprint() != base.fingerprint()
    assert dataclasses.replace(base, builtins_debs=(("riscv64", PKG),)).fingerprint() != base.fingerprint()


def test_arch_not_mapped(tmp_path):
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain(["/nonexistent"]), arch(), tmp_path)
    assert str(caught.value) == (
        "libclang_rt.builtins-armhf.a for armv7 is not in the toolchain's builtins_dirs (/nonexistent) and "
        "builtins_debs names no package for Debian arch 'armhf'. Add `armhf: <package>` (or `: source`) "
        "under builtins_debs in toolchains/llvm-test.yaml, or install the file into one of builtins_dirs.")


def test_arch_without_debian_arch(tmp_path):
    with pytest.raises(BuiltinsMissing) as caught:
        locate(toolchain(), arch(debian_arch=None), tmp_path)
    assert "arches/armv7.yaml sets no debian_arch" in str(caught.value)


# ------------------------------------------------------------------------- compiler-rt source tree

CMAKE = """\
set(GENERIC_SOURCES
  absvdi2.c
  apple_versioning.c
  fp_mode.c
  muldi3.c
  int_util.c
)

set(GENERIC_TF_SOURCES
  addtf3.c
)
"""


def fake_compiler_rt(folder: Path) -> Path:
    folder.mkdir()
    (folder / "CMakeLists.txt").write_text(CMAKE)
    for name in ("absvdi2.c", "fp_mode.c", "muldi3.c", "int_util.c", "addtf3.c", "riscv/fp_mode.c",
                 "riscv/save.S", "riscv/restore.S", "riscv/muldi3.S", "riscv/mulsi3.S"):
        (folder / name).parent.mkdir(parents=True, exist_ok=True)
        (folder / name).write_text("/* */\n")
    return folder


def test_sources_for_riscv64_replace_generic_by_arch_specific(tmp_path):
    src = fake_compiler_rt(tmp_path / "builtins")
    assert builtins.builtins_sources(src, "riscv64-linux-musl") == [
        "absvdi2.c", "addtf3.c", "int_util.c", "riscv/fp_mode.c", "riscv/muldi3.S", "riscv/restore.S",
        "riscv/save.S"]


def test_sources_for_powerpc_have_no_tf(tmp_path):
    src = fake_compiler_rt(tmp_path / "builtins")
    assert builtins.builtins_sources(src, "powerpc-linux-musl") == [
        "absvdi2.c", "fp_mode.c", "int_util.c", "muldi3.c"]


def test_build_from_source_is_sorted_mapped_and_atomic(tmp_path):
    src = fake_compiler_rt(tmp_path / "builtins")
    out = tmp_path / "out" / "libclang_rt.builtins-riscv32.a"
    calls, makefiles = [], []

    def run(argv, *, cwd=None, **_):
        calls.append([str(a) for a in argv])
        makefiles.append((Path(cwd) / "Makefile").read_text())
        (Path(cwd) / "libclang_rt.builtins.a").write_bytes(b"!<arch>\n")

    riscv32 = arch("riscv32", out.name, "riscv32", "riscv32-linux-musl", cflags=["-march=rv32gc"])
    built = builtins.build_from_source(src, riscv32, toolchain(), out, run, include_dir=tmp_path / "inc",
                                       output=lambda argv, **_: "/res\n", jobs=2)
    assert built == out and out.read_bytes() == b"!<arch>\n"
    assert calls == [["make", "-j2", "-f", "Makefile", "libclang_rt.builtins.a"]]
    rules = makefiles[0].split("\n\n")
    objects = ["absvdi2.o", "addtf3.o", "int_util.o", "muldi3.o", "riscv_fp_mode.o", "riscv_mulsi3.o",
               "riscv_restore.o", "riscv_save.o"]
    assert rules[0] == f"libclang_rt.builtins.a: {' '.join(objects)}\n\tllvm-ar-22 rcsD $@ $^"
    sources = ["absvdi2.c", "addtf3.c", "int_util.c", "muldi3.c", "riscv/fp_mode.c", "riscv/mulsi3.S",
               "riscv/restore.S", "riscv/save.S"]
    assert [r.split(":")[0] for r in rules[1:]] == objects
    assert [r.split("\n")[0].split(": ", 1)[1] for r in rules[1:]] == [str(src / s) for s in sources]
    command = rules[1].split("\n")[1].split()
    assert command[:3] == ["clang-22", "--target=riscv32-linux-musl", "-march=rv32gc"]
    assert f"-ffile-prefix-map={src}=compiler-rt/lib/builtins" in command
    assert "-fforce-enable-int128" in command
    assert command[command.index("-nostdinc"):command.index("-nostdinc") + 5] == [
        "-nostdinc", "-isystem", str(tmp_path / "inc"), "-isystem", "/res/include"]
    assert [p.name for p in out.parent.iterdir()] == [out.name]  # the work dir is gone


def test_deb_src_entries_only_change_types():
    text = "Types: deb\nURIs: http://mirror.invalid/debian\nSuites: bookworm\n\nTypes: deb\nURIs: x\n"
    assert builtins.deb_src_entries(text) == text.replace("Types: deb\n", "Types: deb-src\n")


def test_builtins_relpath_keeps_only_the_builtins_folder():
    rel = builtins._builtins_relpath
    assert rel("llvm-toolchain-19_19.1.7/compiler-rt/lib/builtins/addtf3.c") == "addtf3.c"
    assert rel("llvm-toolchain-19_19.1.7/compiler-rt/lib/builtins/riscv/save.S") == "riscv/save.S"
    assert rel("llvm-toolchain-19_19.1.7/compiler-rt/lib/builtins/") is None
    assert rel("llvm-toolchain-19_19.1.7/compiler-rt/lib/asan/asan.cpp") is None
    assert rel("x/compiler-rt/lib/builtins/../../../etc/passwd") is None
