"""The nightly summary: what each task of a `doit nightly` run did, compared with last night's.

doit runs the tasks itself (`doit nightly` keeps going past a failure, as `doit --continue` does);
muslforge.tasks.report records each task's result and hands them here at the end of the run. The summary
goes to build/nightly/summary.json and summary.txt (the previous one kept as summary.previous.json);
the run fails when a task failed, and the summary names regressions: a task that passed last time and
does not now, a new task that fails, a tarball more than 10% larger. No doit here, no processes.
"""

from __future__ import annotations

import json
import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

from . import manifest
from ..files import write_atomically
from ..progress import human_bytes, summary, title

SIZE_GROWTH_LIMIT = 0.10  # a tarball more than 10% larger than last night's is a regression


@dataclass(frozen=True, slots=True)
class Step:
    name: str
    result: str        # pass | fail | skip
    seconds: float
    detail: str = ""


def write_summary(steps: list[Step], *, version: str, toolchain: str, arches: list[str], folder: Path,
                  started: float, seconds: float, previous: Path | None = None) -> dict:
    """summary.json and summary.txt in folder (the old summary kept aside); print the table; return it."""
    folder.mkdir(parents=True, exist_ok=True)
    current_file = folder / "summary.json"
    previous = previous or (current_file if current_file.is_file() else None)
    before = json.loads(previous.read_text()) if previous and previous.is_file() else None
    report = {"musl": version, "toolchain": toolchain, "arches": arches, "started": int(started),
              "seconds": round(seconds, 1), "steps": [asdict(s) for s in steps],
              "sizes": _sizes(version) if any(s.name == "release" and s.result == "pass" for s in steps)
              else {}}
    report["regressions"] = regressions(before, report)
    report["passed"] = all(s.result == "pass" for s in steps) and not report["regressions"]
    if before is not None and previous == current_file:
        shutil.copyfile(current_file, folder / "summary.previous.json")
    write_atomically(current_file, manifest.dumps(report))
    table = format_table(report, before)
    write_atomically(folder / "summary.txt", table)
    summary(table)
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
    rows = [title("NIGHTLY", f"musl-{report['musl']} {report['toolchain']} ({report['seconds']:.0f} s)"),
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
