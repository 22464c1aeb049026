"""Real software built by its own build system against the wasm32 and aarch64 sysroots, and its own tests
run through the emulator: libyaml (CMake + ctest), libogg (autotools + make check), Lua (plain make), a small
Meson project (meson test). Sources are Debian's orig tarballs, fetched once into a cache.

Also: every route to the compiler (`muslforge cc`, bin/<triple>-cc, a release's .cfg) gives the same bytes,
and -Werror links pass.
"""

from __future__ import annotations

import os
import platform
import re
import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from muslforge.sysroot import buildtools
from muslforge.release import package
from muslforge import paths
from muslforge.config.arch import load_arch

from tests.integration.debian_source import unpack

pytestmark = pytest.mark.slow
ARCHES = ["wasm32", "aarch64"]
BUILD_TRIPLE = f"{platform.machine()}-pc-linux-gnu"  # --build: never let config.guess ask the cross CC


@pytest.fixture(scope="session")
def sysroots(built) -> dict[str, Path]:
    return {arch: built / "sysroots" / arch for arch in ARCHES}


def tools_env(sysroot: Path) -> dict[str, str]:
    """The sysroot's bin/ first on PATH (so CC=<triple>-cc works), muslforge itself next (the emulator)."""
    muslforge_bin = Path(shutil.which("muslforge") or sys.executable).parent
    path = os.pathsep.join([str(sysroot / "bin"), str(muslforge_bin), os.environ["PATH"]])
    env = {**os.environ, "PATH": path, "MUSLFORGE_BACKEND": "host"}
    for leaked in ("CC", "CFLAGS", "LDFLAGS", "CPPFLAGS", "MAKEFLAGS"):
        env.pop(leaked, None)
    return env


def run(argv: list, cwd: Path, env: dict[str, str], timeout: float = 900) -> str:
    done = subprocess.run([str(a) for a in argv], cwd=cwd, env=env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True, errors="replace", timeout=timeout)
    if done.returncode != 0:
        pytest.fail(f"{' '.join(map(str, argv))} exited {done.returncode} in {cwd}:\n{done.stdout[-5000:]}",
                    pytrace=False)
    return done.stdout


def prefix(arch: str) -> str:
    return load_arch(paths.ARCHES_DIR, arch).tool_prefix


def assert_cross_binary(path: Path, arch: str) -> None:
    head = path.read_bytes()[:20]
    if arch == "wasm32":
        assert head[:4] == b"\0asm", path
    else:
        assert head[:4] == b"\x7fELF" and int.from_bytes(head[18:20], "little") == 183, path  # EM_AARCH64


@pytest.mark.parametrize("arch", ARCHES)
def test_cmake_project_libyaml_ctest_runs_through_the_emulator(arch, sysroots, tmp_path):
    source, build = unpack("libyaml", tmp_path), tmp_path / "build"
    env = tools_env(sysroots[arch])
    toolchain = sysroots[arch] / buildtools.CMAKE_FILE
    # CMAKE_POLICY_VERSION_MINIMUM: libyaml asks for CMake 3.0, which CMake 4 no longer emulates by default.
    run(["cmake", "-S", source, "-B", build, f"-DCMAKE_TOOLCHAIN_FILE={toolchain}", "-DCMAKE_BUILD_TYPE=Release",
         "-DCMAKE_POLICY_VERSION_MINIMUM=3.5"], tmp_path, env)
    run(["cmake", "--build", build, "-j", "2"], tmp_path, env)
    out = run(["ctest", "--test-dir", build, "--output-on-failure"], tmp_path, env)
    assert "100% tests passed out of 2" in out, out
    assert_cross_binary(build / "test-reader", arch)


@pytest.mark.parametrize("arch", ARCHES)
def test_autotools_project_libogg_make_check_runs_through_the_emulator(arch, sysroots, tmp_path):
    source, build = unpack("libogg", tmp_path), tmp_path / "build"
    build.mkdir()
    env = tools_env(sysroots[arch])
    run([f"../{source.name}/configure", f"--host={prefix(arch)}", f"--build={BUILD_TRIPLE}",
         f"CC={prefix(arch)}-cc", "--disable-shared"], build, env)
    run(["make", "-j2"], build, env)
    out = run(["make", "check", f"LOG_COMPILER={prefix(arch)}-run"], build, env)
    assert "# PASS:  2" in out and "# FAIL:  0" in out, out
    assert_cross_binary(build / "src" / "test_framing", arch)


LUA_SCRIPT = r"""
local ok, err = pcall(error, "boom")
print(ok, err)
print(string.format("%.3f %d %s", math.pi, 7 // 2, tostring(2^53)))
local f = assert(io.open("t.txt", "w")); f:write("one\ntwo\n"); f:close()
local n = 0; for _ in io.lines("t.txt") do n = n + 1 end; print("lines", n)
local co = coroutine.wrap(function(a) local b = coroutine.yield(a + 1); return b * 2 end)
print(co(1), co(5), #string.rep("ab", 1000))
"""
LUA_EXPECTED = "false\tboom\n3.142 3 9.007199254741e+15\nlines\t2\n2\t10\t2000\n"


@pytest.mark.parametrize("arch", ARCHES)
def test_plain_make_project_lua(arch, sysroots, tmp_path):
    source = unpack("lua5.4", tmp_path)
    env = tools_env(sysroots[arch])
    p = prefix(arch)
    run(["make", "-j2", "posix", f"CC={p}-cc -std=gnu99", f"AR={p}-ar rcu", f"RANLIB={p}-ranlib"], source, env)
    lua = source / "src" / "lua"
    assert_cross_binary(lua, arch)
    assert run(["muslforge", "run", "--arch", arch, lua, "-e", LUA_SCRIPT], tmp_path, env) == LUA_EXPECTED


MESON_BUILD = """project('hello', 'c')
exe = executable('hello', 'hello.c')
test('hello', exe, args: ['tested'])
"""
HELLO_C = """#include <stdio.h>
#include <string.h>
#include <stdatomic.h>
int main(int argc, char **argv) { atomic_int n = 0; atomic_fetch_add(&n, 1);
  printf("hello %s\\n", argc > 1 ? argv[1] : "?"); return !(argc > 1 && !strcmp(argv[1], "tested") && n == 1); }
"""


@pytest.mark.parametrize("arch", ARCHES)
def test_meson_project_with_the_cross_file(arch, sysroots, tmp_path):
    (tmp_path / "meson.build").write_text(MESON_BUILD)
    (tmp_path / "hello.c").write_text(HELLO_C)
    env = tools_env(sysroots[arch])
    run(["meson", "setup", "build", "--cross-file", sysroots[arch] / buildtools.MESON_FILE], tmp_path, env)
    run(["meson", "compile", "-C", "build"], tmp_path, env)
    out = run(["meson", "test", "-C", "build"], tmp_path, env)
    assert re.search(r"^Ok:\s+1\s*$", out, re.M) and re.search(r"^Fail:\s+0\s*$", out, re.M), out
    assert_cross_binary(tmp_path / "build" / "hello", arch)


# ---------------------------------------------------------------------------------------- one definition

WARNED = r"""#include <stdio.h>
#include <stdatomic.h>
#include <setjmp.h>
static jmp_buf env;
int main(void) { atomic_int n = 1; if (!setjmp(env)) longjmp(env, 1); printf("n=%d\n", n); return 0; }
"""


@pytest.mark.parametrize("arch", ARCHES)
def test_every_route_gives_the_same_bytes_and_werror_links_pass(arch, sysroots, built, tmp_path):
    """muslforge cc, bin/<triple>-cc and the release tarball's .cfg: same objects, same program, no warning."""
    sysroot = sysroots[arch]
    arch_def = load_arch(paths.ARCHES_DIR, arch)
    release = package.pack_sysroot(arch_def, sysroot, "test", tmp_path / "dist", 0)
    with tarfile.open(release) as tar:
        tar.extractall(tmp_path / "unpacked", filter="tar")
    top = tmp_path / "unpacked" / package.release_name("test", arch)
    (tmp_path / "prog.c").write_text(WARNED)
    env = {**tools_env(sysroot), "MUSLFORGE_BUILD_DIR": str(built)}
    routes = {
        "muslforge cc": ["muslforge", "cc", "--arch", arch],
        "bin/cc": [sysroot / "bin" / buildtools.tool_name(arch_def, "cc")],
        "release bin/cc": [top / "bin" / buildtools.tool_name(arch_def, "cc")],
        "release .cfg": ["clang-22", f"--config={top / package.config_name(arch_def)}"],
    }
    outputs = {}
    for name, cc in routes.items():
        work = tmp_path / name.replace(" ", "-").replace("/", "-")
        work.mkdir()
        run([*cc, "-Werror", "-Wall", "-O2", "-c", "../prog.c", "-o", "prog.o"], work, env)
        run([*cc, "-Werror", "-Wall", "prog.o", "-o", "prog"], work, env)  # link only: no compile flags warn
        run([*cc, "-Werror", "-Wall", "-O2", "../prog.c", "-o", "one-step"], work, env)
        outputs[name] = [(work / f).read_bytes() for f in ("prog.o", "prog", "one-step")]
    assert all(value == outputs["muslforge cc"] for value in outputs.values()), \
        {name: [len(b) for b in value] for name, value in outputs.items()}
    out = run(["muslforge", "run", "--arch", arch, "prog"], tmp_path / "muslforge-cc", env)
    assert out == "n=1\n"
