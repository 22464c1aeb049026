"""arches/<name>.yaml: every shipped file loads, and every bad file fails with its exact message."""

from __future__ import annotations

from pathlib import Path

import pytest

from muslforge.config.arch import Arch, RunMode, arch_names, load_arch, load_arches
from muslforge.errors import ConfigError
from muslforge.paths import ARCHES_DIR

GOOD = """\
name: demo
triple: aarch64-linux-musl
musl_target: aarch64
run: qemu
qemu: qemu-aarch64-static
"""


def write(folder: Path, text: str, name: str = "demo") -> Path:
    path = folder / f"{name}.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def error_of(path: Path) -> str:
    with pytest.raises(ConfigError) as caught:
        Arch.from_yaml(path)
    return str(caught.value)


# ------------------------------------------------------------------------------- shipped arch files

SHIPPED = arch_names(ARCHES_DIR)


def test_the_expected_arches_ship():
    linux = {"x86_64", "i386", "aarch64", "armv7", "riscv64", "ppc64le", "s390x", "loongarch64",
             "mips64el", "powerpc", "x32", "riscv32"}
    assert linux <= set(SHIPPED)


@pytest.mark.parametrize("name", SHIPPED)
def test_shipped_arch_loads(name):
    arch = load_arch(ARCHES_DIR, name)
    assert arch.name == name
    if arch.run is RunMode.QEMU:
        assert arch.qemu and arch.qemu.startswith("qemu-") and arch.qemu.endswith("-static")
    if arch.run is not RunMode.EMBEDDER:
        assert arch.host_machine


def test_load_arches_returns_all_sorted():
    assert [a.name for a in load_arches(ARCHES_DIR)] == SHIPPED


@pytest.mark.parametrize("name,triple,musl_target", [
    ("i386", "i386-linux-musl", "i386"),
    ("armv7", "armv7-linux-musleabihf", "arm"),
    ("ppc64le", "powerpc64le-linux-musl", "powerpc64"),
    ("mips64el", "mips64el-linux-musl", "mips64"),
    ("x32", "x86_64-linux-muslx32", "x32"),
])
def test_triple_and_musl_target_differ_where_they_must(name, triple, musl_target):
    arch = load_arch(ARCHES_DIR, name)
    assert (arch.triple, arch.musl_target) == (triple, musl_target)


def test_fingerprint_ignores_notes_and_run_but_not_cflags(tmp_path):
    base = Arch.from_yaml(write(tmp_path, GOOD))
    with_notes = Arch.from_yaml(write(tmp_path, GOOD + "notes: anything\nhost_machine: aarch64\n"))
    with_flags = Arch.from_yaml(write(tmp_path, GOOD + "cflags: [-O3]\n"))
    assert base.fingerprint() == with_notes.fingerprint()
    assert base.fingerprint() != with_flags.fingerprint()


def test_good_file_values(tmp_path):
    arch = Arch.from_yaml(write(tmp_path, GOOD + "cflags: [-mabi=64]\nnotes: '  n64  '\n"))
    assert arch.run is RunMode.QEMU
    assert arch.cflags == ("-mabi=64",)
    assert arch.ldflags == ()
    assert arch.notes == "n64"


# ------------------------------------------------------------------------------------- bad files

def test_unknown_key_suggests_the_close_one(tmp_path):
    path = write(tmp_path, GOOD.replace("triple:", "tripple:"))
    assert error_of(path) == f"{path}: unknown key 'tripple'; did you mean 'triple'?"


def test_unknown_key_without_a_close_match_lists_known_keys(tmp_path):
    path = write(tmp_path, GOOD + "colour: blue\n")
    assert error_of(path) == (
        f"{path}: unknown key 'colour'; known keys: name, triple, musl_target, run, cflags, "
        f"ldflags, qemu, host_machine, host_triple, shared, notes.")


def test_shared_defaults_to_true_and_must_be_a_boolean(tmp_path):
    assert Arch.from_yaml(write(tmp_path, GOOD)).shared is True
    assert Arch.from_yaml(write(tmp_path, GOOD + "shared: false\n")).shared is False
    path = write(tmp_path, GOOD + "shared: maybe\n")
    assert error_of(path) == f"{path}: field 'shared' must be true or false, not 'maybe'."


def test_every_linux_arch_builds_shared_and_wasm32_does_not():
    for arch in load_arches(ARCHES_DIR):
        assert arch.shared is (arch.run is not RunMode.EMBEDDER), arch.name


def test_missing_fields_are_all_listed(tmp_path):
    text = "".join(line + "\n" for line in GOOD.splitlines()
                   if not line.startswith(("musl_target:", "run:")))
    path = write(tmp_path, text.replace("qemu: qemu-aarch64-static\n", ""))
    assert error_of(path) == f"{path}: missing required key(s): musl_target, run."


def test_bad_run_value(tmp_path):
    path = write(tmp_path, GOOD.replace("run: qemu", "run: emulate"))
    assert error_of(path) == f"{path}: field 'run' is 'emulate'; it must be one of native, qemu, embedder, link-only."


def test_name_must_match_file_name(tmp_path):
    path = write(tmp_path, GOOD.replace("name: demo", "name: other"))
    assert error_of(path) == (f"{path}: field 'name' is 'other' but the file is named 'demo.yaml'; "
                              f"they must match (rename the file or set name: demo).")


def test_qemu_required_when_run_is_qemu(tmp_path):
    path = write(tmp_path, GOOD.replace("qemu: qemu-aarch64-static\n", ""))
    assert error_of(path) == (f"{path}: field 'qemu' is required when run is 'qemu' "
                              f"(the qemu-user program, e.g. qemu-demo-static).")


def test_qemu_optional_when_native(tmp_path):
    arch = Arch.from_yaml(write(tmp_path, GOOD.replace("run: qemu", "run: native")
                                .replace("qemu: qemu-aarch64-static\n", "")))
    assert arch.run is RunMode.NATIVE and arch.qemu is None


def test_empty_triple(tmp_path):
    path = write(tmp_path, GOOD.replace("triple: aarch64-linux-musl", "triple: ''"))
    assert error_of(path) == f"{path}: field 'triple' must be a non-empty string, got ''."


def test_cflags_must_be_a_list_of_strings(tmp_path):
    path = write(tmp_path, GOOD + "cflags: -O2\n")
    assert error_of(path) == f"{path}: field 'cflags' must be a list of strings, got '-O2'."


def test_top_level_must_be_a_mapping(tmp_path):
    path = write(tmp_path, "- name: demo\n")
    assert error_of(path) == f"{path}: expected a mapping of fields at the top level, found list."


def test_invalid_yaml(tmp_path):
    path = write(tmp_path, "name: [demo\n")
    message = error_of(path)
    assert message.startswith(f"{path}: not valid YAML: ")
    assert "\n" not in message


def test_unknown_arch_lists_known_ones(tmp_path):
    write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as caught:
        load_arch(tmp_path, "sparc")
    assert str(caught.value) == f"{tmp_path / 'sparc.yaml'}: no such arch file; known arches: demo."


def test_nightly_workflow_takes_its_arches_from_the_arch_files():
    """Adding an arch is a new file only: the CI matrix is listed from arches/, not written out."""
    import yaml

    workflow = yaml.safe_load((ARCHES_DIR.parent / ".github/workflows/nightly.yml").read_text())
    matrix = workflow["jobs"]["arch"]["strategy"]["matrix"]["arch"]
    assert matrix == "${{ fromJSON(needs.arches.outputs.names) }}"
    script = workflow["jobs"]["arches"]["steps"][1]["run"]
    assert 'pathlib.Path("arches").glob("*.yaml")' in script
    assert not any(name in str(workflow) for name in ("loongarch64", "mips64el", "riscv32"))
