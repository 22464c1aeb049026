"""Where toolchain commands run: on the host, or in the toolchain's Docker image.

Both backends take the same argv, working directory and mounts. The Docker backend binds every mount at
the same path inside the container, so no path is ever translated and outputs are the same bytes.
MUSLFORGE_BACKEND=docker|host|auto (auto: docker when the daemon answers, else host).
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Mapping, Protocol

from . import proc
from .config.toolchain import Toolchain
from .errors import BackendError

Mounts = Mapping[Path, str]  # host path -> "ro" | "rw"

# Inside the toolchain image, builtins extracted from foreign-arch packages live here, per Debian arch.
IMAGE_BUILTINS_ROOT = "/opt/muslforge/builtins"


class Backend(Protocol):
    name: str
    toolchain: Toolchain

    def run(self, argv: list[str], *, cwd: Path, mounts: Mounts, log: Path | None = None,
            env: Mapping[str, str] | None = None, on_line: Callable[[str], None] | None = None) -> None:
        """Run to completion; CommandFailed on a non-zero exit."""

    def capture(self, argv: list[str], *, cwd: Path, mounts: Mounts, env: Mapping[str, str] | None = None,
                stdin_data: bytes = b"", timeout: float = 120) -> tuple[int, bytes, bytes]:
        """Run and return (status, stdout, stderr)."""

    def passthrough(self, argv: list[str], *, cwd: Path, mounts: Mounts,
                    env: Mapping[str, str] | None = None) -> int:
        """Run with this process's stdio; return the exit status."""


@dataclass
class HostBackend:
    toolchain: Toolchain
    name: str = "host"

    def run(self, argv, *, cwd, mounts, log=None, env=None, on_line=None) -> None:
        quiet = on_line is not None
        proc.run(argv, cwd=cwd, env=env, log=log, on_line=on_line, quiet=quiet, echo=not quiet)

    def capture(self, argv, *, cwd, mounts, env=None, stdin_data=b"", timeout=120):
        return proc.capture(argv, cwd=cwd, env=env, stdin_data=stdin_data, timeout=timeout)

    def passthrough(self, argv, *, cwd, mounts, env=None) -> int:
        return proc.passthrough(argv, cwd=cwd, env=env)


@dataclass
class DockerBackend:
    toolchain: Toolchain
    name: str = "docker"
    _tag: str = field(default="", repr=False)

    @property
    def image(self) -> str:
        if not self._tag:
            from . import image
            self._tag = image.image_tag(self.toolchain)
        return self._tag

    def run(self, argv, *, cwd, mounts, log=None, env=None, on_line=None) -> None:
        from . import docker
        docker.run_in_container(self.image, argv, mounts=_with_cwd(mounts, cwd), workdir=cwd,
                                env=_container_env(self.toolchain, env), log=log, on_line=on_line,
                                timeout=3600, quiet=on_line is not None)

    def capture(self, argv, *, cwd, mounts, env=None, stdin_data=b"", timeout=120):
        from . import docker
        return docker.capture_in_container(self.image, argv, mounts=_with_cwd(mounts, cwd), workdir=cwd,
                                           env=_container_env(self.toolchain, env), stdin_data=stdin_data,
                                           timeout=timeout)

    def passthrough(self, argv, *, cwd, mounts, env=None) -> int:
        """stdout/stderr stream through; piped or redirected stdin is read whole and fed in (a terminal's
        stdin is not forwarded into the container)."""
        from . import docker
        stdin_data = None if sys.stdin is None or sys.stdin.isatty() else sys.stdin.buffer.read()
        return docker.run_interactive(self.image, argv, mounts=_with_cwd(mounts, cwd), workdir=cwd,
                                      env=_container_env(self.toolchain, env), stdin_data=stdin_data)


def _with_cwd(mounts: Mounts, cwd: Path) -> dict[Path, str]:
    merged = dict(mounts)
    if not any(_is_within(cwd, path) for path in merged):
        merged[cwd] = "rw"
    return merged


def _is_within(child: Path, parent: Path) -> bool:
    try:
        child.resolve().relative_to(parent.resolve())
        return True
    except ValueError:
        return False


def _container_env(toolchain: Toolchain, env: Mapping[str, str] | None) -> dict[str, str]:
    return {"SOURCE_DATE_EPOCH": str(toolchain.image.source_date_epoch), "LC_ALL": "C.UTF-8",
            "HOME": "/tmp", **(env or {})}


def wanted_backend() -> str:
    """MUSLFORGE_BACKEND, normalised (default auto)."""
    return (os.environ.get("MUSLFORGE_BACKEND") or "auto").strip().lower()


def choose(toolchain: Toolchain, wanted: str | None = None) -> Backend:
    """The backend MUSLFORGE_BACKEND asks for (default auto)."""
    wanted = (wanted or wanted_backend()).strip().lower()
    if wanted == "host":
        return HostBackend(toolchain)
    if wanted not in ("docker", "auto"):
        raise BackendError(f"MUSLFORGE_BACKEND is '{wanted}'; it must be docker, host or auto.")
    from . import docker
    if wanted == "docker":
        docker.client()  # raises BackendError naming DOCKER_HOST / the socket
        return DockerBackend(toolchain)
    if docker.daemon_available():
        return DockerBackend(toolchain)
    print("muslforge: no Docker daemon answered; using the host backend (MUSLFORGE_BACKEND=host)",
          file=sys.stderr)
    return HostBackend(toolchain)
