"""Release tarballs for real: a packed x86_64 sysroot links and runs hello through its clang config file
alone (static, and dynamic with a shared library), and a release made with doit, libc.so included,
rebuilds from clean to the same bytes (`doit verify`).

The sysroot comes from MUSLFORGE_TEST_SYSROOT (a built build/sysroots/x86_64) when set, else it is built
with the session's `host_doit`.
"""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from muslforge.release import manifest, package
from muslforge.config.arch import load_arch
from muslforge.paths import ARCHES_DIR

pytestmark = pytest.mark.slow

CLANG = "clang-22"
HELLO = ('#include <stdio.h>\n#include <math.h>\n'
         'int main(void) { printf("hello %.3f\\n", sqrt(2.0)); return 0; }\n')
EPOCH = 1709164800


@pytest.fixture(scope="session")
def x86_64_sysroot(request) -> Path:
    given = os.environ.get("MUSLFORGE_TEST_SYSROOT")
    if given:
        return Path(given)
    host_doit = request.getfixturevalue("host_doit")
    host_doit("build:x86_64")
    return host_doit.build / "sysroots" / "x86_64"


@pytest.fixture(scope="session")
def unpacked(x86_64_sysroot, tmp_path_factory) -> Path:
    """The packed sysroot, unpacked somewhere else, with the original out of the way."""
    work = tmp_path_factory.mktemp("release")
    arch = load_arch(ARCHES_DIR, "x86_64")
    tarball = package.pack_sysroot(arch, x86_64_sysroot, "test", work / "out", EPOCH)
    with tarfile.open(tarball) as tar:
        tar.extractall(work / "unpacked", filter="data")
    return work / "unpacked" / "muslforge-musl-test-x86_64"


def run(*argv, cwd: Path) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, capture_output=True, text=True,
                          check=False)
    assert done.returncode == 0, f"{argv} exited {done.returncode}:\n{done.stdout}\n{done.stderr}"
    return done


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the x86_64 program natively")
def test_hello_links_and_runs_with_only_the_config_file(unpacked, tmp_path):
    (tmp_path / "hello.c").write_text(HELLO)
    config = unpacked / "x86_64-linux-musl.cfg"
    run(CLANG, f"--config={config}", "-O2", "hello.c", "-o", "hello", "-lm", cwd=tmp_path)
    assert run(tmp_path / "hello", cwd=tmp_path).stdout == "hello 1.414\n"
    assert b"/lib/ld-" not in (tmp_path / "hello").read_bytes()  # static: no program interpreter


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the x86_64 program natively")
def test_compile_then_link_separately_and_no_link_on_dash_c(unpacked, tmp_path):
    (tmp_path / "hello.c").write_text(HELLO)
    config = f"--config={unpacked / 'x86_64-linux-musl.cfg'}"
    compiled = run(CLANG, config, "-Wall", "-c", "hello.c", "-o", "hello.o", cwd=tmp_path)
    assert compiled.stderr == ""  # no 'linker input unused' warnings
    run(CLANG, config, "hello.o", "-o", "hello", cwd=tmp_path)
    assert run(tmp_path / "hello", cwd=tmp_path).stdout == "hello 1.414\n"
    headers = run(CLANG, config, "-E", "-H", "hello.c", "-o", "/dev/null", cwd=tmp_path).stderr
    assert str(unpacked / "include" / "stdio.h") in headers  # musl's headers, not the host's


@pytest.mark.skipif(platform.machine() != "x86_64", reason="runs the x86_64 program natively")
def test_dynamic_and_shared_config_files_link_what_the_sysroot_loader_runs(unpacked, tmp_path):
    """<triple>-shared.cfg makes a library, <triple>-dynamic.cfg a program that names musl's loader; the
    tarball's own loader (a relative link to its libc.so) runs it, with the library found via $ORIGIN."""
    (tmp_path / "hello.c").write_text(HELLO.replace("sqrt(2.0)", "root(2.0)").replace(
        "int main", "double root(double);\nint main"))
    (tmp_path / "root.c").write_text("#include <math.h>\ndouble root(double x) { return sqrt(x); }\n")
    run(CLANG, f"--config={unpacked / 'x86_64-linux-musl-shared.cfg'}", "-O2", "root.c", "-o", "libroot.so",
        cwd=tmp_path)
    run(CLANG, f"--config={unpacked / 'x86_64-linux-musl-dynamic.cfg'}", "-O2", "hello.c", "-L.", "-lroot",
        "-Wl,-rpath,$ORIGIN", "-o", "hello", cwd=tmp_path)
    assert b"/lib/ld-musl-x86_64.so.1" in (tmp_path / "hello").read_bytes()
    loader = unpacked / "lib" / "ld-musl-x86_64.so.1"
    assert loader.is_symlink() and os.readlink(loader) == "libc.so"
    assert run(loader, tmp_path / "hello", cwd=tmp_path).stdout == "hello 1.414\n"


def test_real_sysroot_packs_identically_twice(x86_64_sysroot, tmp_path):
    arch = load_arch(ARCHES_DIR, "x86_64")
    a = package.pack_sysroot(arch, x86_64_sysroot, "test", tmp_path / "a", EPOCH)
    b = package.pack_sysroot(arch, x86_64_sysroot, "test", tmp_path / "b", EPOCH)
    assert a.read_bytes() == b.read_bytes()


def test_release_through_doit_verifies_and_matches_assemble(host_doit, tmp_path):
    """doit release, then doit verify (a clean rebuild elsewhere gives the same bytes), then the same
    dist assembled from the per-arch parts alone."""
    dist = tmp_path / "dist"
    host_doit("release", "arches=x86_64", MUSLFORGE_DIST_DIR=str(dist))
    version = next(dist.iterdir()).name
    data = manifest.check_dist(dist / version)
    assert list(data["arches"]) == ["x86_64"]
    with tarfile.open(dist / version / package.tarball_name(version, "x86_64")) as tar:
        names = {m.name.split("/", 1)[-1]: m for m in tar.getmembers()}
    assert names["lib/libc.so"].isfile() and names["lib/ld-musl-x86_64.so.1"].linkname == "libc.so"
    shared = data["arches"]["x86_64"]["shared"]
    assert shared["loader"] == "/lib/ld-musl-x86_64.so.1" and len(shared["libc.so"]) == 64
    done = host_doit("verify", MUSLFORGE_DIST_DIR=str(dist))
    assert "identical after a clean rebuild" in done.stdout
    parts = host_doit.build / "release" / version
    again = manifest.assemble([parts], tmp_path / "assembled")
    for name in ("SHA256SUMS", "manifest.json", package.tarball_name(version, "x86_64")):
        assert (again / name).read_bytes() == (dist / version / name).read_bytes()
    assert json.loads((dist / version / "manifest.json").read_text())["source_date_epoch"] > 0


def test_wasm32_tarball_compiles_and_runs_hello_in_the_embedder(host_doit, tmp_path):
    """The wasm32 tarball's config file carries the arch's flags (sjlj, exports, stack) on its own."""
    host_doit("build:wasm32")
    sysroot = host_doit.build / "sysroots" / "wasm32"
    assert (sysroot / package.SYSCALLS_MEMBER).is_file(), (
        f"build:wasm32 wrote no {package.SYSCALLS_MEMBER}; the release must carry the syscall manifest")
    tarball = package.pack_sysroot(load_arch(ARCHES_DIR, "wasm32"), sysroot, "test", tmp_path / "out", EPOCH)
    with tarfile.open(tarball) as tar:
        tar.extractall(tmp_path / "unpacked", filter="data")
    top = tmp_path / "unpacked" / "muslforge-musl-test-wasm32"
    assert (top / package.ABI_DOC_MEMBER).read_bytes() == package.ABI_DOC.read_bytes()
    (tmp_path / "jump.c").write_text(
        '#include <setjmp.h>\n#include <stdio.h>\nstatic jmp_buf env;\nint main(void) {\n'
        '  if (!setjmp(env)) { puts("before"); longjmp(env, 1); }\n  puts("after");\n  return 3;\n}\n')
    config = f"--config={top / 'wasm32-unknown-unknown.cfg'}"
    run(CLANG, config, "-O2", "jump.c", "-o", "jump.wasm", cwd=tmp_path)
    done = subprocess.run([sys.executable, "-m", "muslforge.wasm", str(tmp_path / "jump.wasm")],
                          cwd=tmp_path, capture_output=True, text=True, check=False)
    assert (done.returncode, done.stdout) == (3, "before\nafter\n"), done.stderr
