"""What really built a sysroot: asked of the backend that built it (here the host's real clang and dpkg),
compared with the toolchain's pins, and refused when it is not them."""

from __future__ import annotations

import pytest

from muslforge.sysroot import provenance
from muslforge.backend import HostBackend
from muslforge.config.toolchain import load_toolchain
from muslforge.errors import MuslforgeError
from muslforge.paths import TOOLCHAINS_DIR

LLVM22 = load_toolchain(TOOLCHAINS_DIR, "llvm-22")


def test_the_pins_checked_are_the_compiler_packages():
    assert provenance.pinned_packages(LLVM22) == {
        "clang-22": "1:22.1.8-1~deb12u1", "lld-22": "1:22.1.8-1~deb12u1", "llvm-22": "1:22.1.8-1~deb12u1"}


def test_the_host_backend_records_this_machines_compiler_and_packages(tmp_path):
    data = provenance.record(HostBackend(LLVM22), cwd=tmp_path)
    assert data["backend"] == "host" and data["image"] is None
    assert "clang version 22." in data["compiler"]["version"]
    assert set(data["packages"]) == set(provenance.pinned_packages(LLVM22))
    assert data["pinned"] == (data["packages"] == provenance.pinned_packages(LLVM22))


def test_a_record_with_other_versions_is_refused_naming_each_package():
    record = {"backend": "host", "pinned": False, "compiler": {"version": "clang version 22.1.9"},
              "packages": {**provenance.pinned_packages(LLVM22), "clang-22": "1:22.1.9-1"}}
    with pytest.raises(MuslforgeError) as refused:
        provenance.check_pinned("x86_64", record, LLVM22, allow_unpinned=False)
    assert str(refused.value).startswith("The x86_64 sysroot was not built with the pinned llvm-22 toolchain: "
                                         "clang-22 1:22.1.9-1 (pinned 1:22.1.8-1~deb12u1) (host backend")
    assert "MUSLFORGE_UNPINNED=1" in str(refused.value)
    provenance.check_pinned("x86_64", record, LLVM22, allow_unpinned=True)


@pytest.mark.parametrize(("flag", "env", "allowed"), [("1", "", True), (None, "1", True), (None, "", False),
                                                      ("0", "1", False)])
def test_unpinned_is_asked_for_by_variable_or_environment(monkeypatch, flag, env, allowed):
    monkeypatch.setenv("MUSLFORGE_UNPINNED", env)
    assert provenance.unpinned_allowed(flag) is allowed
