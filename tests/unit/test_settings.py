"""The one settings object: precedence, validation, what a run prints, and a load that starts nothing."""

from __future__ import annotations

import os
import runpy
import subprocess
import sys
from pathlib import Path

import pytest

from muslforge import settings
from muslforge.errors import ConfigError
from muslforge.paths import CHECKOUT


def test_defaults_then_file_then_environment_then_command_line(tmp_path):
    file = tmp_path / "muslforge.yaml"
    file.write_text("toolchain: llvm-19\nbackend: host\nmirrors: [http://a/, http://b/]\nmusl: '1.2.5'\n")
    env = {"MUSLFORGE_SETTINGS": str(file), "MUSLFORGE_BACKEND": "docker", "MUSLFORGE_MUSL_VERSION": "1.2.6"}
    chosen = settings.resolve(env, {"musl": "1.2.5", "arches": "x86_64,wasm32"})
    assert (chosen.toolchain, chosen.backend, chosen.musl) == ("llvm-19", "docker", "1.2.5")
    assert chosen.mirrors == ("http://a/", "http://b/") and chosen.arches == ("x86_64", "wasm32")
    assert dict(chosen.origin) == {"toolchain": str(file), "backend": "MUSLFORGE_BACKEND", "mirrors": str(file),
                                   "musl": "musl= on the command line",
                                   "arches": "arches= on the command line"}
    assert settings.resolve({}).toolchain == "llvm-22"      # the default toolchain, named once


def test_bad_values_name_where_they_came_from(tmp_path):
    with pytest.raises(ConfigError, match="^MUSLFORGE_BACKEND is 'dokcer'; it must be docker, host or auto.$"):
        settings.resolve({"MUSLFORGE_BACKEND": "dokcer"})
    with pytest.raises(ConfigError, match="^backend= on the command line is 'x'; it must be docker"):
        settings.resolve({}, {"backend": "x"})
    file = tmp_path / "muslforge.yaml"
    file.write_text("tool_chain: llvm-19\n")
    with pytest.raises(ConfigError) as error:
        settings.resolve({}, settings_file=file)
    assert str(error.value) == f"{file}: unknown key 'tool_chain'; did you mean 'toolchain'?"


def test_every_line_says_where_the_value_came_from():
    lines = settings.resolve({"MUSLFORGE_BUILD_DIR": "/tmp/b"}).describe()
    assert [line.split()[0] for line in lines] == [knob.name for knob in settings.KNOBS]
    assert any(line.startswith("build_dir") and line.endswith("(MUSLFORGE_BUILD_DIR)") for line in lines)


def test_loading_dodo_and_making_every_task_starts_no_process(monkeypatch, tmp_path):
    def refuse(*args, **kwargs):
        raise AssertionError(f"a process was started at load time: {args[0]!r}")

    monkeypatch.setattr(subprocess, "Popen", refuse)
    monkeypatch.setenv("MUSLFORGE_BUILD_DIR", str(tmp_path / "build"))
    monkeypatch.setenv("MUSLFORGE_BACKEND", "docker" if os.path.exists("/var/run/docker.sock") else "host")
    from muslforge.toolchain.image import native_arch
    from muslforge.tasks import context
    native_arch.cache_clear()
    context.load.cache_clear()
    try:
        dodo = runpy.run_path(str(CHECKOUT / "dodo.py"))
        for name, make in dodo.items():
            if name.startswith("task_"):
                made = make()
                list(made) if not isinstance(made, dict) else made
    finally:
        context.load.cache_clear()
        settings.install(None)


def test_a_run_prints_the_settings_first(tmp_path):
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(tmp_path / "build"), "MUSLFORGE_BACKEND": "host"}
    done = subprocess.run([sys.executable, "-m", "doit", "settings", "toolchain=llvm-19"], cwd=CHECKOUT,
                          env=env, capture_output=True, text=True)
    assert done.returncode == 0, done.stderr
    first = done.stdout.splitlines()[0]
    assert first.startswith("SETTINGS musl 1.2.6, toolchain llvm-19, backend host (asked: host), build ")
    assert "SETTINGS toolchain          llvm-19" in done.stdout
    assert "(toolchain= on the command line)" in done.stdout
    assert Path(tmp_path / "build" / ".doit.db").exists()


def test_the_banner_shows_a_list_of_paths(tmp_path):
    """MUSLFORGE_APT_SOURCES is a tuple of paths: the banner joins them (it raised TypeError)."""
    sources = tmp_path / "a.sources"
    env = {**os.environ, "MUSLFORGE_BUILD_DIR": str(tmp_path / "build"), "MUSLFORGE_BACKEND": "host",
           "MUSLFORGE_APT_SOURCES": str(sources)}
    done = subprocess.run([sys.executable, "-m", "doit", "settings"], cwd=CHECKOUT, env=env,
                          capture_output=True, text=True)
    assert done.returncode == 0 and "Traceback" not in done.stderr, done.stderr
    assert f"apt_sources={sources}" in done.stdout.splitlines()[0]


def test_every_environment_read_is_a_setting_with_its_origin(tmp_path):
    """Lock wait, releases, nm, the cc session, the cc wrappers' variables and Docker's own: one object."""
    env = {"MUSLFORGE_LOCK_TIMEOUT": "0.5", "MUSLFORGE_UNPINNED": "yes", "NM": "llvm-nm-19",
           "MUSLFORGE_SESSION_DIR": str(tmp_path), "MUSLFORGE_SESSION_IDLE": "30",
           "MUSLFORGE_CC_SYSROOT": str(tmp_path / "s"), "MUSLFORGE_CC_TOOL": "ar",
           "DOCKER_HOST": "tcp://127.0.0.1:1", "DOCKER_TLS_VERIFY": "1"}
    chosen = settings.resolve(env)
    assert (chosen.lock_timeout, chosen.unpinned, chosen.nm, chosen.session_dir, chosen.session_idle) == (
        0.5, True, "llvm-nm-19", tmp_path, 30.0)
    assert (chosen.cc_sysroot, chosen.cc_tool, chosen.docker_host, chosen.docker_tls_verify) == (
        tmp_path / "s", "ar", "tcp://127.0.0.1:1", True)
    assert dict(chosen.origin) == {knob.name: knob.env for knob in settings.KNOBS if knob.env in env}
    quiet = settings.resolve({})
    assert (quiet.lock_timeout, quiet.unpinned, quiet.cc_sysroot, quiet.cc_tool, quiet.docker_host) == (
        3600.0, False, None, "cc", "")
    with pytest.raises(ConfigError, match="^MUSLFORGE_LOCK_TIMEOUT is 'soon'; it must be a number of seconds"):
        settings.resolve({"MUSLFORGE_LOCK_TIMEOUT": "soon"})


def test_the_wrappers_and_dockers_variables_come_from_the_environment_only(tmp_path):
    file = tmp_path / "muslforge.yaml"
    file.write_text("docker_host: tcp://elsewhere:2375\n")
    with pytest.raises(ConfigError, match="unknown key 'docker_host'"):
        settings.resolve({}, settings_file=file)
    assert settings.resolve({}, {"cc_tool": "ar"}).cc_tool == "cc"     # not a command-line variable


def test_docker_talks_to_the_daemon_the_settings_name(monkeypatch):
    from muslforge import docker

    monkeypatch.delenv("DOCKER_HOST", raising=False)
    settings.install(settings.resolve({"DOCKER_HOST": "unix:///nonexistent.sock"}))
    try:
        assert docker.docker_host() == "unix:///nonexistent.sock"
        assert docker._docker_environment()["DOCKER_HOST"] == "unix:///nonexistent.sock"
        assert docker.exec_prefix("c", cwd=Path("/"), env={})[:3] == ["docker", "-H", "unix:///nonexistent.sock"]
        assert docker.probe(timeout=0.5) is not None
    finally:
        settings.install(None)
