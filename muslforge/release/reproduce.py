"""Is the release reproducible, and did tonight's run regress?

`verify` checks dist/<version>/ against its SHA256SUMS, rebuilds the same arches from clean in another
build directory (a fresh doit database, so every step runs again) into another dist folder, and compares
the two byte for byte. A difference names the file and, for a tarball, the first member that differs
(member lists and contents are compared after decompression).

The nightly run's summary and regressions are muslforge.release.nightly's.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import time
import uuid
from pathlib import Path

from . import manifest
from .. import paths, proc
from ..errors import MuslforgeError
from ..progress import summary, title

MEMBER_FIELDS = ("type", "mode", "uid", "gid", "uname", "gname", "mtime", "linkname", "size")
DODO = paths.CHECKOUT / "dodo.py"  # the default dodo file of the nested doit runs


# ---------------------------------------------------------------------------------------- comparing

def compare_dirs(expected: Path, actual: Path) -> list[str]:
    """One line per file that differs between two release folders (empty when they are identical)."""
    names = sorted({p.name for p in expected.iterdir()} | {p.name for p in actual.iterdir()})
    problems = []
    for name in names:
        a, b = expected / name, actual / name
        if not a.is_file() or not b.is_file():
            problems.append(f"{name}: only in {a.parent if a.is_file() else b.parent}")
        elif a.read_bytes() != b.read_bytes():
            problems.append(f"{name}: {describe_difference(a, b)}")
    return problems


def describe_difference(a: Path, b: Path) -> str:
    if a.name.endswith(".tar.xz"):
        return first_member_difference(a, b)
    if a.name.endswith(".json"):
        try:
            return first_json_difference(json.loads(a.read_text()), json.loads(b.read_text()))
        except ValueError:
            pass
    return first_line_difference(a, b)


def first_json_difference(x, y, where: str = "") -> str:
    """'toolchain.rootfs_sha256: "ab.." vs null': the first differing key, in sorted key order."""
    if isinstance(x, dict) and isinstance(y, dict):
        for key in sorted(set(x) | set(y)):
            if x.get(key, ...) != y.get(key, ...):
                return first_json_difference(x.get(key), y.get(key), f"{where}.{key}" if where else key)
    if isinstance(x, list) and isinstance(y, list) and len(x) == len(y):
        for index, (u, v) in enumerate(zip(x, y)):
            if u != v:
                return first_json_difference(u, v, f"{where}[{index}]")
    return f"{where or 'the document'}: {json.dumps(x)[:120]} vs {json.dumps(y)[:120]}"


def first_line_difference(a: Path, b: Path) -> str:
    lines_a = a.read_text(errors="replace").splitlines()
    lines_b = b.read_text(errors="replace").splitlines()
    for number, (x, y) in enumerate(zip(lines_a, lines_b), 1):
        if x != y:
            return f"line {number} differs: {x.strip()!r} vs {y.strip()!r}"
    return f"{len(lines_a)} vs {len(lines_b)} lines"


def first_member_difference(a: Path, b: Path) -> str:
    """The first tar member whose name, attributes or contents differ (after decompressing both)."""
    with tarfile.open(a, "r:xz") as ta, tarfile.open(b, "r:xz") as tb:
        ma, mb = ta.getmembers(), tb.getmembers()
        for index, (x, y) in enumerate(zip(ma, mb)):
            if x.name != y.name:
                return f"member #{index} is {x.name} in one and {y.name} in the other (member lists differ)"
            fields = [f for f in MEMBER_FIELDS if getattr(x, f) != getattr(y, f)]
            if fields:
                return f"member {x.name}: " + ", ".join(
                    f"{f} {getattr(x, f)!r} vs {getattr(y, f)!r}" for f in fields)
            if x.isfile() and _read(ta, x) != _read(tb, y):
                return f"member {x.name}: contents differ (same size {x.size})"
        if len(ma) != len(mb):
            extra = (ma if len(ma) > len(mb) else mb)[min(len(ma), len(mb))]
            return f"member lists differ in length ({len(ma)} vs {len(mb)}); first extra member {extra.name}"
    return ("same members, attributes and contents: the compressed bytes differ (another xz encoder "
            "version or settings) or the tar padding does")


def _read(tar: tarfile.TarFile, member: tarfile.TarInfo) -> bytes:
    handle = tar.extractfile(member)
    return handle.read() if handle else b""


def diffoscope_hint(a: Path, b: Path) -> str:
    if shutil.which("diffoscope"):
        return f"For a full report: diffoscope {a} {b}"
    return f"For a full report install diffoscope (apt-get install diffoscope) and run: diffoscope {a} {b}"


# ---------------------------------------------------------------------------------------- verify

def doit_argv(*args: str, dodo: Path | None = None) -> list[str]:
    return [sys.executable, "-m", "doit", "run", "-f", str(dodo or DODO), *args]


def verify(release: Path, *, workdir: Path, log: Path, keep: bool = False, dodo: Path | None = None) -> Path:
    """Rebuild the arches of `release` from clean under workdir and compare; return the rebuilt folder."""
    recorded = manifest.check_dist(release)
    started = time.monotonic()
    run_dir = workdir / f"run-{uuid.uuid4().hex[:8]}"
    env = {"MUSLFORGE_BUILD_DIR": str(run_dir / "build"), "MUSLFORGE_DIST_DIR": str(run_dir / "dist"),
           **_epoch_env(recorded)}
    arches = ",".join(sorted(recorded["arches"]))
    log.parent.mkdir(parents=True, exist_ok=True)
    log.unlink(missing_ok=True)
    proc.run(doit_argv("release", f"arches={arches}", f"musl={recorded['musl']['version']}",
                       f"toolchain={recorded['toolchain']['name']}", dodo=dodo),
             cwd=paths.CHECKOUT, env=env, log=log)
    rebuilt = run_dir / "dist" / release.name
    problems = compare_dirs(release, rebuilt)
    if problems:
        raise MuslforgeError(f"{release} is not reproducible: a clean rebuild in {run_dir} differs.\n"
                             + "\n".join(f"  {p}" for p in problems)
                             + f"\n{diffoscope_hint(release, rebuilt)}")
    summary(title("VERIFY", f"{release}: {len(recorded['outputs'])} tarball(s), manifest.json and "
                            f"SHA256SUMS identical after a clean rebuild ({time.monotonic() - started:.0f} s)"))
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return rebuilt


def _epoch_env(recorded: dict) -> dict[str, str]:
    """SOURCE_DATE_EPOCH for the rebuild: exported only when the release was not made with the default
    (the musl release date), so the rebuild sees the same environment as an ordinary release."""
    from ..config.musl import load_releases

    release = load_releases(paths.SOURCES_DIR / "musl.yaml").get(recorded["musl"]["version"])
    default = release.source_date_epoch
    from ..settings import current
    if recorded["source_date_epoch"] == default and current().source_date_epoch is None:
        return {}
    return {"SOURCE_DATE_EPOCH": str(recorded["source_date_epoch"])}
