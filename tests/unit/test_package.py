"""Release packaging: deterministic tarballs, clang config files, manifests, SHA256SUMS, assembly."""

from __future__ import annotations

import datetime
import hashlib
import json
import lzma
import os
import tarfile
import time
from pathlib import Path

import pytest
from doit.exceptions import InvalidDodoFile
from doit import doit_cmd

from muslforge.release import manifest, nightly, package, reproduce as verify_release
from muslforge import paths, settings
from muslforge.config.arch import Arch, RunMode
from muslforge.config.musl import MuslRelease
from muslforge.config.toolchain import CompilerRtSource, ImagePins, Toolchain
from muslforge.errors import MuslforgeError
from muslforge.sources.patch import Series
from muslforge.tasks import release
from muslforge.tasks.context import load_context

EPOCH = 1709164800  # 2024-02-29T00:00:00Z


def x86_64(tmp_path: Path) -> Arch:
    yaml = tmp_path / "arches" / "x86_64.yaml"
    yaml.parent.mkdir(exist_ok=True)
    yaml.write_text("name: x86_64\n")
    return Arch(name="x86_64", triple="x86_64-linux-musl", musl_target="x86_64", run=RunMode.NATIVE,
                path=yaml)


def wasm32() -> Arch:
    return Arch(name="wasm32", triple="wasm32-unknown-unknown", musl_target="wasm32", run=RunMode.EMBEDDER,
                cflags=("-mllvm", "-wasm-enable-sjlj"),
                ldflags=("-Wl,--export=__heap_base", "-Wl,-z,stack-size=1048576"))


def fake_sysroot(root: Path, *, crt: bool = True) -> Path:
    """A small sysroot shaped like a real one (headers, libc.a, crt objects, builtins, an executable)."""
    (root / "include" / "bits").mkdir(parents=True)
    (root / "include" / "stdio.h").write_text("/* stdio */\n")
    (root / "include" / "bits" / "alltypes.h").write_text("/* types */\n")
    lib = root / "lib"
    lib.mkdir()
    names = ["libc.a", "libm.a", "libclang_rt.builtins.a"] + (["crt1.o", "crti.o", "crtn.o"] if crt else [])
    for name in names:
        (lib / name).write_bytes(name.encode() * 50)
    (root / "bin").mkdir()
    (root / "bin" / "tool").write_text("#!/bin/sh\n")
    (root / "bin" / "tool").chmod(0o700)
    return root


def touch_everything(root: Path, when: float) -> None:
    for path in [root, *root.rglob("*")]:
        os.utime(path, (when, when))


# ---------------------------------------------------------------------------------------- tarballs

def test_two_packs_of_the_same_tree_are_identical_despite_other_mtimes_and_modes(tmp_path):
    arch, sysroot = x86_64(tmp_path), fake_sysroot(tmp_path / "sysroot")
    first = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "a", EPOCH)
    touch_everything(sysroot, time.time() + 3600)
    (sysroot / "include" / "stdio.h").chmod(0o600)  # group/other bits are not part of the output
    (sysroot / "lib" / "libm.a").chmod(0o664)
    second = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "b", EPOCH)
    assert first.read_bytes() == second.read_bytes()
    assert first.name == "muslforge-musl-1.2.5-x86_64.tar.xz"


def test_members_are_sorted_with_fixed_attributes(tmp_path):
    tarball = package.pack_sysroot(x86_64(tmp_path), fake_sysroot(tmp_path / "s"), "1.2.5", tmp_path, EPOCH)
    members = list(package.tarball_members(tarball))
    names = [m.name for m in members]
    assert names == sorted(names)
    assert names[0] == "muslforge-musl-1.2.5-x86_64"
    assert all(n.startswith("muslforge-musl-1.2.5-x86_64") for n in names)
    for member in members:
        assert (member.mtime, member.uid, member.gid, member.uname, member.gname) == (EPOCH, 0, 0, "", "")
        assert not member.pax_headers
    modes = {m.name.split("/", 1)[-1]: m.mode for m in members}
    assert modes["include"] == 0o755
    assert modes["include/stdio.h"] == 0o644
    assert modes["bin/tool"] == 0o755
    assert modes["x86_64-linux-musl.cfg"] == 0o644


def test_tar_headers_are_gnu_and_compression_is_xz_crc64(tmp_path):
    tarball = package.pack_sysroot(x86_64(tmp_path), fake_sysroot(tmp_path / "s"), "1.2.5", tmp_path, EPOCH)
    raw = tarball.read_bytes()
    assert raw[:6] == b"\xfd7zXZ\x00"
    assert raw[7] == lzma.CHECK_CRC64  # stream flags: second byte is the check type
    header = lzma.decompress(raw)[:512]
    assert header[257:265] == b"ustar  \x00"  # GNU magic, not POSIX pax


def test_epoch_changes_the_bytes_and_the_mtimes(tmp_path):
    arch, sysroot = x86_64(tmp_path), fake_sysroot(tmp_path / "s")
    a = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "a", EPOCH)
    b = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "b", EPOCH + 86400)
    assert a.read_bytes() != b.read_bytes()
    assert {m.mtime for m in package.tarball_members(b)} == {EPOCH + 86400}


def test_a_symlink_is_kept_and_one_leaving_the_tree_is_refused(tmp_path):
    sysroot = fake_sysroot(tmp_path / "s")
    (sysroot / "lib" / "libc.so").symlink_to("libc.a")
    tarball = package.pack_sysroot(x86_64(tmp_path), sysroot, "1.2.5", tmp_path, EPOCH)
    link = next(m for m in package.tarball_members(tarball) if m.name.endswith("libc.so"))
    assert link.issym() and link.linkname == "libc.a" and link.mode == 0o777
    (sysroot / "lib" / "escape").symlink_to("/etc/passwd")
    with pytest.raises(MuslforgeError, match="points outside"):
        package.pack_sysroot(x86_64(tmp_path), sysroot, "1.2.5", tmp_path, EPOCH)


def test_an_interrupted_write_leaves_no_tarball_and_no_temporary_file(tmp_path, monkeypatch):
    arch, sysroot, out = x86_64(tmp_path), fake_sysroot(tmp_path / "s"), tmp_path / "out"
    real_open = package._open_data
    calls = []

    def failing_open(entry):
        calls.append(entry.name)
        if len(calls) == 3:
            raise KeyboardInterrupt  # like Ctrl-C in the middle of the archive
        return real_open(entry)

    monkeypatch.setattr(package, "_open_data", failing_open)
    with pytest.raises(KeyboardInterrupt):
        package.pack_sysroot(arch, sysroot, "1.2.5", out, EPOCH)
    assert list(out.iterdir()) == []


def test_an_interrupted_write_keeps_the_previous_tarball(tmp_path, monkeypatch):
    arch, sysroot, out = x86_64(tmp_path), fake_sysroot(tmp_path / "s"), tmp_path / "out"
    good = package.pack_sysroot(arch, sysroot, "1.2.5", out, EPOCH).read_bytes()
    monkeypatch.setattr(package, "_tarinfo", lambda entry, epoch: (_ for _ in ()).throw(OSError("disk full")))
    with pytest.raises(OSError):
        package.pack_sysroot(arch, sysroot, "1.2.5", out, EPOCH)
    assert [p.name for p in out.iterdir()] == ["muslforge-musl-1.2.5-x86_64.tar.xz"]
    assert (out / "muslforge-musl-1.2.5-x86_64.tar.xz").read_bytes() == good


def test_missing_sysroot_says_how_to_build_it(tmp_path):
    with pytest.raises(MuslforgeError, match=r"lib/libc.a is missing\). Build it first: doit build:x86_64"):
        package.pack_sysroot(x86_64(tmp_path), tmp_path / "nothing", "1.2.5", tmp_path, EPOCH)


def test_wasm32_carries_its_syscall_manifest_and_abi_doc(tmp_path):
    sysroot = fake_sysroot(tmp_path / "s", crt=False)
    doc = tmp_path / "wasm32-abi.md"
    doc.write_text("# ABI\n")
    with pytest.raises(MuslforgeError, match="syscalls.json is missing"):
        package.pack_sysroot(wasm32(), sysroot, "1.2.6", tmp_path, EPOCH, abi_doc=doc)
    (sysroot / "share" / "muslforge").mkdir(parents=True)
    (sysroot / "share" / "muslforge" / "syscalls.json").write_text("{}\n")
    tarball = package.pack_sysroot(wasm32(), sysroot, "1.2.6", tmp_path, EPOCH, abi_doc=doc)
    names = {m.name.split("/", 1)[-1] for m in package.tarball_members(tarball)}
    assert {"share/muslforge/syscalls.json", "share/doc/muslforge/wasm32-abi.md", "share/doc/muslforge",
            "wasm32-unknown-unknown.cfg"} <= names


def test_source_date_epoch_comes_from_the_environment_or_the_default(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    assert package.source_date_epoch(EPOCH) == EPOCH
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "1700000000")
    assert package.source_date_epoch(EPOCH) == 1700000000
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "yesterday")
    with pytest.raises(MuslforgeError, match="SOURCE_DATE_EPOCH is 'yesterday'; it must be a non-negative"):
        package.source_date_epoch(EPOCH)


# ---------------------------------------------------------------------------------------- clang config

def test_clang_config_for_x86_64(tmp_path):
    text = package.clang_config(x86_64(tmp_path), fake_sysroot(tmp_path / "s"))
    options = [line for line in text.splitlines() if not line.startswith("#")]
    assert options == [
        "--target=x86_64-linux-musl", "--sysroot=<CFGDIR>", "-nostdlibinc", "-isystem <CFGDIR>/include",
        "-static", "-nostdlib", "-fuse-ld=lld", "-L<CFGDIR>/lib",
        "$<CFGDIR>/lib/crt1.o", "$<CFGDIR>/lib/crti.o", "$<CFGDIR>/lib/libc.a",
        "$<CFGDIR>/lib/libclang_rt.builtins.a", "$<CFGDIR>/lib/crtn.o"]
    assert text.endswith("\n")


def test_clang_config_for_wasm32_uses_the_arch_flags_and_only_existing_crt(tmp_path):
    text = package.clang_config(wasm32(), fake_sysroot(tmp_path / "s", crt=False))
    options = [line for line in text.splitlines() if not line.startswith("#")]
    assert options[:4] == ["--target=wasm32-unknown-unknown", "--sysroot=<CFGDIR>", "-nostdlibinc",
                           "-isystem <CFGDIR>/include"]
    assert options[4:6] == ["-mllvm", "-wasm-enable-sjlj"]
    assert "-Wl,--export=__heap_base" in options and "-Wl,-z,stack-size=1048576" in options
    assert options[-2:] == ["$<CFGDIR>/lib/libc.a", "$<CFGDIR>/lib/libclang_rt.builtins.a"]
    assert not any("crt" in o for o in options)


def test_clang_19_gets_link_inputs_without_the_tail_marker(tmp_path):
    assert package.supports_tail_options("clang-22") and package.supports_tail_options("clang")
    assert not package.supports_tail_options("clang-19")
    text = package.clang_config(x86_64(tmp_path), fake_sysroot(tmp_path / "s"), tail=False)
    assert "<CFGDIR>/lib/crt1.o\n" in text and "$" not in text


def test_config_arguments_with_spaces_are_quoted(tmp_path):
    arch = Arch(name="x", triple="x-linux-musl", musl_target="x", run=RunMode.NATIVE,
                cflags=('-DGREETING="hi there"', "-O2"))
    text = package.clang_config(arch, fake_sysroot(tmp_path / "s"))
    assert '"-DGREETING=\\"hi there\\""\n-O2\n' in text


def test_write_clang_config_puts_it_in_the_sysroot(tmp_path):
    sysroot = fake_sysroot(tmp_path / "s")
    written = package.write_clang_config(x86_64(tmp_path), sysroot)
    assert written == sysroot / "x86_64-linux-musl.cfg"
    tarball = package.pack_sysroot(x86_64(tmp_path), sysroot, "1.2.5", tmp_path, EPOCH)
    cfgs = [m.name for m in package.tarball_members(tarball) if m.name.endswith(".cfg")]
    assert cfgs == ["muslforge-musl-1.2.5-x86_64/x86_64-linux-musl.cfg"]  # once, not twice


# ---------------------------------------------------------------------------------------- manifests

def release_inputs(tmp_path: Path) -> dict:
    patches = tmp_path / "patches"
    patches.mkdir(exist_ok=True)
    (patches / "0002-b.patch").write_text("b\n")
    (patches / "0001-a.patch").write_text("a\n")
    (patches / "series").write_text("0002-b.patch\n0001-a.patch\n")
    series = Series(version="1.2.5", series_files=(patches / "series",),
                    patches=(patches / "0002-b.patch", patches / "0001-a.patch"))
    release = MuslRelease(version="1.2.5", file="musl-1.2.5.tar.gz", sha256="a" * 64, signature=None,
                          mirrors=(), release_date=datetime.date(2024, 2, 29))
    toolchain = Toolchain(name="llvm-22", cc="clang-22", ar="llvm-ar-22", ranlib="llvm-ranlib-22",
                          nm="llvm-nm-22", strip="llvm-strip-22", cxx="clang++-22",
                          compiler_rt=CompilerRtSource(package="llvm-toolchain-22", version="1:22.1.8-1", suite="trixie",
                                                      orig="llvm-toolchain-22_22.1.8.orig.tar.xz", sha256="b" * 64),
                          image=ImagePins(suite="bookworm", packages=("make=4.3-4.1", "clang-22=1:22"),
                                          source_date_epoch=1767225600))
    return manifest.release_inputs(release, series, toolchain, release.source_date_epoch)


def test_release_inputs_record_musl_patches_in_series_order_and_the_epoch(tmp_path):
    inputs = release_inputs(tmp_path)
    assert inputs["musl"] == {"version": "1.2.5", "file": "musl-1.2.5.tar.gz", "sha256": "a" * 64}
    assert [(p["order"], p["name"]) for p in inputs["patches"]["applied"]] == [
        (1, "patches/0002-b.patch"), (2, "patches/0001-a.patch")]
    assert inputs["patches"]["applied"][0]["sha256"] == hashlib.sha256(b"b\n").hexdigest()
    assert inputs["source_date_epoch"] == EPOCH
    assert inputs["toolchain"]["packages"] == ["clang-22=1:22", "make=4.3-4.1"]
    assert set(inputs["toolchain"]) >= {"name", "image", "rootfs_sha256", "packages"}


def test_json_is_sorted_indented_and_ends_with_a_newline():
    assert manifest.dumps({"b": 1, "a": {"d": 2, "c": 3}}) == (
        '{\n  "a": {\n    "c": 3,\n    "d": 2\n  },\n  "b": 1\n}\n')


def test_sha256sums_format_is_sorted_and_sha256sum_compatible():
    text = manifest.sha256sums({"z.tar.xz": "1" * 64, "manifest.json": "2" * 64})
    assert text == f"{'2' * 64}  manifest.json\n{'1' * 64}  z.tar.xz\n"
    assert manifest.parse_sha256sums(text, Path("SUMS")) == {"z.tar.xz": "1" * 64, "manifest.json": "2" * 64}


PINNED = {"backend": "docker", "image": "muslforge/llvm-22:0123456789abcdef", "pinned": True,
          "compiler": {"cc": "clang-22", "version": "Debian clang version 22.1.8 (1~deb12u1)"},
          "packages": {"clang-22": "1:22.1.8-1~deb12u1"}}
UNPINNED = {**PINNED, "backend": "host", "image": None, "pinned": False,
            "compiler": {"cc": "clang-22", "version": "Debian clang version 22.1.9 (1~deb12u1)"},
            "packages": {"clang-22": "1:22.1.9-1~deb12u1"}}


def pack_parts(tmp_path: Path, inputs: dict, names: list[str], out: Path, pinned: bool = True) -> None:
    for name in names:
        arch = Arch(name=name, triple=f"{name}-linux-musl", musl_target=name, run=RunMode.NATIVE,
                    path=x86_64(tmp_path).path)
        sysroot = tmp_path / "sysroots" / name
        if not sysroot.exists():
            fake_sysroot(sysroot)
            (sysroot / "lib" / "libc.a").write_text(f"libc for {name}\n")
        tarball = package.pack_sysroot(arch, sysroot, "1.2.5", out, EPOCH)
        manifest.write_part(inputs, arch, tarball, built_with=PINNED if pinned else UNPINNED)


def test_assembling_per_arch_parts_equals_one_release_of_both(tmp_path):
    inputs = release_inputs(tmp_path)
    pack_parts(tmp_path, inputs, ["x86_64", "aarch64"], tmp_path / "together")
    one = manifest.assemble([tmp_path / "together"], tmp_path / "dist-one")
    pack_parts(tmp_path, inputs, ["aarch64"], tmp_path / "machine-a")   # as if built on two machines
    pack_parts(tmp_path, inputs, ["x86_64"], tmp_path / "machine-b")
    two = manifest.assemble([tmp_path / "machine-b", tmp_path / "machine-a"], tmp_path / "dist-two")
    assert one.name == two.name == "1.2.5"
    assert sorted(p.name for p in one.iterdir()) == ["SHA256SUMS", "manifest.json",
                                                     "muslforge-musl-1.2.5-aarch64.tar.xz",
                                                     "muslforge-musl-1.2.5-x86_64.tar.xz"]
    for name in ("SHA256SUMS", "manifest.json"):
        assert (one / name).read_bytes() == (two / name).read_bytes()
    assert verify_release.compare_dirs(one, two) == []
    data = manifest.check_dist(one)
    assert sorted(data["arches"]) == ["aarch64", "x86_64"]
    assert data["outputs"]["muslforge-musl-1.2.5-x86_64.tar.xz"]["size"] == (
        one / "muslforge-musl-1.2.5-x86_64.tar.xz").stat().st_size
    assert (one / "manifest.json").read_text().endswith("}\n")


def test_each_arch_records_what_built_it_and_the_manifest_says_pinned(tmp_path):
    pack_parts(tmp_path, release_inputs(tmp_path), ["x86_64"], tmp_path / "a")
    data = json.loads((manifest.assemble([tmp_path / "a"], tmp_path / "dist") / "manifest.json").read_text())
    assert data["pinned"] is True
    assert data["arches"]["x86_64"]["built_with"] == PINNED


def test_a_sysroot_built_with_other_versions_is_refused_unless_unpinned_is_asked_for(tmp_path):
    pack_parts(tmp_path, release_inputs(tmp_path), ["x86_64"], tmp_path / "a", pinned=False)
    with pytest.raises(MuslforgeError, match="^x86_64: not built with the toolchain's pinned compiler packages"):
        manifest.assemble([tmp_path / "a"], tmp_path / "dist")
    assert not (tmp_path / "dist").exists()
    folder = manifest.assemble([tmp_path / "a"], tmp_path / "dist", allow_unpinned=True)
    data = json.loads((folder / "manifest.json").read_text())
    assert data["pinned"] is False
    assert data["arches"]["x86_64"]["built_with"]["packages"] == {"clang-22": "1:22.1.9-1~deb12u1"}


def test_parts_from_different_inputs_are_not_assembled(tmp_path):
    inputs = release_inputs(tmp_path)
    pack_parts(tmp_path, inputs, ["x86_64"], tmp_path / "a")
    pack_parts(tmp_path, {**inputs, "source_date_epoch": EPOCH + 1}, ["aarch64"], tmp_path / "b")
    with pytest.raises(MuslforgeError, match="disagree on 'source_date_epoch'"):
        manifest.assemble([tmp_path / "a", tmp_path / "b"], tmp_path / "dist")
    assert not (tmp_path / "dist" / "1.2.5").exists()


def test_a_missing_rootfs_digest_is_filled_from_another_part(tmp_path):
    inputs = release_inputs(tmp_path)
    known = {**inputs, "toolchain": {**inputs["toolchain"], "rootfs_sha256": "f" * 64}}
    unknown = {**inputs, "toolchain": {**inputs["toolchain"], "rootfs_sha256": None}}
    pack_parts(tmp_path, unknown, ["x86_64"], tmp_path / "a")
    pack_parts(tmp_path, known, ["aarch64"], tmp_path / "b")
    folder = manifest.assemble([tmp_path / "a", tmp_path / "b"], tmp_path / "dist")
    assert manifest.check_dist(folder)["toolchain"]["rootfs_sha256"] == "f" * 64


def test_a_tarball_changed_after_packing_is_refused(tmp_path):
    pack_parts(tmp_path, release_inputs(tmp_path), ["x86_64"], tmp_path / "a")
    tarball = tmp_path / "a" / "muslforge-musl-1.2.5-x86_64.tar.xz"
    tarball.write_bytes(tarball.read_bytes() + b"\0")
    expected = "changed after it was packed. Pack it again: doit package:x86_64"
    with pytest.raises(MuslforgeError, match=expected):
        manifest.assemble([tmp_path / "a"], tmp_path / "dist")


def test_a_new_release_replaces_the_old_folder_whole(tmp_path):
    inputs = release_inputs(tmp_path)
    pack_parts(tmp_path, inputs, ["x86_64", "aarch64"], tmp_path / "both")
    manifest.assemble([tmp_path / "both"], tmp_path / "dist")
    pack_parts(tmp_path, inputs, ["x86_64"], tmp_path / "one")
    folder = manifest.assemble([tmp_path / "one"], tmp_path / "dist")
    assert sorted(p.name for p in folder.iterdir()) == ["SHA256SUMS", "manifest.json",
                                                        "muslforge-musl-1.2.5-x86_64.tar.xz"]
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == ["1.2.5"]  # no staging leftovers


def test_check_dist_catches_a_corrupt_file(tmp_path):
    pack_parts(tmp_path, release_inputs(tmp_path), ["x86_64"], tmp_path / "a")
    folder = manifest.assemble([tmp_path / "a"], tmp_path / "dist")
    (folder / "manifest.json").write_text("{}\n")
    with pytest.raises(MuslforgeError, match="manifest.json: sha256 differs"):
        manifest.check_dist(folder)


# ---------------------------------------------------------------------------------------- verification

def test_first_member_difference_names_the_member(tmp_path):
    arch, sysroot = x86_64(tmp_path), fake_sysroot(tmp_path / "s")
    a = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "a", EPOCH)
    (sysroot / "include" / "stdio.h").write_text("/* other */\n")
    b = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "b", EPOCH)
    assert verify_release.first_member_difference(a, b) == (
        "member muslforge-musl-1.2.5-x86_64/include/stdio.h: contents differ (same size 12)")
    c = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "c", EPOCH + 1)
    assert "mtime 1709164800 vs 1709164801" in verify_release.first_member_difference(a, c)
    (sysroot / "include" / "new.h").write_text("\n")
    d = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "d", EPOCH)
    assert "member lists differ" in verify_release.first_member_difference(b, d)


def test_compare_dirs_reports_each_differing_file(tmp_path):
    for side, sums, last in (("a", "1\n2\n", 2), ("b", "1\n3\n", 3)):
        doc = {"t": {"x": 1, "y": [1, last]}}
        (tmp_path / side).mkdir()
        (tmp_path / side / "SHA256SUMS").write_text(sums)
        (tmp_path / side / "manifest.json").write_text(manifest.dumps(doc))
    (tmp_path / "a" / "extra").write_text("")
    problems = verify_release.compare_dirs(tmp_path / "a", tmp_path / "b")
    assert problems == ["SHA256SUMS: line 2 differs: '2' vs '3'", f"extra: only in {tmp_path / 'a'}",
                        "manifest.json: t.y[1]: 2 vs 3"]


# ---------------------------------------------------------------------------------------- nightly

def steps(**results: str) -> list[dict]:
    return [{"name": n.replace("_", ":", 1), "result": r, "seconds": 1.0, "detail": ""}
            for n, r in results.items()]


def test_regressions_compare_with_the_previous_summary():
    before = {"steps": steps(build_x86_64="pass", build_wasm32="fail"), "sizes": {"t.tar.xz": 1000}}
    now = {"steps": steps(build_x86_64="fail", build_wasm32="fail", build_riscv64="fail"),
           "sizes": {"t.tar.xz": 1200}}
    assert nightly.regressions(before, now) == [
        "build:x86_64 passed before and now fails", "build:riscv64 is new and fails",
        "t.tar.xz grew from 1000 B to 1.2 KiB"]
    assert nightly.regressions(None, now)[0] == "build:x86_64 fails (no earlier summary)"


def test_summary_table_shows_steps_sizes_and_verdict():
    report = {"musl": "1.2.6", "toolchain": "llvm-22", "seconds": 12.0, "steps": steps(fetch="pass"),
              "sizes": {"muslforge-musl-1.2.6-x86_64.tar.xz": 600000}, "regressions": [], "passed": True}
    table = nightly.format_table(report, {"steps": steps(fetch="pass"),
                                                 "sizes": {"muslforge-musl-1.2.6-x86_64.tar.xz": 500000}})
    lines = table.splitlines()
    assert lines[0] == "NIGHTLY  musl-1.2.6 llvm-22 (12 s)"
    assert lines[2].split() == ["fetch", "pass", "1.0", "s", "pass"]
    assert lines[3].endswith("585.9 KiB (+20.0%)")
    assert lines[-1] == "PASSED: no regressions"


def test_part_files_are_valid_json_with_the_output(tmp_path):
    pack_parts(tmp_path, release_inputs(tmp_path), ["x86_64"], tmp_path / "a")
    part = json.loads((tmp_path / "a" / "muslforge-musl-1.2.5-x86_64.part.json").read_text())
    assert part["output"]["file"] == "muslforge-musl-1.2.5-x86_64.tar.xz"
    assert part["arch"]["name"] == "x86_64" and part["arch"]["triple"] == "x86_64-linux-musl"
    with tarfile.open(tmp_path / "a" / part["output"]["file"]) as tar:
        assert tar.getnames()[0] == "muslforge-musl-1.2.5-x86_64"


def run_reporter(tmp_path, results: dict[str, str]):
    """Feed doit's reporter hooks as a `doit nightly` run would: each task's result, then the end."""
    import io

    from doit.exceptions import TaskFailed, UnmetDependency
    from doit.task import Task

    from muslforge.tasks import report

    tasks = {name: Task(name, None, subtask_of=name.split(":")[0] if ":" in name else None)
             for name in [*results, "nightly"]}
    reporter = report.Reporter(io.StringIO(), {"verbosity": 0, "failure_verbosity": 0})
    reporter.initialize(tasks, ["nightly"])
    for name, result in results.items():
        reporter.execute_task(tasks[name])
        if result == "pass":
            reporter.add_success(tasks[name])
        elif result == "fail":
            reporter.add_failure(tasks[name], TaskFailed(f"{name} broke\nmore"))
        else:
            reporter.add_failure(tasks[name], UnmetDependency(result))
    reporter.complete_run()
    return json.loads((tmp_path / "build" / "nightly" / "summary.json").read_text())


def test_nightly_summary_comes_from_doits_own_results(task_ctx, tmp_path, capsys):
    first = run_reporter(tmp_path, {"fetch": "pass", "build:x86_64": "pass", "build:wasm32": "fail",
                                    "smoke:wasm32": "build:wasm32"})
    assert [(s["name"], s["result"], s["detail"]) for s in first["steps"]] == [
        ("fetch", "pass", ""), ("build:x86_64", "pass", ""), ("build:wasm32", "fail", "build:wasm32 broke"),
        ("smoke:wasm32", "skip", "build:wasm32 did not pass")]
    assert first["passed"] is False and first["regressions"] == ["build:wasm32 fails (no earlier summary)"]
    second = run_reporter(tmp_path, {"fetch": "pass", "build:x86_64": "fail", "build:wasm32": "pass"})
    assert second["regressions"] == ["build:x86_64 passed before and now fails"]
    folder = tmp_path / "build" / "nightly"
    assert json.loads((folder / "summary.previous.json").read_text())["steps"][1]["result"] == "pass"
    assert (folder / "summary.txt").read_text().splitlines()[-1].startswith("FAILED: build:x86_64 passed")


def test_nightly_is_doit_tasks_not_doit_in_doit(task_ctx):
    from muslforge.tasks import report
    task = release.nightly_task(task_ctx, [a for a in task_ctx.arches if a.name in ("x86_64", "wasm32")],
                                "/x/dodo.py")
    assert task["actions"][0][2] == {"version": "1.2.6", "dodo": "/x/dodo.py"}   # verify, after release
    assert task["task_dep"] == ["fetch", "build:wasm32", "smoke:wasm32", "package:wasm32", "build:x86_64",
                                "smoke:x86_64", "package:x86_64", "release"]
    assert report.wants_continue(["doit", "nightly"]) and not report.wants_continue(["doit", "build"])


def test_an_interrupted_release_keeps_the_previous_one(tmp_path, monkeypatch):
    inputs = release_inputs(tmp_path)
    pack_parts(tmp_path, inputs, ["x86_64"], tmp_path / "a")
    folder = manifest.assemble([tmp_path / "a"], tmp_path / "dist")
    before = {p.name: p.read_bytes() for p in folder.iterdir()}
    pack_parts(tmp_path, inputs, ["aarch64"], tmp_path / "a")

    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(manifest, "sha256sums", interrupted)  # after the tarballs and manifest.json
    with pytest.raises(KeyboardInterrupt):
        manifest.assemble([tmp_path / "a"], tmp_path / "dist")
    assert {p.name: p.read_bytes() for p in folder.iterdir()} == before
    assert sorted(p.name for p in (tmp_path / "dist").iterdir()) == ["1.2.5"]


def test_long_member_names_survive_and_stay_deterministic(tmp_path):
    arch, sysroot = x86_64(tmp_path), fake_sysroot(tmp_path / "s")
    deep = sysroot / "include" / ("d" * 60) / ("f" * 80 + ".h")
    deep.parent.mkdir()
    deep.write_text("/* long */\n")
    a = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "a", EPOCH)
    touch_everything(sysroot, time.time() - 7200)
    b = package.pack_sysroot(arch, sysroot, "1.2.5", tmp_path / "b", EPOCH)
    assert a.read_bytes() == b.read_bytes()
    names = [m.name for m in package.tarball_members(a)]
    assert f"muslforge-musl-1.2.5-x86_64/include/{'d' * 60}/{'f' * 80}.h" in names


def test_verify_exports_source_date_epoch_only_when_the_release_used_another(monkeypatch):
    monkeypatch.delenv("SOURCE_DATE_EPOCH", raising=False)
    default = {"musl": {"version": "1.2.5"}, "source_date_epoch": EPOCH}  # 1.2.5 was released 2024-02-29
    assert verify_release._epoch_env(default) == {}
    assert verify_release._epoch_env({**default, "source_date_epoch": 5}) == {"SOURCE_DATE_EPOCH": "5"}
    monkeypatch.setenv("SOURCE_DATE_EPOCH", "7")
    assert verify_release._epoch_env(default) == {"SOURCE_DATE_EPOCH": str(EPOCH)}


# ---------------------------------------------------------------------------------------- task dicts

@pytest.fixture
def task_ctx(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSLFORGE_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("MUSLFORGE_DIST_DIR", str(tmp_path / "dist"))
    monkeypatch.delenv("MUSLFORGE_ARCHES", raising=False)
    doit_cmd.reset_vars()
    yield load_context("1.2.6", "llvm-22")
    doit_cmd._CMDLINE_VARS = None
    settings.install(None)


def choose_arches(text: str) -> None:
    """As `doit release arches=<text>` would: a command-line variable resolved into the run's settings."""
    settings.install(settings.resolve(os.environ, {"arches": text}))


def test_package_tasks_pack_after_build_and_smoke(task_ctx, tmp_path):
    tasks = {t["name"]: t for t in release.package_tasks(task_ctx)}
    task = tasks["x86_64"]
    assert task["file_dep"][0] == str(paths.sysroot_dir("x86_64") / "lib" / "libc.a")
    assert task["task_dep"] == ["smoke:x86_64"]
    assert task["targets"] == [str(tmp_path / "build/release/1.2.6/muslforge-musl-1.2.6-x86_64.tar.xz"),
                               str(tmp_path / "build/release/1.2.6/muslforge-musl-1.2.6-x86_64.part.json")]
    assert any(dep.endswith("docs/wasm32-abi.md") for dep in tasks["wasm32"]["file_dep"])


def test_release_task_takes_the_chosen_arches(task_ctx, tmp_path):
    choose_arches("x86_64,wasm32")
    arches = release.chosen_arches(task_ctx)
    assert [a.name for a in arches] == ["wasm32", "x86_64"]
    task = release.release_task(task_ctx, arches)
    dist = tmp_path / "dist" / "1.2.6"
    assert task["targets"] == [str(dist / "manifest.json"), str(dist / "SHA256SUMS"),  # every file published
                               str(dist / "muslforge-musl-1.2.6-wasm32.tar.xz"),
                               str(dist / "muslforge-musl-1.2.6-x86_64.tar.xz")]
    assert sorted(dep.rsplit("/", 1)[1] for dep in task["file_dep"]) == [
        "muslforge-musl-1.2.6-wasm32.part.json", "muslforge-musl-1.2.6-wasm32.tar.xz",
        "muslforge-musl-1.2.6-x86_64.part.json", "muslforge-musl-1.2.6-x86_64.tar.xz"]


def test_all_arches_by_default_and_unknown_ones_refused(task_ctx, capsys):
    assert [a.name for a in release.chosen_arches(task_ctx)] == [a.name for a in task_ctx.arches]
    choose_arches("x86_64,sparc")
    expected = "arches=x86_64,sparc: unknown arch\\(es\\) sparc; known: aarch64"
    with pytest.raises(InvalidDodoFile, match=expected):
        release.chosen_arches(task_ctx)


def test_verify_and_nightly_always_run_with_the_given_dodo_file(task_ctx):
    verify = release.verify_task(task_ctx, "/x/dodo.py")
    nightly = release.nightly_task(task_ctx, list(task_ctx.arches)[:1], "/x/dodo.py")
    assert verify["uptodate"] == [False] and nightly["uptodate"] == [False]
    assert verify["actions"][0][2] == {"version": "1.2.6", "dodo": "/x/dodo.py"}
