"""Where toolchain commands run: on the host, or in one container of the toolchain's image per task.

A task opens a session with the paths it needs (`with backend.session(mounts) as s:`) and runs all its
commands through it. The host session runs them with proc; the Docker session starts one container
(mounts bound at the same paths, so no path is ever translated and outputs are the same bytes; the
image's /usr from a host copy, as a fuse-overlayfs root costs clang dearly) and execs every command in
it, through proc too: one relay, one failure message, one process layer.

Which backend a run uses is decided once, by `decide` (MUSLFORGE_BACKEND=docker|host|auto; auto probes
the daemon with a short timeout and falls back to the host with a notice).
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from . import proc
from .config.toolchain import Toolchain
from .errors import BackendError

Mounts = Mapping[Path, str]  # host path -> "ro" | "rw"
CHOICES = ("auto", "docker", "host")


class Session(Protocol):
    """Runs one task's commands; cwd must lie inside the session's mounts."""

    def run(self, argv: list[str], *, cwd: Path, log: Path | None = None, env: Mapping[str, str] | None = None,
            on_line: Callable[[str], None] | None = None) -> None:
        """Run to completion; CommandFailed on a non-zero exit."""

    def capture(self, argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None,
                stdin_data: bytes = b"", timeout: float = 120) -> tuple[int, bytes, bytes]:
        """Run and return (status, stdout, stderr); 124 when the timeout stopped it."""

    def passthrough(self, argv: list[str], *, cwd: Path, env: Mapping[str, str] | None = None) -> int:
        """Run with this process's stdio; return the exit status."""


class Backend(Protocol):
    name: str
    toolchain: Toolchain

    def session(self, mounts: Mounts) -> contextlib.AbstractContextManager[Session]:
        """A session whose commands see `mounts` (host paths, at the same paths)."""


@dataclass
class HostSession:
    def run(self, argv, *, cwd, log=None, env=None, on_line=None) -> None:
        quiet = on_line is not None
        proc.run(argv, cwd=cwd, env=env, log=log, on_line=on_line, quiet=quiet, echo=not quiet)

    def capture(self, argv, *, cwd, env=None, stdin_data=b"", timeout=120):
        return proc.capture(argv, cwd=cwd, env=env, stdin_data=stdin_data, timeout=timeout)

    def passthrough(self, argv, *, cwd, env=None) -> int:
        return proc.passthrough(argv, cwd=cwd, env=env)


@dataclass
class HostBackend:
    toolchain: Toolchain
    name: str = "host"

    @contextlib.contextmanager
    def session(self, mounts: Mounts) -> Iterator[HostSession]:
        yield HostSession()


@dataclass
class DockerSession:
    container: str
    image: str
    env: dict[str, str]

    def _via(self, cwd: Path, env: Mapping[str, str] | None, stdin: bool = True) -> list[str]:
        from . import docker
        return docker.exec_prefix(self.container, cwd=cwd, env={**self.env, **(env or {})}, stdin=stdin)

    def run(self, argv, *, cwd, log=None, env=None, on_line=None) -> None:
        quiet = on_line is not None
        proc.run(argv, log=log, on_line=on_line, quiet=quiet, via=self._via(cwd, env, stdin=False),
                 where=self.image)

    def capture(self, argv, *, cwd, env=None, stdin_data=b"", timeout=120):
        # timeout(1) inside the container stops the program itself (status 124), not just the docker CLI
        limited = ["timeout", "-k", "5", f"{timeout:g}", *map(str, argv)]
        return proc.capture(limited, stdin_data=stdin_data, timeout=timeout + 30, via=self._via(cwd, env))

    def passthrough(self, argv, *, cwd, env=None) -> int:
        return proc.passthrough(argv, via=self._via(cwd, env))


@dataclass
class DockerBackend:
    toolchain: Toolchain
    name: str = "docker"
    _tag: str = field(default="", repr=False)

    @property
    def image(self) -> str:
        if not self._tag:
            from .toolchain import image
            self._tag = image.image_tag(self.toolchain)
        return self._tag

    @contextlib.contextmanager
    def session(self, mounts: Mounts) -> Iterator[DockerSession]:
        from . import docker
        env = {"SOURCE_DATE_EPOCH": str(self.toolchain.image.source_date_epoch), "LC_ALL": "C.UTF-8",
               "HOME": "/tmp"}
        from .toolchain.image import usr_copy
        with docker.started(self.image, mounts=dict(mounts), env=env, usr=usr_copy(self.image)) as container:
            yield DockerSession(container, self.image, env)


def decide(wanted: str, *, notice: Callable[[str], None] | None = None) -> str:
    """The backend for this run, "docker" or "host", from MUSLFORGE_BACKEND's value: the one rule.

    host: host. docker: docker, unprobed (the first task that starts a container names an unreachable
    daemon, as one task failure; `doit list` needs no daemon). auto: docker when the daemon answers
    /_ping within docker.PROBE_TIMEOUT, else host, with a notice saying why.
    """
    wanted = (wanted or "auto").strip().lower()
    if wanted not in CHOICES:
        raise BackendError(f"MUSLFORGE_BACKEND is '{wanted}'; it must be docker, host or auto.")
    if wanted in ("host", "docker"):
        return wanted
    from . import docker
    reason = docker.probe()
    if reason is None:
        return "docker"
    (notice or _stderr)(f"muslforge: no Docker daemon answered at {docker.docker_host()} ({reason}); "
                        f"using the host backend (set MUSLFORGE_BACKEND=host to skip this check).")
    return "host"


def _stderr(text: str) -> None:
    print(text, file=sys.stderr)


def make(name: str, toolchain: Toolchain) -> Backend:
    """The backend object for a decided name."""
    return DockerBackend(toolchain) if name == "docker" else HostBackend(toolchain)
