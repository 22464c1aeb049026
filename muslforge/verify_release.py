"""Is the release reproducible, and did tonight's run regress?

`verify` checks dist/<version>/ against its SHA256SUMS, rebuilds the same arches from clean in another
build directory (a fresh doit database, so every step runs again) into another dist folder, and compares
the two byte for byte. A difference names the file and, for a tarball, the first member that differs
(member lists and contents are compared after decompression).

`nightly` runs fetch, the toolchain image (when dodo.py has such a task), build + smoke + package per
arch, release and verify, each as its own `doit` run so one failing arch does not hide the others; it
writes build/nightly/summary.json and summary.txt and fails when a step failed or something regressed
against the previous summary.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
import tarfile
import time
import uuid
from dataclasses import asdict, dataclass
from pathlib import Path

from . import manifest, paths, proc
from .errors import CommandFailed, MuslforgeError
from .progress import human_bytes, summary

MEMBER_FIELDS = ("type", "mode", "uid", "gid", "uname", "gname", "mtime", "linkname", "size")
DODO = paths.CHECKOUT / "dodo.py"  # the default dodo file of the nested doit runs
SIZE_GROWTH_LIMIT = 0.10  # a tarball more than 10% larger than last night's is a regression


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
    summary(f"VERIFY   {release}: {len(recorded['outputs'])} tarball(s), manifest.json and SHA256SUMS "
            f"identical after a clean rebuild ({time.monotonic() - started:.0f} s)")
    if not keep:
        shutil.rmtree(run_dir, ignore_errors=True)
    return rebuilt


def _epoch_env(recorded: dict) -> dict[str, str]:
    """SOURCE_DATE_EPOCH for the rebuild: exported only when the release was not made with the default
    (the musl release date), so the rebuild sees the same environment as an ordinary release."""
    from .config.musl import load_releases

    release = load_releases(paths.SOURCES_DIR / "musl.yaml").get(recorded["musl"]["version"])
    default = release.source_date_epoch
    if recorded["source_date_epoch"] == default and "SOURCE_DATE_EPOCH" not in os.environ:
        return {}
    return {"SOURCE_DATE_EPOCH": str(recorded["source_date_epoch"])}


# ---------------------------------------------------------------------------------------- nightly

@dataclass(frozen=True, slots=True)
class Step:
    name: str
    result: str        # pass | fail | skip
    seconds: float
    detail: str = ""


def run_step(name: str, args: list[str], log_dir: Path, *, skip_reason: str = "", dodo: Path | None = None
             ) -> Step:
    """Run one `doit` invocation; its output goes to log_dir/<name>.log."""
    if skip_reason:
        return Step(name, "skip", 0.0, skip_reason)
    log = log_dir / (name.replace(":", "-") + ".log")
    log.unlink(missing_ok=True)
    started = time.monotonic()
    try:
        proc.run(doit_argv(*args, dodo=dodo), cwd=paths.CHECKOUT, log=log, quiet=True)
    except CommandFailed:
        return Step(name, "fail", time.monotonic() - started, f"see {log}")
    return Step(name, "pass", time.monotonic() - started)


def nightly_steps(arches: list[str], common: list[str], log_dir: Path,
                  dodo: Path | None = None) -> list[Step]:
    """fetch, toolchain, then per arch build -> smoke -> package, then release and verify."""
    def step(name: str, args: list[str], skip_reason: str = "") -> Step:
        return run_step(name, [*args, *common], log_dir, skip_reason=skip_reason, dodo=dodo)

    steps = [step("fetch", ["fetch"])]
    if "toolchain" in _task_names(dodo):
        steps.append(step("toolchain", ["toolchain"]))
    packed = []
    for arch in arches:
        for verb in ("build", "smoke", "package"):
            blocked = next((s.name for s in steps if s.result != "pass" and
                            (s.name in ("fetch", "toolchain") or s.name.endswith(":" + arch))), "")
            reason = f"{blocked} did not pass" if blocked else ""
            steps.append(step(f"{verb}:{arch}", [f"{verb}:{arch}"], reason))
        if steps[-1].result == "pass":
            packed.append(arch)
    steps.append(step("release", ["release", f"arches={','.join(packed)}"],
                      "" if packed else "no arch was packaged"))
    steps.append(step("verify", ["verify"], "" if steps[-1].result == "pass" else "release did not pass"))
    return steps


def _task_names(dodo: Path | None) -> set[str]:
    listing = proc.output([sys.executable, "-m", "doit", "list", "--all", "--quiet", "-f", str(dodo or DODO)],
                          cwd=paths.CHECKOUT)
    return {line.split()[0] for line in listing.splitlines() if line.strip()}


def nightly(*, version: str, toolchain: str, arches: list[str], folder: Path,
            previous: Path | None = None, dodo: Path | None = None) -> dict:
    """Run the nightly steps, write summary.json / summary.txt in folder; error on failure or regression."""
    folder.mkdir(parents=True, exist_ok=True)
    current_file = folder / "summary.json"
    previous = previous or (current_file if current_file.is_file() else None)
    before = json.loads(previous.read_text()) if previous and previous.is_file() else None
    started = time.time()
    steps = nightly_steps(arches, [f"musl={version}", f"toolchain={toolchain}"], folder / "logs", dodo)
    report = {"musl": version, "toolchain": toolchain, "arches": arches, "started": int(started),
              "seconds": round(time.time() - started, 1), "steps": [asdict(s) for s in steps],
              "sizes": _sizes(version) if any(s.name == "release" and s.result == "pass" for s in steps)
              else {}}
    report["regressions"] = regressions(before, report)
    report["passed"] = all(s.result == "pass" for s in steps) and not report["regressions"]
    if before is not None and previous == current_file:
        shutil.copyfile(current_file, folder / "summary.previous.json")
    manifest.write_atomically(current_file, manifest.dumps(report).encode())
    table = format_table(report, before)
    manifest.write_atomically(folder / "summary.txt", table.encode())
    summary(table)
    if not report["passed"]:
        failed = [s.name for s in steps if s.result != "pass"]
        raise MuslforgeError(f"nightly: {len(failed)} step(s) did not pass ({', '.join(failed) or 'none'}); "
                             f"regressions: {'; '.join(report['regressions']) or 'none'}. "
                             f"Summary: {current_file}")
    return report


def _sizes(version: str) -> dict[str, int]:
    from .package import dist_root
    released = dist_root() / version / manifest.MANIFEST
    if not released.is_file():
        return {}
    return {name: info["size"] for name, info in json.loads(released.read_text())["outputs"].items()}


def regressions(before: dict | None, now: dict) -> list[str]:
    """Steps that passed last time and do not now (or fail with no earlier run), and tarballs that grew."""
    if before is None:
        return [f"{s['name']} {s['result']}s (no earlier summary)" for s in now["steps"]
                if s["result"] == "fail"]
    was = {s["name"]: s["result"] for s in before.get("steps", [])}
    found = [f"{s['name']} passed before and now {s['result']}s" for s in now["steps"]
             if was.get(s["name"]) == "pass" and s["result"] != "pass"]
    found += [f"{s['name']} is new and fails" for s in now["steps"]
              if s["name"] not in was and s["result"] == "fail"]
    for name, size in sorted(now.get("sizes", {}).items()):
        old = before.get("sizes", {}).get(name)
        if old and size > old * (1 + SIZE_GROWTH_LIMIT):
            found.append(f"{name} grew from {human_bytes(old)} to {human_bytes(size)}")
    return found


def format_table(report: dict, before: dict | None) -> str:
    """The human-readable summary: one row per step, one per tarball, then the verdict."""
    was = {s["name"]: s["result"] for s in (before or {}).get("steps", [])}
    rows = [f"NIGHTLY  musl-{report['musl']} {report['toolchain']} ({report['seconds']:.0f} s)",
            f"{'step':<24} {'result':<6} {'time':>9}  {'last run':<8} detail"]
    for s in report["steps"]:
        rows.append(f"{s['name']:<24} {s['result']:<6} {s['seconds']:>7.1f} s  {was.get(s['name'], '-'):<8} "
                    f"{s['detail']}".rstrip())
    old_sizes = (before or {}).get("sizes", {})
    for name, size in sorted(report["sizes"].items()):
        change = f" ({(size - old_sizes[name]) / old_sizes[name]:+.1%})" if old_sizes.get(name) else ""
        rows.append(f"{name:<48} {human_bytes(size):>10}{change}")
    verdict = "PASSED" if report["passed"] else "FAILED"
    rows.append(f"{verdict}: " + ("; ".join(report["regressions"]) or "no regressions"))
    return "\n".join(rows) + "\n"
