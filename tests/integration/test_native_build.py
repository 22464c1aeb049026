"""Real builds with the host backend: x86_64 and aarch64 sysroots from the real musl tarball, their smoke
programs run (natively and under qemu-user), and doit's bookkeeping: a no-op rebuild runs no action, an
edit to one arch file or one patch re-runs exactly what it affects."""

from __future__ import annotations

import json
import os
import shutil
import subprocess

import pytest

from tests.conftest import CHECKOUT

pytestmark = pytest.mark.slow


@pytest.fixture(scope="session")
def native_built(host_doit):
    """Both sysroots built in parallel (`doit -n 2`), then smoked."""
    host_doit("-n", "2", "build:x86_64", "build:aarch64")
    return host_doit


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_sysroot_has_headers_crt_libc_and_builtins(native_built, arch):
    lib = native_built.build / "sysroots" / arch / "lib"
    for name in ("libc.a", "crt1.o", "crti.o", "crtn.o", "rcrt1.o", "Scrt1.o", "libm.a", "libpthread.a",
                 "libclang_rt.builtins.a"):
        assert (lib / name).is_file(), name
    assert (native_built.build / "sysroots" / arch / "include" / "stdio.h").is_file()
    assert not (native_built.build / "sysroots" / f"{arch}.staging").exists()


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_sysroot_has_libc_so_and_the_loader_link_without_symbol_versions(native_built, arch):
    lib = native_built.build / "sysroots" / arch / "lib"
    loader = lib / f"ld-musl-{arch}.so.1"
    assert (lib / "libc.so").is_file() and loader.is_symlink()
    assert os.readlink(loader) == "libc.so"  # relative: the sysroot's own libc.so, for qemu -L and tarballs
    sections = subprocess.run(["llvm-readelf-22", "-S", "-d", str(lib / "libc.so")], capture_output=True,
                              text=True, check=True).stdout
    assert ".gnu.version" not in sections and "VERNEED" not in sections  # musl has no symbol versions
    assert "libgcc" not in sections  # the builtins are compiler-rt's, not the host's libgcc


def test_checkout_path_does_not_leak_into_libc(native_built):
    data = (native_built.build / "sysroots" / "x86_64" / "lib" / "libc.a").read_bytes()
    assert str(native_built.build).encode() not in data
    assert str(CHECKOUT).encode() not in data


@pytest.mark.parametrize("arch", ["x86_64", "aarch64"])
def test_smoke_programs_pass(native_built, arch):
    native_built(f"smoke:{arch}")
    report = json.loads((native_built.build / "smoke" / f"{arch}.json").read_text())
    assert report["passed"], report
    names = {p["name"] for p in report["programs"]}
    assert names >= {"hello", "printf_float", "malloc_churn", "file_io", "argv_env", "exit_status", "time"}
    assert names >= {"hello:dynamic", "hello:static-pie", "time:dynamic", "signal:static-pie",
                     "shared_library:dynamic", "dlopen_tls:dynamic"}
    assert b"/lib/ld-musl-" in (native_built.build / "smoke" / arch / "hello-dynamic").read_bytes()


def test_noop_rebuild_runs_no_action(native_built):
    done = native_built("build:x86_64", "build:aarch64")
    assert native_built.executed(done.stdout) == []
    assert "LIBC" not in done.stdout


def test_editing_one_arch_file_rebuilds_only_that_arch(native_built, tmp_path):
    arches = tmp_path / "arches"
    shutil.copytree(CHECKOUT / "arches", arches)
    edited = (arches / "aarch64.yaml").read_text().replace("cflags: []", "") + "cflags: [-O2]\n"
    (arches / "aarch64.yaml").write_text(edited)
    status = native_built("list", "--all", "--status", "build", MUSLFORGE_ARCHES_DIR=str(arches)).stdout
    assert _status_of(status, "build:aarch64") == "R"
    assert _status_of(status, "build:x86_64") == "U"


def test_editing_a_patch_reruns_patch_and_every_build(native_built, tmp_path):
    patches = tmp_path / "patches"
    shutil.copytree(CHECKOUT / "patches", patches)
    series = next(patches.glob("musl-1.2.6/series"))
    series.write_text(series.read_text() + "# an edit to the series\n")
    status = native_built("list", "--all", "--status", MUSLFORGE_PATCHES_DIR=str(patches)).stdout
    assert _status_of(status, "patch") == "R"
    assert _status_of(status, "build:x86_64") == "R"
    assert _status_of(status, "fetch") == "U"


def test_a_file_deleted_from_a_sysroot_reruns_build_smoke_and_package(native_built):
    """The sysroot is tracked by a digest of its whole tree, not by libc.a alone."""
    native_built("smoke:x86_64")
    header = native_built.build / "sysroots" / "x86_64" / "include" / "stdio.h"
    saved = header.read_bytes()
    header.unlink()
    try:
        status = native_built("list", "--all", "--status").stdout
        for task in ("build:x86_64", "smoke:x86_64", "package:x86_64"):
            assert _status_of(status, task) == "R", task
        assert _status_of(status, "build:aarch64") == "U"
    finally:
        header.write_bytes(saved)
    assert _status_of(native_built("list", "--all", "--status").stdout, "build:x86_64") == "U"


def test_cc_and_run_use_the_sysroot_and_pass_the_exit_status(native_built, tmp_path):
    source = tmp_path / "prog.c"
    source.write_text('#include <stdio.h>\nint main(int c, char **v) { printf("%s|%d\\n", v[1], c); return 42; }\n')
    env = {**native_built.env}
    for arch in ("x86_64", "aarch64"):
        subprocess.run(["muslforge", "cc", "--arch", arch, "-O2", str(source), "-o", f"prog-{arch}"],
                       cwd=tmp_path, env=env, check=True)
        done = subprocess.run(["muslforge", "run", "--arch", arch, f"./prog-{arch}", "word"], cwd=tmp_path,
                              env=env, capture_output=True, text=True)
        assert (done.returncode, done.stdout) == (42, "word|2\n")


def test_cc_dynamic_and_shared_and_run_through_the_sysroot_loader(native_built, tmp_path):
    """`muslforge cc --dynamic` links against libc.so with musl's loader path, `-shared -fPIC` makes a
    library, static-PIE works, and `muslforge run` runs them (natively via the loader, or qemu -L)."""
    (tmp_path / "lib.c").write_text('int twice(int x) { return 2 * x; }\n')
    (tmp_path / "prog.c").write_text('#include <stdio.h>\nint twice(int);\n'
                                     'int main(void) { printf("%d\\n", twice(21)); return 7; }\n')
    for arch in ("x86_64", "aarch64"):
        work = tmp_path / arch
        work.mkdir()

        def cc(*args):
            subprocess.run(["muslforge", "cc", "--arch", arch, *args], cwd=work, env=native_built.env,
                           check=True)
        cc("-O2", "-fPIC", "-shared", "../lib.c", "-o", "libtwice.so")
        cc("--dynamic", "-O2", "../prog.c", "-L.", "-ltwice", "-Wl,-rpath,$ORIGIN", "-o", "prog")
        assert f"/lib/ld-musl-{arch}.so.1".encode() in (work / "prog").read_bytes()
        cc("-O2", "-static-pie", "../prog.c", "../lib.c", "-o", "prog-pie")
        for program in ("./prog", "./prog-pie"):
            done = subprocess.run(["muslforge", "run", "--arch", arch, program], cwd=work, env=native_built.env,
                                  capture_output=True, text=True)
            assert (done.returncode, done.stdout) == (7, "42\n"), (arch, program, done.stderr)


def test_missing_sysroot_names_the_task(host_doit, tmp_path):
    env = {**host_doit.env, "MUSLFORGE_BUILD_DIR": str(tmp_path / "empty")}
    done = subprocess.run(["muslforge", "cc", "--arch", "aarch64", "x.c"], cwd=tmp_path, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 2
    assert "Build it first: doit build:aarch64" in done.stderr
    assert "Traceback" not in done.stderr


def _status_of(listing: str, task: str) -> str:
    for line in listing.splitlines():
        parts = line.split()
        if len(parts) >= 2 and parts[1] == task:
            return parts[0]
    raise AssertionError(f"{task} not in:\n{listing}")


def test_musl_1_2_5_builds_and_smokes_with_its_own_series(session_mirror, tmp_path):
    """The version is data: `musl=1.2.5` fetches (with its upstream signature) and patches 1.2.5."""
    from tests.integration.conftest import Doit
    doit = Doit(tmp_path / "build", tmp_path / "cache", session_mirror.url)
    done = doit("-n", "2", "smoke:x86_64", "smoke:wasm32", "musl=1.2.5")
    assert "signature ok" in done.stdout
    assert "SMOKE    x86_64: 32/32 passed" in done.stdout and "SMOKE    wasm32: 13/13 passed" in done.stdout
    assert (tmp_path / "build" / "sysroots" / "x86_64" / "include" / "stdio.h").is_file()
