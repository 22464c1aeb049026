"""`muslforge cc` on the Docker backend, with no compiler on the host's PATH: it runs in the session
container, sees sources, include folders, outputs and response files named by ../ and absolute paths,
reads stdin for `-`, passes the exit status and diagnostics through, and gives the host backend's bytes."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from muslforge.toolchain import session

from tests.integration.conftest import Doit
from tests.integration.test_docker_build import path_without_compilers

pytestmark = [pytest.mark.slow, pytest.mark.docker]

GREET_H = '#define GREETING "hello from %s"\n'
MAIN_C = '#include <stdio.h>\n#include "greet.h"\nconst char *where(void);\n' \
         'int main(void) { printf(GREETING "\\n", where()); return 0; }\n'
LIB_C = 'const char *where(void) { return "elsewhere"; }\n'


@pytest.fixture(scope="module")
def docker_env(session_mirror, built, tmp_path_factory):
    """The toolchain image present (built if missing), host compilers hidden; session stopped after."""
    root = tmp_path_factory.mktemp("cc-docker")
    doit = Doit(root / "build", root / "cache", session_mirror.url, backend="docker")
    doit("toolchain")
    env = {**os.environ, "MUSLFORGE_BACKEND": "docker", "MUSLFORGE_BUILD_DIR": str(built),
           "PATH": path_without_compilers(root / "bin")}
    yield env
    session.stop_all()


def cc(args: list[str], cwd: Path, env: dict[str, str], stdin: bytes | None = None) -> subprocess.CompletedProcess:
    return subprocess.run(["muslforge", "cc", "--arch", "wasm32", *args], cwd=cwd, env=env, input=stdin,
                          capture_output=True)


def build_project(top: Path, env: dict[str, str]) -> Path:
    """../src and ../include from build/, an absolute source elsewhere, outputs elsewhere, a response file."""
    for name, text in (("proj/src/main.c", MAIN_C), ("proj/include/greet.h", GREET_H),
                       ("other/lib.c", LIB_C)):
        (top / name).parent.mkdir(parents=True, exist_ok=True)
        (top / name).write_text(text)
    work, out = top / "proj" / "build", top / "out"
    work.mkdir()
    out.mkdir()
    steps = [["-O2", "-Werror", "-I../include", "-c", "../src/main.c", "-o", "main.o"],
             ["-O2", "-c", str(top / "other" / "lib.c"), "-o", str(out / "lib.o")]]
    (out / "link.rsp").write_text(f"main.o {out / 'lib.o'} -o {out / 'prog.wasm'}\n")
    steps.append(["-Werror", f"@{out / 'link.rsp'}"])
    for args in steps:
        done = cc(args, work, env)
        assert done.returncode == 0, (args, done.stderr.decode())
    return out / "prog.wasm"


def test_paths_outside_the_working_directory_and_response_files(docker_env, tmp_path):
    program = build_project(tmp_path, docker_env)
    done = subprocess.run(["muslforge", "run", "--arch", "wasm32", str(program)], cwd=tmp_path,
                          env={**docker_env, "MUSLFORGE_BACKEND": "host"}, capture_output=True, text=True)
    assert (done.returncode, done.stdout) == (0, "hello from elsewhere\n"), done.stderr
    assert session.stop_all() >= 1  # it really ran in a session container (then removed: idle sessions end)


def test_the_docker_and_host_backends_give_the_same_bytes(docker_env, tmp_path):
    in_docker = build_project(tmp_path / "docker", docker_env)
    on_host = build_project(tmp_path / "host", {**os.environ, "MUSLFORGE_BACKEND": "host",
                                                "MUSLFORGE_BUILD_DIR": docker_env["MUSLFORGE_BUILD_DIR"]})
    assert in_docker.read_bytes() == on_host.read_bytes()
    assert (tmp_path / "docker/proj/build/main.o").read_bytes() == (tmp_path / "host/proj/build/main.o").read_bytes()


def test_stdin_status_and_diagnostics_pass_through(docker_env, tmp_path):
    done = cc(["-x", "c", "-", "-o", "s.wasm"], tmp_path, docker_env, stdin=b"int main(void) { return 3; }\n")
    assert done.returncode == 0, done.stderr.decode()
    assert (tmp_path / "s.wasm").read_bytes()[:4] == b"\0asm"
    (tmp_path / "bad.c").write_text("int main(void) { return missing; }\n")
    done = cc(["-c", "bad.c"], tmp_path, docker_env)
    assert done.returncode == 1 and b"use of undeclared identifier 'missing'" in done.stderr
    done = cc(["-E", "-dM", "-x", "c", "/dev/null"], tmp_path, docker_env)
    assert b"#define __wasm32__ 1" in done.stdout


def test_a_working_directory_the_image_provides_is_refused_with_a_message(docker_env):
    done = cc(["-c", "x.c"], Path("/usr"), docker_env)
    assert done.returncode == 2
    assert b"the working directory /usr is under /usr, which the toolchain container takes from its image" \
        in done.stderr


CMAKE_LISTS = """cmake_minimum_required(VERSION 3.16)
project(greet C)
enable_testing()
include_directories(include)
add_library(where STATIC lib/where.c)
add_executable(greet src/main.c)
target_link_libraries(greet where)
add_test(NAME greet COMMAND greet)
set_tests_properties(greet PROPERTIES PASS_REGULAR_EXPRESSION "hello from elsewhere")
"""


def test_cmake_out_of_tree_build_with_no_host_compiler(docker_env, tmp_path):
    """The toolchain file's bin/<triple>-cc finds no clang on this PATH and goes through muslforge cc,
    so the whole configure, build and ctest run with the compiler in the session container."""
    src = tmp_path / "src-tree"
    for name, text in (("CMakeLists.txt", CMAKE_LISTS), ("src/main.c", MAIN_C), ("include/greet.h", GREET_H),
                       ("lib/where.c", LIB_C)):
        (src / name).parent.mkdir(parents=True, exist_ok=True)
        (src / name).write_text(text)
    toolchain = Path(docker_env["MUSLFORGE_BUILD_DIR"]) / "sysroots" / "wasm32" / "share/muslforge/toolchain.cmake"
    for argv in (["cmake", "-S", "../src-tree", "-B", ".", f"-DCMAKE_TOOLCHAIN_FILE={toolchain}"],
                 ["cmake", "--build", "."], ["ctest", "--output-on-failure"]):
        (tmp_path / "out").mkdir(exist_ok=True)
        done = subprocess.run(argv, cwd=tmp_path / "out", env=docker_env, capture_output=True, text=True)
        assert done.returncode == 0, (argv, done.stdout[-3000:], done.stderr[-3000:])
    assert "100% tests passed" in done.stdout
    assert session.stop_all() >= 1
