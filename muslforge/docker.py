"""The one place that talks to Docker; docker-py is imported inside the functions that use it.

Containers get no network, the host's uid:gid, HOME=/tmp, SOURCE_DATE_EPOCH, and every mount bound at
the same path as on the host (so paths need no translation); they are always removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path

from .errors import BackendError, CommandFailed
from .proc import open_log, relay

TAIL_LINES = 30
TIMED_OUT = 124  # the exit status reported for a container killed at its timeout, as timeout(1)
DEFAULT_SOCKET = "unix:///var/run/docker.sock"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_clients: dict[str, object] = {}


def docker_host() -> str:
    """The daemon address docker-py will use: DOCKER_HOST, or the default socket."""
    return os.environ.get("DOCKER_HOST") or DEFAULT_SOCKET


def _unreachable(reason: str) -> BackendError:
    source = "DOCKER_HOST" if os.environ.get("DOCKER_HOST") else "the default socket"
    return BackendError(
        f"Cannot reach the Docker daemon at {docker_host()} ({source}): {reason}. Start Docker "
        f"(systemctl start docker), point DOCKER_HOST at a running daemon, or build with the host's "
        f"own toolchain instead: MUSLFORGE_BACKEND=host.")


def client(timeout: float = 60):
    """A docker-py client for docker_host(), created once per address; BackendError if unreachable."""
    key = f"{docker_host()}|{timeout}"
    if key not in _clients:
        import docker
        import requests

        try:
            made = docker.from_env(timeout=timeout)
            made.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise _unreachable(_reason(exc)) from None
        _clients[key] = made
    return _clients[key]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


def daemon_address_exists() -> bool:
    """Cheap, no docker-py: a TCP DOCKER_HOST, or a unix socket file that exists."""
    host = docker_host()
    return not host.startswith("unix://") or os.path.exists(host[len("unix://"):])


def daemon_available() -> bool:
    """True when a Docker daemon answers within a couple of seconds (backend auto-detection)."""
    if not daemon_address_exists():
        return False
    try:
        client(timeout=3)
    except BackendError:
        return False
    return True


def engine(method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, object]:
    """One Engine API request over the daemon's unix socket, without docker-py (a few ms, not ~200).

    Returns (HTTP status, decoded JSON body or None). OSError when the socket does not answer;
    BackendError for a DOCKER_HOST that is not a unix socket (callers fall back to docker-py).
    """
    import http.client
    import socket

    host = docker_host()
    if not host.startswith("unix://"):
        raise BackendError(f"DOCKER_HOST {host} is not a unix socket")

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(host[len("unix://"):])

    connection = UnixConnection("localhost")
    try:
        payload = None if body is None else json.dumps(body).encode()
        headers = {"Content-Type": "application/json"} if payload is not None else {}
        connection.request(method, path, body=payload, headers=headers)
        response = connection.getresponse()
        data = response.read()
    finally:
        connection.close()
    try:
        return response.status, json.loads(data) if data.strip() else None
    except ValueError:
        return response.status, data.decode(errors="replace")


def ping_fast() -> bool:
    """True when a daemon answers on a local unix socket (no docker-py); daemon_available() otherwise."""
    if not daemon_address_exists():
        return False
    try:
        return engine("GET", "/_ping", timeout=3)[0] == 200
    except BackendError:
        return daemon_available()
    except OSError:
        return False


def image_present_fast(tag: str) -> bool:
    """image_exists without docker-py (~5 ms, for doit's up-to-date checks on every run).

    Asks the Engine API directly over its unix socket; any other DOCKER_HOST, or no answer, falls back
    to image_exists (which raises BackendError for an unreachable daemon).
    """
    import urllib.parse

    try:
        return engine("GET", f"/images/{urllib.parse.quote(tag, safe='')}/json", timeout=5)[0] == 200
    except (OSError, BackendError):
        return image_exists(tag)


def start_service(name: str, image: str, argv: list[str], *, binds: Mapping[Path, str],
                  labels: Mapping[str, str]) -> None:
    """Start a long-lived container `name` (no network, host uid:gid, removed when it exits).

    binds: host path -> "ro" | "rw", each at the same path inside. A container of that name left
    from before is replaced. For sessions that run many short commands (muslforge.session).
    """
    import urllib.parse

    quoted = urllib.parse.quote(name, safe="")
    engine("DELETE", f"/containers/{quoted}?force=1")
    config = {
        "Image": image, "Cmd": [str(a) for a in argv], "User": f"{os.getuid()}:{os.getgid()}",
        "Env": [f"{k}={v}" for k, v in _environment({}).items()], "Labels": dict(labels),
        "WorkingDir": "/", "NetworkDisabled": True,
        "HostConfig": {"Binds": [f"{p}:{p}:{mode}" for p, mode in binds.items()], "NetworkMode": "none",
                       "AutoRemove": True, "Init": True},
    }
    status, reply = engine("POST", f"/containers/create?name={quoted}", config, timeout=60)
    if status == 404:
        raise _missing_image(image)
    if status not in (200, 201):
        raise BackendError(f"Docker could not create the container {name} from {image}: {_explain(reply)}.")
    status, reply = engine("POST", f"/containers/{quoted}/start", timeout=60)
    if status not in (204, 304):
        raise BackendError(f"Docker could not start the container {name}: {_explain(reply)}.")


def stop_service(name: str) -> None:
    """Remove a container started by start_service (a missing one is not an error)."""
    import urllib.parse

    engine("DELETE", f"/containers/{urllib.parse.quote(name, safe='')}?force=1", timeout=30)


def services(label: str) -> list[str]:
    """Names of running containers that carry `label`."""
    import urllib.parse

    filters = urllib.parse.quote(json.dumps({"label": [label]}))
    status, reply = engine("GET", f"/containers/json?filters={filters}")
    if status != 200 or not isinstance(reply, list):
        return []
    return [c["Names"][0].lstrip("/") for c in reply if c.get("Names")]


def _explain(reply: object) -> str:
    if isinstance(reply, dict) and reply.get("message"):
        return str(reply["message"]).rstrip(".")
    return str(reply)


def image_exists(tag: str) -> bool:
    import docker

    try:
        client().images.get(tag)
    except docker.errors.ImageNotFound:
        return False
    return True


def image_labels(tag: str) -> dict[str, str]:
    """The labels of a local image (BackendError when it is missing)."""
    return dict(_get_image(tag).labels or {})


def image_size(tag: str) -> int:
    return int(_get_image(tag).attrs.get("Size", 0))


def _get_image(tag: str):
    import docker

    try:
        return client().images.get(tag)
    except docker.errors.ImageNotFound:
        raise _missing_image(tag) from None


def _missing_image(tag: str) -> BackendError:
    return BackendError(f"The Docker image {tag} does not exist on {docker_host()}. Build it with "
                        f"`doit toolchain` (or use the host's toolchain: MUSLFORGE_BACKEND=host).")


def import_rootfs(tarball: Path, tag: str, labels: Mapping[str, str]) -> str:
    """`docker import` a rootfs tarball as tag with labels and a PATH; return the image id."""
    repository, _, version = tag.rpartition(":")
    changes = [f"LABEL {json.dumps(key)}={json.dumps(value)}" for key, value in sorted(labels.items())]
    changes += [f"ENV PATH={IMAGE_PATH}", "CMD [\"/bin/bash\"]"]
    import docker

    try:
        client().api.import_image_from_file(str(tarball), repository=repository, tag=version,
                                            changes=changes)
    except docker.errors.APIError as exc:
        raise BackendError(f"docker import of {tarball} as {tag} failed: {exc.explanation or exc}.") from None
    return _get_image(tag).id


def remove_image(tag: str) -> None:
    """Remove a local image (tests and `doit clean`); a missing image is not an error."""
    import docker

    with contextlib.suppress(docker.errors.ImageNotFound):
        client().images.remove(tag, force=True)


def tagged_images(prefix: str) -> dict[str, str]:
    """{repository:tag: image id} of every local image tag that starts with prefix ('muslforge/')."""
    return {tag: image.id for image in client().images.list() for tag in image.tags if tag.startswith(prefix)}


def images_in_use() -> set[str]:
    """Ids of the images any container (running or stopped) was created from."""
    return {c.attrs.get("ImageID") or c.attrs.get("Image", "") for c in client().containers.list(all=True)}


def untag_image(tag: str) -> bool:
    """Remove one tag (and the image, when it was its last tag) unless a container uses it; True if
    removed. Never forced: Docker itself refuses an image a container was made from."""
    import docker

    try:
        client().images.remove(tag, force=False, noprune=False)
    except docker.errors.ImageNotFound:
        return False
    except docker.errors.APIError as exc:
        if exc.status_code == 409:  # conflict: in use
            return False
        raise BackendError(f"docker rmi {tag} failed: {exc.explanation or exc}.") from None
    return True


@contextlib.contextmanager
def container(image: str, argv: list[str], *, mounts: Mapping[Path, str], workdir: Path,
              env: Mapping[str, str], stdin_open: bool = False) -> Iterator[object]:
    """A created (not started) container: no network, host uid:gid, mounts at their host paths.

    The container is removed on exit from the block, whatever happened inside it.
    """
    import docker

    volumes = {}
    for path, mode in mounts.items():
        if mode not in ("ro", "rw"):
            raise ValueError(f"mount mode for {path} must be 'ro' or 'rw', not {mode!r}")
        volumes[str(Path(path).resolve())] = {"bind": str(Path(path).resolve()), "mode": mode}
    api = client().api
    try:
        created = api.create_container(
            image, [str(a) for a in argv], user=f"{os.getuid()}:{os.getgid()}", working_dir=str(workdir),
            environment=_environment(env), stdin_open=stdin_open, detach=not stdin_open,  # StdinOnce
            labels={"muslforge.pid": str(os.getpid())}, use_config_proxy=False,
            host_config=api.create_host_config(binds=volumes, network_mode="none"))
        made = client().containers.get(created["Id"])
    except docker.errors.ImageNotFound:
        raise _missing_image(image) from None
    except docker.errors.APIError as exc:
        raise BackendError(f"Docker could not create a container from {image}: "
                           f"{exc.explanation or exc}.") from None
    try:
        yield made
    finally:
        with contextlib.suppress(docker.errors.NotFound):
            made.remove(force=True)


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    full = {"HOME": "/tmp", "PATH": IMAGE_PATH, "LC_ALL": "C.UTF-8"}
    if "SOURCE_DATE_EPOCH" in os.environ:
        full["SOURCE_DATE_EPOCH"] = os.environ["SOURCE_DATE_EPOCH"]
    full.update(env)
    return full


def run_in_container(image: str, argv: list[str], *, mounts: Mapping[Path, str], workdir: Path,
                     env: Mapping[str, str], log: Path | None = None, timeout: float = 3600,
                     on_line: Callable[[str], None] | None = None, quiet: bool = False) -> None:
    """Like proc.run, inside `image`: relay output to log and sys.stdout; CommandFailed if it fails."""
    tail: deque[str] = deque(maxlen=TAIL_LINES)
    logfile = open_log(log)
    try:
        relay(f"+ [{image}] {' '.join(map(str, argv))}\n", logfile, sys.stderr)
        with container(image, argv, mounts=mounts, workdir=workdir, env=env) as made:
            made.start()

            def see_line(line: str) -> None:
                tail.append(line)
                relay(line, logfile, None if quiet else sys.stdout)
                if on_line:
                    on_line(line)

            status = _wait_streaming(made, timeout, see_line)
    finally:
        if logfile:
            logfile.close()
    if status != 0:
        message = _failure_message(image, argv, status, tail, log, timeout)
        raise CommandFailed(message, TIMED_OUT if status is None else status)


def _wait_streaming(made, timeout: float, see_line: Callable[[str], None]) -> int | None:
    """Relay the container's merged output line by line; return its exit status (None on timeout)."""
    reader = threading.Thread(target=_read_lines, args=(made, see_line), daemon=True)
    reader.start()
    status = _wait(made, timeout)
    reader.join(timeout=30)
    return status


def _read_lines(made, see_line: Callable[[str], None]) -> None:
    pending = b""
    for chunk in made.logs(stream=True, follow=True, stdout=True, stderr=True):
        pending += chunk
        *lines, pending = pending.split(b"\n")
        for line in lines:
            see_line(line.decode("utf-8", "replace") + "\n")
    if pending:
        see_line(pending.decode("utf-8", "replace") + "\n")


def _wait(made, timeout: float) -> int | None:
    """The container's exit status; on timeout kill it and return None."""
    import requests

    try:
        return int(made.wait(timeout=timeout)["StatusCode"])
    except (requests.exceptions.ReadTimeout, requests.exceptions.ConnectionError):
        made.kill()
        made.wait(timeout=30)
        return None


def run_interactive(image: str, argv: list[str], *, mounts: Mapping[Path, str], workdir: Path,
                    env: Mapping[str, str], stdin_data: bytes | None = None,
                    timeout: float | None = None) -> int:
    """Run argv with its stdout/stderr passed through to ours and stdin_data as its stdin (or none).

    Returns the exit status (124 when the timeout killed it), for `muslforge run`.
    """
    status, _out, _err = capture_in_container(image, argv, mounts=mounts, workdir=workdir, env=env,
                                            stdin_data=stdin_data, timeout=timeout,
                                            stream_to=(sys.stdout.buffer, sys.stderr.buffer))
    return status


def capture_in_container(image: str, argv: list[str], *, mounts: Mapping[Path, str], workdir: Path,
                         env: Mapping[str, str], stdin_data: bytes | None = b"",
                         timeout: float | None = None, stream_to=None) -> tuple[int, bytes, bytes]:
    """Like proc.capture inside `image`: (exit status, stdout, stderr), 124 on timeout."""
    with container(image, argv, mounts=mounts, workdir=workdir, env=env,
                   stdin_open=stdin_data is not None) as made:
        sock = _attach_stdin(made) if stdin_data is not None else None
        made.start()
        if sock is not None:
            _send_stdin(sock, stdin_data or b"")
        collected = {"stdout": bytearray(), "stderr": bytearray()}
        readers = [threading.Thread(target=_collect, args=(made, name, collected[name],
                                                          stream_to[i] if stream_to else None),
                                    daemon=True) for i, name in enumerate(("stdout", "stderr"))]
        for reader in readers:
            reader.start()
        status = _wait(made, timeout if timeout is not None else 10 ** 7)
        status = TIMED_OUT if status is None else status
        for reader in readers:
            reader.join(timeout=30)
        if sock is not None:
            sock.close()
    return status, bytes(collected["stdout"]), bytes(collected["stderr"])


def _attach_stdin(made):
    return made.attach_socket(params={"stdin": 1, "stream": 1, "stdout": 0, "stderr": 0})


def _send_stdin(sock, data: bytes) -> None:
    import socket

    raw = getattr(sock, "_sock", sock)
    if data:
        raw.sendall(data)
    with contextlib.suppress(OSError):
        raw.shutdown(socket.SHUT_WR)


def _collect(made, name: str, into: bytearray, stream) -> None:
    for chunk in made.logs(stream=True, follow=True, stdout=name == "stdout", stderr=name == "stderr"):
        into.extend(chunk)
        if stream is not None:
            stream.write(chunk)
            stream.flush()


def _failure_message(image: str, argv: list[str], status: int | None, tail, log: Path | None,
                     timeout: float) -> str:
    lines = "".join(tail).rstrip()
    why = f"timed out after {timeout:g} s and was killed" if status is None else f"exited with status {status}"
    where = f"\nFull log: {log}" if log else ""
    return (f"{os.path.basename(str(argv[0]))} (in {image}) {why}: {' '.join(map(str, argv))}\n"
            f"--- last {TAIL_LINES} lines ---\n{lines}{where}")
