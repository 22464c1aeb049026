"""muslforge.toolchain.builtins without network, Docker or compiler: the pins, the private deb-src entry,
the safe partial unpack, the CMake command, the cache key and its sidecar. The real builds are in
tests/integration/test_builtins_build.py."""

from __future__ import annotations

import dataclasses
import hashlib
import io
import json
import tarfile
from pathlib import Path

import pytest

from muslforge.config.arch import load_arch
from muslforge.config.toolchain import Toolchain, load_toolchain
from muslforge.errors import ConfigError
from muslforge.paths import ARCHES_DIR, TOOLCHAINS_DIR
from muslforge.toolchain import builtins, image
from muslforge.toolchain.builtins import BuiltinsError

LLVM22 = load_toolchain(TOOLCHAINS_DIR, "llvm-22")
PIN = LLVM22.compiler_rt


# ------------------------------------------------------------------------------------------- config

@pytest.mark.parametrize("name", ["llvm-22", "llvm-19"])
def test_shipped_toolchains_pin_one_compiler_rt_source(name):
    toolchain = load_toolchain(TOOLCHAINS_DIR, name)
    version = name.split("-")[1]
    assert toolchain.compiler_rt.package == f"llvm-toolchain-{version}"
    assert toolchain.compiler_rt.orig.startswith(f"llvm-toolchain-{version}_{version}.")
    assert toolchain.cxx == f"clang++-{version}"
    packages = {p.split("=")[0] for p in toolchain.image.packages}
    assert {"cmake", "ninja-build"} <= packages
    assert not any(p.startswith("libclang-rt") for p in packages)  # the builtins are built, not installed


def write_toolchain(tmp_path: Path, edit) -> Path:
    text = (TOOLCHAINS_DIR / "llvm-22.yaml").read_text(encoding="utf-8")
    path = tmp_path / "llvm-22.yaml"
    path.write_text(edit(text), encoding="utf-8")
    return path


def config_error(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        Toolchain.from_yaml(path)
    return str(caught.value)


def test_a_bad_sha256_pin_is_named(tmp_path):
    path = write_toolchain(tmp_path, lambda t: t.replace(PIN.sha256, "ABC"))
    assert config_error(path) == (f"{path}: compiler_rt: sha256 must be 64 lowercase hex digits (sha256sum of "
                                  f"llvm-toolchain-22_22.1.8.orig.tar.xz); it is 'ABC'.")


def test_compiler_rt_keys_are_checked(tmp_path):
    path = write_toolchain(tmp_path, lambda t: t.replace("  suite: trixie\n", "  suit: trixie\n"))
    assert config_error(path) == f"{path}: compiler_rt: unknown key 'suit'; did you mean 'suite'?"


def test_the_old_builtins_keys_are_refused(tmp_path):
    path = write_toolchain(tmp_path, lambda t: t + "builtins_dirs: [/usr/lib]\n")
    assert config_error(path).startswith(f"{path}: unknown key 'builtins_dirs'")


@pytest.mark.parametrize("field", ["package", "version", "orig", "sha256"])
def test_the_fingerprint_covers_the_compiler_rt_pin(field):
    changed = dataclasses.replace(PIN, **{field: "f" * 64})
    assert dataclasses.replace(LLVM22, compiler_rt=changed).fingerprint() != LLVM22.fingerprint()


def test_the_fingerprint_covers_the_cxx_compiler():
    assert dataclasses.replace(LLVM22, cxx="clang++-21").fingerprint() != LLVM22.fingerprint()


# ---------------------------------------------------------------------------------- deb-src and apt

SOURCES = """\
Types: deb
# a comment
URIs: http://mirror.invalid/debian
Suites: bookworm bookworm-updates
Components: main
Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg

Types: deb
URIs: http://mirror.invalid/debian-security
Suites: bookworm-security
Components: main
"""


def test_deb_src_entry_takes_the_main_archive_for_the_pinned_suite():
    deb822, one_line = binary_sources_of(SOURCES)
    assert builtins.deb_src_entry(deb822, one_line, "trixie", "x.sources") == (
        "Types: deb-src\nURIs: http://mirror.invalid/debian\nSuites: trixie\nComponents: main\n"
        "Signed-By: /usr/share/keyrings/debian-archive-keyring.gpg\n")


def test_deb_src_entry_from_a_one_line_list():
    one_line = "deb [arch=amd64 signed-by=/k.gpg] http://mirror.invalid/debian bookworm main\n"
    assert builtins.deb_src_entry("", one_line, "trixie", "sources.list") == (
        "Types: deb-src\nURIs: http://mirror.invalid/debian\nSuites: trixie\nComponents: main\n"
        "Signed-By: /k.gpg\n")


def test_deb_src_entry_needs_a_binary_entry():
    deb822, one_line = binary_sources_of("Types: deb-src\nURIs: http://x\nSuites: bookworm\n")
    with pytest.raises(BuiltinsError) as caught:
        builtins.deb_src_entry(deb822, one_line, "trixie", "/etc/apt/x.sources")
    assert str(caught.value) == (
        "the apt sources (/etc/apt/x.sources) have no binary `deb` entry with a URI to derive the deb-src "
        "entry for the compiler-rt source from; configure apt, or name sources files with "
        "MUSLFORGE_APT_SOURCES.")


def binary_sources_of(text: str) -> tuple[str, str]:
    """image.binary_sources of one deb822 file holding text: the entries the deb-src entry is made from."""
    import tempfile
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "x.sources"
        path.write_text(text, encoding="utf-8")
        return image.binary_sources([path])


def print_uris(sha: str) -> str:
    return (f"Need to get 197 MB of source archives.\n"
            f"'http://mirror.invalid/debian/pool/main/l/x/x.dsc' x.dsc 15051 SHA256:{'1' * 64}\n"
            f"'http://mirror.invalid/debian/pool/main/l/x/{PIN.orig}' {PIN.orig} 196630560 SHA256:{sha}\n")


def test_the_orig_tarball_url_comes_from_apts_listing():
    url, sha = builtins._orig_uri(print_uris(PIN.sha256), PIN)
    assert url == f"http://mirror.invalid/debian/pool/main/l/x/{PIN.orig}" and sha == PIN.sha256


def test_a_listing_without_the_orig_tarball_says_what_to_update():
    with pytest.raises(BuiltinsError) as caught:
        builtins._orig_uri("nothing\n", PIN)
    assert str(caught.value) == (
        "apt-get source llvm-toolchain-22=1:22.1.8-1~deb13u5 (suite trixie) lists no "
        "llvm-toolchain-22_22.1.8.orig.tar.xz. Update compiler_rt: in the toolchain file to a version the "
        "suite carries (apt-cache showsrc llvm-toolchain-22).")


def test_an_index_that_disagrees_with_the_pin_stops_before_downloading(tmp_path, monkeypatch):
    sources = tmp_path / "debian.sources"
    sources.write_text(SOURCES, encoding="utf-8")
    monkeypatch.setenv("MUSLFORGE_APT_SOURCES", str(sources))  # the machine's apt sources, as the image reads them
    ran: list[list[str]] = []
    with pytest.raises(BuiltinsError) as caught:
        builtins._download(tmp_path / "orig", PIN, lambda argv, **kw: ran.append(argv),
                           lambda argv, **kw: print_uris("0" * 64))
    assert "lists llvm-toolchain-22_22.1.8.orig.tar.xz with sha256 " + "0" * 64 in str(caught.value)
    assert [argv[-1] for argv in ran] == ["update"]  # apt-helper never ran
    written = (tmp_path / "apt" / "sources.list.d" / "deb-src.sources").read_text(encoding="utf-8")
    assert "Suites: trixie" in written


# ------------------------------------------------------------------------------------------- unpack

def make_orig(path: Path, extra: dict[str, bytes] | None = None, symlink: bool = False) -> str:
    files = {"compiler-rt/lib/builtins/CMakeLists.txt": b"project(x)\n",
             "compiler-rt/lib/builtins/absvdi2.c": b"int x;\n", "compiler-rt/cmake/a.cmake": b"#\n",
             "compiler-rt/test/big.c": b"not needed\n", "cmake/Modules/b.cmake": b"#\n",
             "llvm/cmake/modules/AddLLVM.cmake": b"#\n", "llvm/lib/IR/x.cpp": b"not needed\n",
             "third-party/siphash/include/siphash/SipHash.h": b"#\n", "clang/x.c": b"not needed\n",
             **(extra or {})}
    with tarfile.open(path, "w:xz") as tar:
        for name, data in files.items():
            info = tarfile.TarInfo(f"llvm-toolchain-22_22.1.8/{name}")
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
        if symlink:
            info = tarfile.TarInfo("llvm-toolchain-22_22.1.8/compiler-rt/lib/builtins/passwd")
            info.type, info.linkname = tarfile.SYMTYPE, "/etc/passwd"
            tar.addfile(info)
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_unpack_keeps_only_what_the_builtins_build_reads(tmp_path):
    orig = tmp_path / PIN.orig
    pin = dataclasses.replace(PIN, sha256=make_orig(orig, {"compiler-rt/lib/builtins/../../../../evil": b"x"},
                                                    symlink=True))
    target = builtins.source_dir(tmp_path / "cache", pin)
    target.parent.mkdir(parents=True)
    builtins._unpack(orig, target, pin)
    kept = sorted(str(p.relative_to(target)) for p in target.rglob("*") if p.is_file())
    assert kept == [builtins.DONE, "cmake/Modules/b.cmake", "compiler-rt/cmake/a.cmake",
                    "compiler-rt/lib/builtins/CMakeLists.txt", "compiler-rt/lib/builtins/absvdi2.c",
                    "llvm/cmake/modules/AddLLVM.cmake", "third-party/siphash/include/siphash/SipHash.h"]
    assert not (tmp_path / "evil").exists()
    assert json.loads((target / builtins.DONE).read_text())["orig_sha256"] == pin.sha256
    assert builtins.source_verified(target, pin)
    assert [p.name for p in target.parent.iterdir()] == [target.name]  # no temporary folder left


def test_an_unpacked_source_edited_later_is_not_trusted(tmp_path):
    orig = tmp_path / PIN.orig
    pin = dataclasses.replace(PIN, sha256=make_orig(orig))
    target = builtins.source_dir(tmp_path, pin)
    builtins._unpack(orig, target, pin)
    (target / "compiler-rt/lib/builtins/absvdi2.c").write_text("int y;\n")
    assert not builtins.source_verified(target, pin)
    assert not builtins.source_verified(target, dataclasses.replace(pin, sha256="0" * 64))


def test_a_verified_source_is_used_without_running_anything(tmp_path):
    orig = tmp_path / PIN.orig
    pin = dataclasses.replace(PIN, sha256=make_orig(orig))
    builtins._unpack(orig, builtins.source_dir(tmp_path, pin), pin)

    def refuse(*args, **kwargs):
        raise AssertionError("nothing may run")
    assert builtins.obtain_source(tmp_path, pin, run=refuse, output=refuse) == builtins.source_dir(tmp_path, pin)


def test_a_tarball_with_the_wrong_sha256_is_refused(tmp_path):
    orig = tmp_path / PIN.orig
    make_orig(orig)
    with pytest.raises(BuiltinsError) as caught:
        builtins._unpack(orig, tmp_path / "target", PIN)
    assert str(caught.value) == f"{orig} does not have the pinned sha256 {PIN.sha256}; it was removed, run again."


def test_a_tarball_without_compiler_rt_is_named(tmp_path):
    orig = tmp_path / PIN.orig
    with tarfile.open(orig, "w:xz") as tar:
        tar.addfile(tarfile.TarInfo("top/README"), io.BytesIO(b""))
    pin = dataclasses.replace(PIN, sha256=hashlib.sha256(orig.read_bytes()).hexdigest())
    with pytest.raises(BuiltinsError) as caught:
        builtins._unpack(orig, tmp_path / "target", pin)
    assert str(caught.value) == ("llvm-toolchain-22_22.1.8.orig.tar.xz has no compiler-rt/lib/builtins/"
                                 "CMakeLists.txt; is it an llvm-toolchain orig tarball? Fix compiler_rt: in the "
                                 "toolchain file.")
    assert not (tmp_path / "target").exists()


def test_a_truncated_tarball_is_named(tmp_path):
    orig = tmp_path / PIN.orig
    make_orig(orig)
    orig.write_bytes(orig.read_bytes()[:200])
    pin = dataclasses.replace(PIN, sha256=hashlib.sha256(orig.read_bytes()).hexdigest())
    with pytest.raises(BuiltinsError) as caught:
        builtins._unpack(orig, tmp_path / "target", pin)
    assert str(caught.value).startswith(f"{orig} (llvm-toolchain-22_22.1.8.orig.tar.xz) could not be unpacked: ")


# -------------------------------------------------------------------------------------- CMake, cache

PROGRAMS = {"llvm-ar-22": "/usr/bin/llvm-ar-22", "llvm-ranlib-22": "/usr/bin/llvm-ranlib-22",
            "llvm-nm-22": "/usr/bin/llvm-nm-22"}


def defines(argv: list[str]) -> dict[str, str]:
    return dict(a[2:].split("=", 1) for a in argv if a.startswith("-D"))


def test_cmake_builds_compiler_rts_builtins_for_one_linux_arch():
    arch = load_arch(ARCHES_DIR, "aarch64")
    argv = builtins.cmake_argv(arch, LLVM22, Path("/src"), Path("/b"), Path("/inc"), PROGRAMS)
    assert argv[:7] == ["cmake", "-G", "Ninja", "-S", "/src/compiler-rt/lib/builtins", "-B", "/b"]
    found = defines(argv)
    assert found["CMAKE_C_COMPILER_TARGET"] == found["CMAKE_ASM_COMPILER_TARGET"] == "aarch64-linux-musl"
    assert found["CMAKE_CXX_COMPILER"] == "clang++-22" and found["CMAKE_AR"] == "/usr/bin/llvm-ar-22"
    assert found["COMPILER_RT_BAREMETAL_BUILD"] == "OFF" and found["COMPILER_RT_BUILTINS_ENABLE_PIC"] == "ON"
    assert found["COMPILER_RT_DEFAULT_TARGET_ONLY"] == "ON" and found["COMPILER_RT_INCLUDE_TESTS"] == "OFF"
    assert found["CMAKE_C_FLAGS"] == ("-nostdlibinc -isystem /inc -isystem /b/kernel-headers "
                                      "-ffile-prefix-map=/src=/usr/src/compiler-rt "
                                      "-ffile-prefix-map=/b=/usr/src/compiler-rt-build")


def test_wasm32_builtins_are_bare_metal_static_and_use_the_arch_flags():
    arch = load_arch(ARCHES_DIR, "wasm32-threads")
    found = defines(builtins.cmake_argv(arch, LLVM22, Path("/src"), Path("/b"), Path("/inc"), PROGRAMS))
    assert found["COMPILER_RT_BAREMETAL_BUILD"] == "ON" and found["COMPILER_RT_BUILTINS_ENABLE_PIC"] == "OFF"
    assert "-matomics -mbulk-memory" in found["CMAKE_C_FLAGS"]  # shared memory needs them in every object


def test_musl_headers_are_installed_without_configure():
    arch = load_arch(ARCHES_DIR, "riscv64")
    assert builtins.headers_argv(arch, Path("/t"), Path("/d")) == [
        "make", "-f", "/t/Makefile", "srcdir=/t", "ARCH=riscv64", "prefix=/", "includedir=/include",
        "DESTDIR=/d", "install-headers"]


def test_the_cache_key_covers_arch_toolchain_backend_and_headers():
    x86, arm = load_arch(ARCHES_DIR, "x86_64"), load_arch(ARCHES_DIR, "aarch64")
    base = builtins.cache_key(x86, LLVM22, "docker", "h")
    assert len({base, builtins.cache_key(arm, LLVM22, "docker", "h"),
                builtins.cache_key(x86, load_toolchain(TOOLCHAINS_DIR, "llvm-19"), "docker", "h"),
                builtins.cache_key(x86, LLVM22, "host", "h"), builtins.cache_key(x86, LLVM22, "docker", "g")}) == 5


def test_a_cached_archive_is_used_only_while_its_sidecar_matches(tmp_path):
    archive = tmp_path / "x86_64-0123.a"
    assert not builtins.cache_hit(archive)
    archive.write_bytes(b"!<arch>\n")
    assert not builtins.cache_hit(archive)  # no sidecar: an interrupted store
    builtins.sidecar(archive).write_text(hashlib.sha256(b"!<arch>\n").hexdigest() + "\n")
    assert builtins.cache_hit(archive)
    archive.write_bytes(b"!<arch>\nchanged")
    assert not builtins.cache_hit(archive)


def test_provenance_names_the_source_and_where_it_was_built():
    text = builtins.provenance(LLVM22, {"backend": "docker", "image": "muslforge/llvm-22:0123"})
    assert text == (f"compiler-rt 22.1.8 (llvm-toolchain-22=1:22.1.8-1~deb13u5, "
                    f"llvm-toolchain-22_22.1.8.orig.tar.xz sha256 {PIN.sha256}) built with its CMake in "
                    f"muslforge/llvm-22:0123")
    assert builtins.provenance(LLVM22, {"backend": "host", "image": None}).endswith("built with its CMake on the host")
