"""`muslforge run`: no doit or YAML on the way to the program, shell-like exit statuses."""

import os
import subprocess
import sys
from pathlib import Path

import pytest

from muslforge.config.arch_index import RunSpec, load_arch_fast
from muslforge.config.runmode import RunMode
from tests.conftest import CHECKOUT

ARCH_YAML = """name: demo
triple: x86_64-linux-musl
musl_target: x86_64
run: native
host_machine: x86_64
"""


def muslforge_run(*args, **kw):
    return subprocess.run([sys.executable, "-m", "muslforge.cli", "run", *args], cwd=CHECKOUT,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)}, capture_output=True, text=True,
                          **kw)


@pytest.mark.parametrize("script, status", [("exit 7", 7), ("kill -PIPE $$", 141), ("kill -ABRT $$", 134),
                                            ("kill -TERM $$", 143)])
def test_native_program_status_is_the_shells(script, status):
    assert muslforge_run("--arch", "x86_64", "/bin/sh", "-c", script).returncode == status


@pytest.mark.parametrize("arch", ["x86_64", "wasm32"])
def test_run_imports_neither_doit_nor_yaml(arch, tmp_path):
    from muslforge.wasm.wat import syscall_module

    program = "/bin/true"
    if arch == "wasm32":
        program = str(tmp_path / "exit0.wasm")
        Path(program).write_bytes(syscall_module({"exit_group": 1}, "(drop (call $exit_group (i32.const 0)))"))
    probe = (f"import sys; sys.argv = ['muslforge', 'run', '--arch', '{arch}', '{program}']\n"
             "from muslforge import cli\n"
             "status = cli.main()\n"
             "heavy = ('doit', 'yaml', 'docker', 'dataclasses', 'inspect', 'muslforge.tasks')\n"
             "print(status, sorted(m for m in sys.modules if m.startswith(heavy)))")
    muslforge_run("--arch", arch, program)                   # writes the arch's JSON copy
    done = subprocess.run([sys.executable, "-c", probe], cwd=CHECKOUT, capture_output=True, text=True,
                          env={**os.environ, "PYTHONPATH": str(CHECKOUT)})
    assert done.stdout == "0 []\n", done.stderr


def test_arch_copy_is_used_until_the_yaml_changes(tmp_path):
    arches, index = tmp_path / "arches", tmp_path / "index"
    arches.mkdir()
    (arches / "demo.yaml").write_text(ARCH_YAML)
    first = load_arch_fast(arches, "demo", index)
    assert first.run is RunMode.NATIVE and not isinstance(first, RunSpec)       # read from YAML
    again = load_arch_fast(arches, "demo", index)
    assert isinstance(again, RunSpec) and again.run is RunMode.NATIVE and again.host_machine == "x86_64"
    (arches / "demo.yaml").write_text(ARCH_YAML.replace("run: native", "run: qemu\nqemu: qemu-x86_64"))
    changed = load_arch_fast(arches, "demo", index)
    assert changed.run is RunMode.QEMU and changed.qemu == "qemu-x86_64"
