"""Dynamic linking without a build: link modes and their command lines, the loader a program names
(PT_INTERP, read from ELF32/ELF64 of both byte orders), how a dynamic program is run, the clang config
files for dynamic programs and shared libraries, and the errors for static-only sysroots."""

from __future__ import annotations

import os
import struct
import subprocess
from pathlib import Path

import pytest

from muslforge.release import package
from muslforge.sysroot import dynamic
from muslforge.sysroot import libc_abi as abi
from muslforge.sysroot.cc import cc_argv
from muslforge.sysroot.flags import Linkage
from muslforge.config.arch import Arch, RunMode
from muslforge.config.toolchain import CompilerRtSource, ImagePins, Toolchain
from muslforge.errors import MuslforgeError
from muslforge.sysroot.runner import run_argv

LOADER = "ld-musl-aarch64.so.1"


def arch(name: str = "aarch64", run: RunMode = RunMode.QEMU, shared: bool = True) -> Arch:
    return Arch(name=name, triple=f"{name}-linux-musl", musl_target=name, run=run,
                qemu=f"qemu-{name}-static", host_machine="not-this-host", shared=shared,
                path=Path(f"arches/{name}.yaml"))


def toolchain() -> Toolchain:
    return Toolchain(name="t", cc="clang-22", ar="llvm-ar-22", ranlib="llvm-ranlib-22", nm="llvm-nm-22",
                     strip="llvm-strip-22", cxx="clang++-22",
                          compiler_rt=CompilerRtSource(package="llvm-toolchain-22", version="1:22.1.8-1", suite="trixie",
                                                      orig="llvm-toolchain-22_22.1.8.orig.tar.xz", sha256="b" * 64),
                     image=ImagePins(suite="bookworm", packages=(), source_date_epoch=0))


def sysroot(root: Path, *, shared: bool = True) -> Path:
    lib = root / "lib"
    lib.mkdir(parents=True)
    for name in ("libc.a", "crt1.o", "rcrt1.o", "Scrt1.o", "crti.o", "crtn.o", "libclang_rt.builtins.a"):
        (lib / name).write_bytes(b"x")
    if shared:
        (lib / "libc.so").write_bytes(b"x")
        (lib / LOADER).symlink_to("/lib/libc.so")  # as musl's make install leaves it
        dynamic.relink_loader(lib)
    return root


def elf(bits: int, endian: str, interp: str | None) -> bytes:
    """A minimal ELF file: a PT_LOAD header, and a PT_INTERP one when interp is given."""
    ident = b"\x7fELF" + bytes([1 if bits == 32 else 2, 1 if endian == "<" else 2, 1]) + bytes(9)
    ehsize, phentsize = (52, 32) if bits == 32 else (64, 56)
    headers = [(1, 0, 0)] + ([(dynamic.PT_INTERP, 0, len(interp) + 1)] if interp else [])
    data_offset = ehsize + phentsize * len(headers)
    if bits == 32:
        header = ident + struct.pack(endian + "HHIIIIIHHHHHH", 3, 183, 1, 0, ehsize, 0, 0, ehsize, phentsize,
                                     len(headers), 0, 0, 0)
        pack = lambda t, size: struct.pack(endian + "IIIIIIII", t, data_offset, 0, 0, size, size, 4, 1)  # noqa: E731
    else:
        header = ident + struct.pack(endian + "HHIQQQIHHHHHH", 3, 183, 1, 0, ehsize, 0, 0, ehsize, phentsize,
                                     len(headers), 0, 0, 0)
        pack = lambda t, size: struct.pack(endian + "IIQQQQQQ", t, 4, data_offset, 0, 0, size, size, 1)  # noqa: E731
    return header + b"".join(pack(t, size) for t, _, size in headers) + (interp.encode() + b"\0" if interp else b"")


@pytest.mark.parametrize("bits", [32, 64])
@pytest.mark.parametrize("endian", ["<", ">"])
def test_interpreter_is_read_from_every_elf_kind(tmp_path, bits, endian):
    program = tmp_path / "prog"
    program.write_bytes(elf(bits, endian, f"/lib/{LOADER}"))
    assert dynamic.interpreter(program) == f"/lib/{LOADER}"
    program.write_bytes(elf(bits, endian, None))
    assert dynamic.interpreter(program) is None


def test_not_elf_has_no_interpreter(tmp_path):
    (tmp_path / "script").write_text("#!/bin/sh\necho hi\n" * 10)
    assert dynamic.interpreter(tmp_path / "script") is None


def test_loader_link_is_made_relative_and_named(tmp_path):
    root = sysroot(tmp_path / "s")
    link = root / "lib" / LOADER
    assert link.is_symlink() and link.readlink() == Path("libc.so")
    assert dynamic.loader_name(root) == LOADER
    assert dynamic.loader_path(root) == f"/lib/{LOADER}"
    assert dynamic.loader_name(sysroot(tmp_path / "static", shared=False)) is None


def test_each_linkage_links_its_own_start_file_and_libc(tmp_path):
    root = sysroot(tmp_path / "s")

    def options(linkage):
        text = package.clang_config(arch(), root, linkage=linkage)
        return [line for line in text.splitlines() if not line.startswith("#")]
    static = options(Linkage.STATIC)
    assert "-static" in static and "$<CFGDIR>/lib/crt1.o" in static and "$<CFGDIR>/lib/libc.a" in static
    pie = options(Linkage.STATIC_PIE)
    assert "-static-pie" in pie and "$<CFGDIR>/lib/rcrt1.o" in pie and "$<CFGDIR>/lib/libc.a" in pie
    dyn = options(Linkage.DYNAMIC)
    assert f"-Wl,--dynamic-linker=/lib/{LOADER}" in dyn and "-static" not in dyn
    assert [o for o in dyn if o.startswith("$")] == ["$<CFGDIR>/lib/Scrt1.o", "$<CFGDIR>/lib/crti.o", "$-lc",
                                                     "$<CFGDIR>/lib/libclang_rt.builtins.a",
                                                     "$<CFGDIR>/lib/crtn.o"]
    shared = options(Linkage.SHARED)
    assert "-fPIC" in shared and "-shared" in shared and "$-lc" in shared
    assert not any("crt1" in o for o in shared) and not any("dynamic-linker" in o for o in shared)
    argv = cc_argv(toolchain(), arch(), root, ["a.c"], Linkage.DYNAMIC)
    assert argv[1].startswith("--config=") and argv[1].endswith("-dynamic.cfg") and argv[2:] == ["a.c"]


def test_dynamic_link_against_a_static_only_sysroot_says_why(tmp_path):
    root = sysroot(tmp_path / "s", shared=False)
    with pytest.raises(MuslforgeError, match=r"Cannot link dynamic for wasm32: wasm32 is static-only "
                                             r"\(shared: false in arches/wasm32.yaml\)"):
        package.clang_config(arch("wasm32", shared=False), root, linkage=Linkage.DYNAMIC)
    with pytest.raises(MuslforgeError, match=r"lacks what it needs \(libc.so, ld-musl-\*.so.1, rcrt1.o\); "
                                             r"rebuild it: doit build:aarch64"):
        package.clang_config(arch(), root, linkage=Linkage.SHARED)


def test_dynamic_program_runs_under_qemu_with_the_sysroot_as_library_root(tmp_path):
    root = sysroot(tmp_path / "s")
    program = tmp_path / "prog"
    program.write_bytes(elf(64, "<", f"/lib/{LOADER}"))
    assert run_argv(arch(), program, ["x"], sysroot=root) == ["qemu-aarch64-static", "-L", str(root),
                                                              str(program), "x"]
    program.write_bytes(elf(64, "<", None))
    assert run_argv(arch(), program, ["x"], sysroot=root) == ["qemu-aarch64-static", str(program), "x"]


def test_dynamic_program_runs_natively_through_the_sysroot_loader(tmp_path, monkeypatch):
    root = sysroot(tmp_path / "s")
    program = tmp_path / "prog"
    program.write_bytes(elf(64, "<", f"/lib/{LOADER}"))
    native = arch(run=RunMode.NATIVE)
    monkeypatch.setattr("platform.machine", lambda: "not-this-host")
    assert run_argv(native, program, ["x"], sysroot=root) == [str(root / "lib" / LOADER), str(program), "x"]


def test_program_for_another_libc_runs_as_it_is(tmp_path):
    program = tmp_path / "prog"
    program.write_bytes(elf(64, "<", "/lib64/ld-linux-x86-64.so.2"))
    assert run_argv(arch(), program, [], sysroot=sysroot(tmp_path / "s")) == ["qemu-aarch64-static", str(program)]


def test_program_for_a_loader_the_sysroot_lacks_is_a_clear_error(tmp_path):
    program = tmp_path / "prog"
    program.write_bytes(elf(32, ">", "/lib/ld-musl-powerpc.so.1"))
    with pytest.raises(MuslforgeError, match=r"needs the loader /lib/ld-musl-powerpc.so.1, which the aarch64 "
                                             r"sysroot .* does not have"):
        run_argv(arch(), program, [], sysroot=sysroot(tmp_path / "s"))


def test_shared_sysroot_packs_every_config_file_and_the_relative_loader_link(tmp_path):
    root = sysroot(tmp_path / "s")
    tarball = package.pack_sysroot(arch(), root, "1.2.6", tmp_path, 0)
    names = sorted(m.name.split("/", 1)[1] for m in package.tarball_members(tarball) if m.name.endswith(".cfg"))
    assert names == ["aarch64-linux-musl-dynamic.cfg", "aarch64-linux-musl-shared.cfg",
                     "aarch64-linux-musl-static-pie.cfg", "aarch64-linux-musl.cfg"]
    link = next(m for m in package.tarball_members(tarball) if m.name.endswith(LOADER))
    assert link.issym() and link.linkname == "libc.so"
    static_names = [m.name for m in package.tarball_members(
        package.pack_sysroot(arch(), sysroot(tmp_path / "st", shared=False), "1.2.6", tmp_path / "o", 0))]
    assert not any(n.endswith("-dynamic.cfg") for n in static_names)


def test_cc_wrapper_picks_the_config_file_for_each_link_mode(tmp_path):
    from muslforge.sysroot import buildtools
    root = sysroot(tmp_path / "s")
    buildtools.write_all(arch(), toolchain(), root)
    wrapper = root / "bin" / "aarch64-linux-musl-cc"

    def says(*args, **env):
        done = subprocess.run([str(wrapper), *args], env={**os.environ, "MUSLFORGE_CLANG": "echo", **env},
                              capture_output=True, text=True)
        return done.returncode, done.stdout.replace(str(root), "S").strip(), done.stderr.strip()
    assert says("a.c") == (0, "--config=S/aarch64-linux-musl.cfg a.c", "")
    assert says("--dynamic", "a.c", "-o", "a b") == (0, "--config=S/aarch64-linux-musl-dynamic.cfg a.c -o a b", "")
    assert says("a.c", MUSLFORGE_LINK="dynamic")[1] == "--config=S/aarch64-linux-musl-dynamic.cfg a.c"
    assert says("--dynamic", "-shared", "a.c")[1] == "--config=S/aarch64-linux-musl-shared.cfg -shared a.c"
    assert says("-static-pie", "a.c")[1] == "--config=S/aarch64-linux-musl-static-pie.cfg -static-pie a.c"
    assert says("a.c", MUSLFORGE_LINK="dynamc") == (
        2, "", "aarch64-linux-musl-cc: MUSLFORGE_LINK is 'dynamc'; it must be static or dynamic")
    static_only = sysroot(tmp_path / "w", shared=False)
    wasm = arch("wasm32", run=RunMode.EMBEDDER, shared=False)
    buildtools.write_all(wasm, toolchain(), static_only)
    done = subprocess.run([str(static_only / "bin" / "wasm32-linux-musl-cc"), "--dynamic", "a.c"],
                          env={**os.environ, "MUSLFORGE_CLANG": "echo"}, capture_output=True, text=True)
    assert done.returncode == 2 and "static-only (no libc.so): no dynamic linking" in done.stderr


def test_libc_so_symbol_list_sits_beside_the_libc_a_list():
    static = abi.list_path("riscv64", "1.2.6")
    assert abi.shared_list_path(static) == static.with_name("riscv64-musl-1.2.6.libc.so.symbols")


def test_release_part_records_the_loader_and_libc_so_digest(tmp_path):
    from muslforge.release import manifest
    root = sysroot(tmp_path / "s")
    assert manifest.shared_info(root) == {"loader": f"/lib/{LOADER}",
                                          "libc.so": manifest.sha256_file(root / "lib" / "libc.so")}
    assert manifest.shared_info(sysroot(tmp_path / "static", shared=False)) is None


def test_smoke_programs_link_three_ways_on_shared_arches_and_statically_on_wasm32():
    from muslforge.sysroot import smoke
    from muslforge.paths import SMOKE_DIR
    native = smoke.discover(SMOKE_DIR, arch())
    hello = next(p for p in native if p.name == "hello")
    assert hello.modes == (Linkage.STATIC, Linkage.STATIC_PIE, Linkage.DYNAMIC)
    assert {p.name for p in native if p.modes == (Linkage.DYNAMIC,)} == {"dlopen_tls", "shared_library"}
    assert [p.stem for p in smoke.libraries(SMOKE_DIR, arch())] == ["smokeshared", "smoketls"]
    wasm = arch("wasm32", run=RunMode.EMBEDDER, shared=False)
    assert all(p.modes == (Linkage.STATIC,) for p in smoke.discover(SMOKE_DIR, wasm))
    assert smoke.libraries(SMOKE_DIR, wasm) == []
    assert smoke.outcome_name(hello, Linkage.STATIC) == "hello"
    assert smoke.outcome_name(hello, Linkage.DYNAMIC) == "hello:dynamic"
