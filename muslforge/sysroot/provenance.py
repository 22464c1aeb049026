"""What really built a sysroot: the backend, the compiler's own version string and the versions of the
compiler packages installed where it ran, compared with the toolchain's pins.

`record()` asks the backend that did the build (so the Docker image's packages for the docker backend,
this machine's for the host backend); `write()` puts the record in build/provenance/<arch>.json, beside
the sysroot rather than in it. Packaging copies it into the release part, and refuses a sysroot that
was not built with the pinned versions unless an unpinned release is asked for (MUSLFORGE_UNPINNED=1 or
`doit ... unpinned=1`); the manifest then says `"pinned": false`.
"""

from __future__ import annotations

import contextlib

import json
import re
from pathlib import Path

from .. import paths
from ..errors import MuslforgeError, ToolMissing

ENV_UNPINNED = "MUSLFORGE_UNPINNED"
# The packages whose versions decide the compiled bytes (make and qemu do not).
COMPILER_PACKAGE = re.compile(r"^(clang|lld|llvm|libclang)")


def record_path(arch: str) -> Path:
    return paths.build_dir() / "provenance" / f"{arch}.json"


def pinned_packages(toolchain) -> dict[str, str]:
    """{package: version} of the toolchain's compiler packages, as pinned in its image section."""
    pins = {}
    for spec in toolchain.image.packages:
        name, _, version = spec.partition("=")
        if COMPILER_PACKAGE.match(name) and version:
            pins[name] = version
    return pins


def record(backend, cwd: Path, session=None) -> dict:
    """The backend, compiler and compiler package versions where backend runs, and whether they are the
    pinned ones; asked in `session` when given (a build's own container), else in a session of its own."""
    toolchain = backend.toolchain
    pins = pinned_packages(toolchain)
    with contextlib.nullcontext(session) if session is not None else backend.session({cwd: "rw"}) as where:
        installed = _installed(where, sorted(pins), cwd)
        version = _version_line(where, toolchain.cc, cwd)
    return {"backend": backend.name, "image": getattr(backend, "image", None),
            "compiler": {"cc": toolchain.cc, "version": version},
            "packages": installed,
            "pinned": all(installed.get(name) == version for name, version in pins.items())}


def _version_line(session, cc: str, cwd: Path) -> str | None:
    try:
        status, out, _ = session.capture([cc, "--version"], cwd=cwd)
    except ToolMissing:
        return None
    lines = out.decode(errors="replace").splitlines()
    return lines[0].strip() if status == 0 and lines else None


def _installed(session, names: list[str], cwd: Path) -> dict[str, str | None]:
    """{package: installed version or None}, from dpkg-query where the session runs."""
    found: dict[str, str | None] = {name: None for name in names}
    if not names:
        return found
    try:
        _, out, _ = session.capture(["dpkg-query", "-W", "-f=${Package}=${Version}\\n", *names], cwd=cwd)
    except ToolMissing:  # not a Debian host: nothing is known to be pinned
        return found
    for line in out.decode(errors="replace").splitlines():
        name, _, version = line.partition("=")
        if name in found and version:
            found[name] = version
    return found


def write(arch: str, data: dict) -> Path:
    from ..files import write_atomically
    return write_atomically(record_path(arch), json.dumps(data, sort_keys=True, indent=2) + "\n")


def read(arch: str) -> dict:
    path = record_path(arch)
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise MuslforgeError(f"{path}: no readable record of what built the {arch} sysroot; build it "
                             f"again: doit build:{arch}") from None


def unpinned_allowed(flag: str | None = None) -> bool:
    """An unpinned release was asked for: `unpinned=1` (doit variable, passed as flag), or the
    unpinned setting (MUSLFORGE_UNPINNED=1)."""
    if flag is not None:
        return flag.strip().lower() in ("1", "yes", "true")
    from .. import settings

    return settings.current().unpinned


def check_pinned(arch: str, data: dict, toolchain, allow_unpinned: bool) -> None:
    """Refuse a sysroot not built with the toolchain's pinned compiler packages, naming each one."""
    if data.get("pinned") or allow_unpinned:
        return
    pins = pinned_packages(toolchain)
    found = data.get("packages", {})
    wrong = [f"{name} {found.get(name) or 'not installed'} (pinned {version})"
             for name, version in sorted(pins.items()) if found.get(name) != version]
    raise MuslforgeError(
        f"The {arch} sysroot was not built with the pinned {toolchain.name} toolchain: "
        f"{'; '.join(wrong) or 'unknown packages'} ({data.get('backend')} backend, "
        f"{(data.get('compiler') or {}).get('version')}). Build it in the pinned image "
        f"(MUSLFORGE_BACKEND=docker doit build:{arch}), or release it as unpinned: "
        f"{ENV_UNPINNED}=1 (or unpinned=1); the manifest then says so.")
