"""The one settings object: every knob muslforge has, resolved once per run, printed at its start.

Each setting comes from, last one winning: its default; the settings file (muslforge.yaml in the
checkout, or the file MUSLFORGE_SETTINGS names); the environment (MUSLFORGE_<NAME>, passed in, never
read at import); doit's command-line variables (`doit build musl=1.2.5 backend=host`). `resolve` is pure;
an entry point (dodo.py, `muslforge cc/run`) calls `install(resolve(os.environ, variables))` once and
everything else reads `current()`. A few come from the environment only: what a sysroot's bin/
wrappers tell `muslforge cc` (MUSLFORGE_CC_*), and Docker's own DOCKER_HOST and DOCKER_TLS_VERIFY
(which docker-py and the docker CLI are then given from here).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, NamedTuple

from .errors import ConfigError

CHECKOUT = Path(__file__).resolve().parent.parent
DEFAULT_TOOLCHAIN = "llvm-22"  # toolchains/<name>.yaml used unless the toolchain setting names another
SETTINGS_FILE = CHECKOUT / "muslforge.yaml"


def _path(text: str) -> Path:
    return Path(text).expanduser().resolve()


def _words(text: str) -> tuple[str, ...]:
    return tuple(w for w in text.replace(",", " ").split() if w)


def _flag(text: str) -> bool:
    if text.strip().lower() in ("1", "true", "yes", "on"):
        return True
    if text.strip().lower() in ("", "0", "false", "no", "off"):
        return False
    raise ValueError("it must be 1/0, true/false or yes/no")


def _seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value < 0:
        raise ValueError("it must be a number of seconds (e.g. 0.5)")
    return value


def _positive(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        value = -1.0
    if value <= 0:
        raise ValueError("it must be a positive number of seconds (e.g. 15)")
    return value


def _epoch(text: str) -> int | None:
    if not text.strip():
        return None
    if not text.strip().isdigit():
        raise ValueError("it must be a non-negative integer (seconds since 1970-01-01 UTC), or unset to use "
                         "the musl release date")
    return int(text)


def _backend(text: str) -> str:
    value = text.strip().lower()
    if value not in ("auto", "docker", "host"):
        raise ValueError("it must be docker, host or auto")
    return value


def _optional_path(text: str) -> Path | None:
    return Path(os.path.abspath(os.path.expanduser(text.strip()))) if text.strip() else None


def _any_text(text: str) -> bool:
    return bool(text.strip())


def _default_cache(environ: Mapping[str, str]) -> str:
    return str(Path(environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "muslforge")


class Knob(NamedTuple):
    name: str          # field name, YAML key and doit variable
    env: str           # environment variable
    parse: Callable[[str], Any]
    default: Callable[[Mapping[str, str]], str]
    doc: str
    variable: bool = True   # settable as a doit command-line variable
    file: bool = True       # settable in the settings file (False: the environment only)


KNOBS = (
    Knob("musl", "MUSLFORGE_MUSL_VERSION", lambda t: t.strip() or None, lambda env: "",
         "musl version (default: sources/musl.yaml's default)"),
    Knob("toolchain", "MUSLFORGE_TOOLCHAIN", str.strip, lambda env: DEFAULT_TOOLCHAIN, "toolchains/<name>.yaml"),
    Knob("backend", "MUSLFORGE_BACKEND", _backend, lambda env: "auto",
         "docker | host | auto (auto: docker when the daemon answers)"),
    Knob("arches", "MUSLFORGE_ARCHES", _words, lambda env: "", "arches a release or nightly covers (all: empty)"),
    Knob("build_dir", "MUSLFORGE_BUILD_DIR", _path, lambda env: str(CHECKOUT / "build"), "build outputs"),
    Knob("cache_dir", "MUSLFORGE_CACHE", _path, _default_cache, "verified downloads and rootfs tarballs"),
    Knob("dist_dir", "MUSLFORGE_DIST_DIR", _path, lambda env: str(CHECKOUT / "dist"), "releases"),
    Knob("arches_dir", "MUSLFORGE_ARCHES_DIR", _path, lambda env: str(CHECKOUT / "arches"), "arch files"),
    Knob("patches_dir", "MUSLFORGE_PATCHES_DIR", _path, lambda env: str(CHECKOUT / "patches"), "patch series"),
    Knob("mirrors", "MUSLFORGE_MIRRORS", _words, lambda env: "", "musl mirrors tried before sources/musl.yaml's"),
    Knob("require_signature", "MUSLFORGE_REQUIRE_SIGNATURE", _flag, lambda env: "0",
         "a missing PGP signature is an error"),
    Knob("fetch_backoff", "MUSLFORGE_FETCH_BACKOFF", _seconds, lambda env: "0.5", "seconds between retries"),
    Knob("fetch_timeout", "MUSLFORGE_FETCH_TIMEOUT", lambda t: _positive(t) if t.strip() else None,
         lambda env: "", "seconds a mirror may stay silent (default: 5 to connect, 15 to read)"),
    Knob("apt_sources", "MUSLFORGE_APT_SOURCES", lambda t: tuple(_path(p) for p in t.split(os.pathsep) if p.strip()),
         lambda env: "",
         "apt sources files for the toolchain image, ':'-separated (default: this machine's)"),
    Knob("source_date_epoch", "SOURCE_DATE_EPOCH", _epoch, lambda env: "", "release timestamps"),
    Knob("lock_timeout", "MUSLFORGE_LOCK_TIMEOUT", _seconds, lambda env: "3600",
         "seconds a run waits for a lock another run holds (0: do not wait)"),
    Knob("unpinned", "MUSLFORGE_UNPINNED", _flag, lambda env: "0",
         "release sysroots not built with the pinned toolchain (the manifest says so)"),
    Knob("nm", "NM", str.strip, lambda env: "",
         "llvm-nm for `python3 -m muslforge.sysroot.libc_abi` (default: the toolchain's)"),
    Knob("session_dir", "MUSLFORGE_SESSION_DIR", _path, lambda env: f"/tmp/muslforge-{os.getuid()}",
         "`muslforge cc` session sockets (a folder the container shares)"),
    Knob("session_idle", "MUSLFORGE_SESSION_IDLE", _positive, lambda env: "600",
         "seconds a `muslforge cc` session container lives without a call"),
    Knob("cc_sysroot", "MUSLFORGE_CC_SYSROOT", _optional_path, lambda env: "",
         "the sysroot whose bin/<triple>-cc called `muslforge cc` (set by that wrapper)",
         variable=False, file=False),
    Knob("cc_tool", "MUSLFORGE_CC_TOOL", lambda t: t.strip() or "cc", lambda env: "cc",
         "which of that sysroot's bin/ wrappers called (cc, ar, ...; set by the wrapper)",
         variable=False, file=False),
    Knob("docker_host", "DOCKER_HOST", str.strip, lambda env: "",
         "the Docker daemon (Docker's own variable; default: its local socket)", variable=False, file=False),
    Knob("docker_tls_verify", "DOCKER_TLS_VERIFY", _any_text, lambda env: "",
         "talk TLS to DOCKER_HOST (Docker's own variable: any value)", variable=False, file=False),
)
_BY_NAME = {knob.name: knob for knob in KNOBS}


class Settings(NamedTuple):
    """Immutable and typed; a NamedTuple, so that `muslforge run` (which must stay light) can import it."""

    musl: str | None
    toolchain: str
    backend: str
    arches: tuple[str, ...]
    build_dir: Path
    cache_dir: Path
    dist_dir: Path
    arches_dir: Path
    patches_dir: Path
    mirrors: tuple[str, ...]
    require_signature: bool
    fetch_backoff: float
    fetch_timeout: float | None
    apt_sources: tuple[Path, ...]
    source_date_epoch: int | None
    lock_timeout: float
    unpinned: bool
    nm: str
    session_dir: Path
    session_idle: float
    cc_sysroot: Path | None
    cc_tool: str
    docker_host: str
    docker_tls_verify: bool
    origin: tuple[tuple[str, str], ...] = ()   # (setting, where its value came from)

    def items(self) -> list[tuple[str, str, str]]:
        """(name, value as text, where it came from) for every setting."""
        where = dict(self.origin)
        rows = []
        for knob in KNOBS:
            value = getattr(self, knob.name)
            if isinstance(value, tuple):
                value = " ".join(map(str, value))
            rows.append((knob.name, "-" if value in (None, "") else str(value), where.get(knob.name, "default")))
        return rows

    def describe(self) -> list[str]:
        """One aligned line per setting: name, value, where it came from."""
        return [f"{name:<18} {value:<44} ({origin})" for name, value, origin in self.items()]


assert list(Settings._fields[:-1]) == [k.name for k in KNOBS]


def resolve(environ: Mapping[str, str], variables: Mapping[str, str] | None = None,
            settings_file: Path | None = None) -> Settings:
    """Defaults, then the settings file, then `environ`, then doit `variables`; each value validated."""
    raw: dict[str, tuple[str, str]] = {k.name: (k.default(environ), "default") for k in KNOBS}
    path = settings_file or Path(environ.get("MUSLFORGE_SETTINGS") or SETTINGS_FILE)
    if settings_file is not None or environ.get("MUSLFORGE_SETTINGS") or path.is_file():
        for key, value in _read_file(path).items():
            raw[key] = (value, str(path))
    for knob in KNOBS:
        if environ.get(knob.env, "").strip():
            raw[knob.name] = (environ[knob.env], knob.env)
    for name, value in (variables or {}).items():
        if name in _BY_NAME and _BY_NAME[name].variable:
            raw[name] = (value, f"{name}= on the command line")
    values = {name: _parse(_BY_NAME[name], text, source) for name, (text, source) in raw.items()}
    origin = tuple((name, source) for name, (_, source) in raw.items() if source != "default")
    return Settings(**values, origin=origin)


def _parse(knob: Knob, text: str, source: str) -> Any:
    try:
        return knob.parse(str(text))
    except ValueError as error:
        what = {knob.env: knob.env, "default": knob.name}.get(source, f"{source}: {knob.name}")
        if source.endswith("on the command line"):
            what = f"{knob.name}= on the command line"
        raise ConfigError(f"{what} is '{text}'; {error}.") from None


def _read_file(path: Path) -> dict[str, str]:
    from .config._strict import check_keys, load_mapping

    data = load_mapping(path)
    check_keys(path, data, required=(), optional=[k.name for k in KNOBS if k.file])
    out = {}
    for key, value in data.items():
        if isinstance(value, list):
            value = " ".join(map(str, value))
        if isinstance(value, bool):
            value = "1" if value else "0"
        out[key] = "" if value is None else str(value)
    return out


_installed: Settings | None = None


def install(settings: Settings | None) -> Settings | None:
    """Make `settings` the run's settings (an entry point calls this once; None: back to the env)."""
    global _installed
    _installed = settings
    return settings


def current() -> Settings:
    """The installed settings; without an entry point (a library call, a test), this process's env."""
    return _installed if _installed is not None else resolve(os.environ)
