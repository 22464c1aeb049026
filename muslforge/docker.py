"""The one place that talks to Docker; docker-py is imported inside the functions that use it.

Containers get no network, the host's uid:gid, HOME=/tmp, SOURCE_DATE_EPOCH, and every mount bound at
the same path as on the host (so paths need no translation); they are always removed afterwards.
"""

from __future__ import annotations

import contextlib
import json
import os
from collections.abc import Iterator, Mapping
from pathlib import Path

from .errors import BackendError

DEFAULT_SOCKET = "unix:///var/run/docker.sock"
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"

_clients: dict[str, object] = {}


def _settings():
    from . import settings

    return settings.current()


def docker_host() -> str:
    """The daemon address: the docker_host setting (DOCKER_HOST), or the default socket."""
    return _settings().docker_host or DEFAULT_SOCKET


def _docker_environment() -> dict[str, str]:
    """The environment docker-py is built from: this process's, with the settings' Docker variables
    (so docker-py, the probe and the messages agree on one daemon)."""
    chosen = _settings()
    env = {k: v for k, v in os.environ.items() if k not in ("DOCKER_HOST", "DOCKER_TLS_VERIFY")}
    if chosen.docker_host:
        env["DOCKER_HOST"] = chosen.docker_host
    if chosen.docker_tls_verify:
        env["DOCKER_TLS_VERIFY"] = "1"
    return env


def unreachable(reason: str) -> BackendError:
    source = "DOCKER_HOST" if _settings().docker_host else "the default socket"
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
            made = docker.from_env(timeout=timeout, environment=_docker_environment())
            made.ping()
        except (docker.errors.DockerException, requests.exceptions.RequestException) as exc:
            raise unreachable(_reason(exc)) from None
        _clients[key] = made
    return _clients[key]


def _reason(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    return text.rstrip(".")


PROBE_TIMEOUT = 2.0
SESSION_LIFETIME = 6 * 3600  # seconds a task's container lives at most (no build task takes that long)


def probe(timeout: float | None = None) -> str | None:
    """None when the daemon at docker_host() answers /_ping within `timeout`, else why not.

    The one rule for "is Docker there" (muslforge.backend.decide): one raw HTTP request, no docker-py
    (~1 ms). A missing or stale socket file and a refused or silent TCP DOCKER_HOST all give a reason,
    never a hang or a traceback. Other addresses (ssh://, TLS) are asked through docker-py.
    """
    timeout = PROBE_TIMEOUT if timeout is None else timeout
    try:
        status = engine("GET", "/_ping", timeout=timeout)[0]
    except OSError as exc:
        return exc.strerror or _reason(exc)
    except BackendError:
        try:
            client(timeout=timeout)
        except BackendError as error:
            return str(error)
        return None
    return None if status == 200 else f"/_ping answered HTTP {status}"


def engine(method: str, path: str, body: dict | None = None, timeout: float = 10) -> tuple[int, object]:
    """One Engine API request over the daemon's unix socket, without docker-py (a few ms, not ~200).

    Returns (HTTP status, decoded JSON body or None). OSError when the daemon does not answer;
    BackendError for a DOCKER_HOST that is neither unix:// nor plain tcp:// (callers use docker-py).
    """
    import http.client
    import socket

    host = docker_host()

    class UnixConnection(http.client.HTTPConnection):
        def connect(self) -> None:
            self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            self.sock.settimeout(timeout)
            self.sock.connect(host[len("unix://"):])

    connection: http.client.HTTPConnection
    if host.startswith("unix://"):
        connection = UnixConnection("localhost", timeout=timeout)
    elif host.startswith("tcp://") and not _settings().docker_tls_verify:
        connection = http.client.HTTPConnection(host[len("tcp://"):].rstrip("/"), timeout=timeout)
    else:
        raise BackendError(f"DOCKER_HOST {host} is neither a unix socket nor plain tcp://")
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
                  labels: Mapping[str, str], usr: Path | None = None) -> None:
    """Start a long-lived container `name` (no network, host uid:gid, removed when it exits).

    binds: host path -> "ro" | "rw", each at the same path inside; usr: as for `started`. A container
    of that name left from before is replaced. For sessions that run many short commands
    (muslforge.toolchain.session).
    """
    import urllib.parse

    quoted = urllib.parse.quote(name, safe="")
    engine("DELETE", f"/containers/{quoted}?force=1")
    config = {
        "Image": image, "Cmd": [str(a) for a in argv], "User": f"{os.getuid()}:{os.getgid()}",
        "Env": [f"{k}={v}" for k, v in _environment({}).items()], "Labels": dict(labels),
        "WorkingDir": "/", "NetworkDisabled": True,
        "HostConfig": {"Binds": [*(f"{p}:{p}:{mode}" for p, mode in binds.items()),
                                 *(f"{f}:/usr/{f.name}:ro" for f in _usr_folders(usr))], "NetworkMode": "none",
                       "AutoRemove": True, "Init": True,
                       **{_API_NAMES[key]: value for key, value in _fair_share().items()}},
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
def started(image: str, *, mounts: Mapping[Path, str], env: Mapping[str, str],
            usr: Path | None = None) -> Iterator[str]:
    """A running container for one task: no network, host uid:gid, mounts at their host paths.

    It only sleeps, under Docker's init (which reaps the orphans configure's shells leave); the task's
    commands run in it with `docker exec` (exec_prefix), through proc like any other process. `usr`: a
    host copy of the image's own /usr (muslforge.toolchain.image.usr_copy), its folders bound read-only
    over the image's.
    Yields the container id; the container is removed on exit, whatever happened (and, should this
    process be killed outright, removes itself after SESSION_LIFETIME).
    """
    import docker

    volumes = {}
    for path, mode in mounts.items():
        if mode not in ("ro", "rw"):
            raise ValueError(f"mount mode for {path} must be 'ro' or 'rw', not {mode!r}")
        volumes[str(Path(path).resolve())] = {"bind": str(Path(path).resolve()), "mode": mode}
    for folder in _usr_folders(usr):
        volumes[str(folder)] = {"bind": f"/usr/{folder.name}", "mode": "ro"}
    api = client().api
    try:
        created = api.create_container(
            image, ["sleep", str(SESSION_LIFETIME)], user=f"{os.getuid()}:{os.getgid()}", working_dir="/",
            environment=_environment(env), labels={"muslforge.pid": str(os.getpid())},
            use_config_proxy=False,
            host_config=api.create_host_config(binds=volumes, network_mode="none", auto_remove=True, init=True,
                                               **_fair_share()))
        api.start(created["Id"])
    except docker.errors.ImageNotFound:
        raise _missing_image(image) from None
    except docker.errors.APIError as exc:
        raise BackendError(f"Docker could not start a container from {image}: "
                           f"{exc.explanation or exc}.") from None
    try:
        yield created["Id"]
    finally:
        with contextlib.suppress(docker.errors.APIError):  # NotFound, or auto-removal already under way
            api.remove_container(created["Id"], force=True)


_API_NAMES = {"cgroup_parent": "CgroupParent", "cpu_shares": "CpuShares"}
_driver: list[str] = []


def _fair_share() -> dict[str, object]:
    """A task container's place in the CPU scheduler: beside the host's processes, weighing as many as
    it runs at once (make -j<cpus>), when the daemon manages cgroupfs cgroups.

    Why: with the cgroupfs driver every container sits in the daemon's one /docker cgroup, and the
    kernel shares CPU between cgroups before tasks: that whole group weighs as much as ONE host
    process. On a busy machine a build's container got a fraction of what the same commands get on
    the host (measured: 30 clang runs 2.5-3.5x slower at load 11, level with the host once placed
    here). systemd-managed daemons put containers in a slice of their own; they are left as they are.
    """
    if not _driver:
        try:
            status, info = engine("GET", "/info")
        except (OSError, BackendError):   # a daemon docker-py reaches another way (ssh://, TLS)
            status, info = 0, None
        _driver.append(str(info.get("CgroupDriver", "")) if status == 200 and isinstance(info, dict) else "")
    if _driver[0] != "cgroupfs":
        return {}
    return {"cgroup_parent": "/", "cpu_shares": 1024 * (os.cpu_count() or 1)}


def _usr_folders(usr: Path | None) -> list[Path]:
    """The folders of a /usr copy to bind: all but sbin, where Docker binds its init (/sbin is
    /usr/sbin in a merged-/usr image, and a read-only /usr would hide that bind)."""
    if usr is None:
        return []
    return sorted(child for child in usr.iterdir() if child.is_dir() and not child.is_symlink()
                  and child.name != "sbin")


def image_id(tag: str) -> str:
    """The id (sha256:...) of a local image; BackendError when it is missing."""
    import urllib.parse

    try:
        status, reply = engine("GET", f"/images/{urllib.parse.quote(tag, safe='')}/json", timeout=10)
    except (OSError, BackendError):
        return str(_get_image(tag).id)
    if status != 200 or not isinstance(reply, dict):
        raise _missing_image(tag)
    return str(reply["Id"])


def copy_out(image: str, path: str, dest: Path) -> None:
    """Copy the folder `path` of image to dest on the host (docker cp from a container never started:
    owners, modes and links as in the image)."""
    from . import proc

    api = client().api
    created = api.create_container(image, ["true"], network_disabled=True)
    try:
        proc.run([*_cli(), "cp", f"{created['Id']}:{path}", str(dest)], echo=False, quiet=True)
    finally:
        api.remove_container(created["Id"], force=True)


def _cli() -> list[str]:
    """The docker CLI, pointed at the settings' daemon (it reads DOCKER_TLS_VERIFY and certificates from
    the environment, as docker-py does)."""
    host = _settings().docker_host
    return ["docker", "-H", host] if host else ["docker"]


def exec_prefix(container_id: str, *, cwd: Path, env: Mapping[str, str], stdin: bool = True) -> list[str]:
    """The argv prefix that runs a command in a started container (the docker CLI, via proc)."""
    prefix = [*_cli(), "exec", *(["-i"] if stdin else []), "-w", str(cwd)]
    for key, value in env.items():
        prefix += ["-e", f"{key}={value}"]
    return [*prefix, container_id]


def _environment(env: Mapping[str, str]) -> dict[str, str]:
    full = {"HOME": "/tmp", "PATH": IMAGE_PATH, "LC_ALL": "C.UTF-8"}
    full.update(env)
    return full
