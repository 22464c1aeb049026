"""Smoke programs: compile each tests/smoke/*.c (and tests/smoke/<arch>/*.c) against a sysroot, run it
for the arch (natively, under qemu-user, or in the wasm32 embedder) and compare with what it must print.

Each program `name.c` comes with `name.expected` (exact stdout) and optionally `name.args` (one argument
a line) and `name.status` (the exit status, default 0). Every program runs in a fresh empty directory.
"""

from __future__ import annotations

import difflib
import json
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from .. import proc
from ..backend import Backend, Session
from .cc import cc_argv, require_sysroot
from ..config.arch import Arch, RunMode
from ..errors import MuslforgeError
from ..files import write_atomically
from ..progress import Counter, summary, title
from .runner import run_argv

SMOKE_ENV = {"MUSLFORGE_SMOKE": "1"}


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    source: Path
    expected: str
    args: tuple[str, ...]
    status: int


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    passed: bool
    status: int
    seconds: float
    detail: str = ""


def discover(smoke_dir: Path, arch: Arch) -> list[Program]:
    sources = sorted(smoke_dir.glob("*.c")) + sorted((smoke_dir / arch.name).glob("*.c"))
    return [_program(source) for source in sources]


def _program(source: Path) -> Program:
    def sidecar(ext: str) -> Path:
        return source.with_suffix(ext)
    if not sidecar(".expected").is_file():
        raise MuslforgeError(f"{source}: smoke program has no {sidecar('.expected').name} with its expected output.")
    args = tuple(sidecar(".args").read_text().splitlines()) if sidecar(".args").is_file() else ()
    status = int(sidecar(".status").read_text().strip()) if sidecar(".status").is_file() else 0
    return Program(source.stem, source, sidecar(".expected").read_text(), args, status)


def run_smoke(*, arch: Arch, sysroot: Path, backend: Backend, smoke_dir: Path, workdir: Path,
              report: Path, log: Path) -> list[Outcome]:
    """Compile and run every smoke program; write a JSON report; MuslforgeError if any failed."""
    require_sysroot(sysroot, arch)
    programs = discover(smoke_dir, arch)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    counter = Counter(title("SMOKE", arch.name), unit="programs", total=len(programs))
    outcomes = []
    with backend.session({sysroot: "ro", smoke_dir: "ro", workdir: "rw"}) as session:
        for program in programs:
            outcomes.append(_compile_and_run(program, arch, sysroot, backend, session, workdir, log))
            counter.step()
    counter.done()
    _write_report(report, arch, backend, outcomes)
    failed = [o for o in outcomes if not o.passed]
    how = "linked, not run: link-only arch" if arch.run is RunMode.LINK_ONLY else f"{backend.name} backend"
    summary(title("SMOKE", f"{arch.name}: {len(outcomes) - len(failed)}/{len(outcomes)} passed ({how})"))
    if failed:
        details = "\n".join(f"--- {o.name}: {o.detail}" for o in failed)
        raise MuslforgeError(f"{len(failed)} smoke program(s) failed for {arch.name}: "
                             f"{', '.join(o.name for o in failed)}. Log: {log}\n{details}")
    return outcomes


def _compile_and_run(program: Program, arch: Arch, sysroot: Path, backend: Backend, session: Session,
                     workdir: Path, log: Path) -> Outcome:
    started = time.monotonic()
    binary = workdir / (program.name + (".wasm" if arch.run is RunMode.EMBEDDER else ""))
    argv = cc_argv(backend.toolchain, arch, sysroot, ["-O2", str(program.source), "-o", str(binary)])
    try:
        session.run(argv, cwd=workdir, log=log, on_line=lambda line: None)
    except MuslforgeError as failure:
        return Outcome(program.name, False, -1, time.monotonic() - started, f"did not compile: {failure}")
    if arch.run is RunMode.LINK_ONLY:
        return Outcome(program.name, True, 0, time.monotonic() - started, "linked; not run (link-only arch)")
    rundir = workdir / f"run-{program.name}"
    rundir.mkdir()
    status, out, err = _run(arch, session, binary, program, rundir)
    _log_run(log, program, status, out, err)
    detail = _judge(program, status, out.decode(errors="replace"), err.decode(errors="replace"))
    return Outcome(program.name, not detail, status, time.monotonic() - started, detail)


def _run(arch: Arch, session: Session, binary: Path, program: Program, rundir: Path):
    argv = run_argv(arch, binary, list(program.args), root=rundir)
    if arch.run is RunMode.EMBEDDER:  # the embedder is muslforge's own Python: always on the host
        return proc.capture(argv, cwd=rundir, env=SMOKE_ENV, timeout=120)
    return session.capture(argv, cwd=rundir, env=SMOKE_ENV, timeout=120)


def _judge(program: Program, status: int, out: str, err: str) -> str:
    problems = []
    if status != program.status:
        problems.append(f"exit status {status}, expected {program.status}")
    if out != program.expected:
        diff = difflib.unified_diff(program.expected.splitlines(), out.splitlines(), "expected", "got",
                                    lineterm="", n=1)
        problems.append("stdout differs:\n" + "\n".join(list(diff)[:40]))
    if problems and err.strip():
        problems.append("stderr:\n" + err.strip()[-2000:])
    return "; ".join(problems)


def _log_run(log: Path, program: Program, status: int, out: bytes, err: bytes) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"== {program.name}: exit {status}\n-- stdout\n{out.decode(errors='replace')}"
                f"-- stderr\n{err.decode(errors='replace')}\n")


def _write_report(report: Path, arch: Arch, backend: Backend, outcomes: list[Outcome]) -> None:
    data = {"arch": arch.name, "backend": backend.name, "programs": [asdict(o) for o in outcomes],
            "passed": all(o.passed for o in outcomes)}
    write_atomically(report, json.dumps(data, indent=2) + "\n")
