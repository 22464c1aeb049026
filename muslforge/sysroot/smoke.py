"""Smoke programs: compile each tests/smoke/*.c (and tests/smoke/<arch>/*.c) against a sysroot, run it
for the arch (natively, under qemu-user, or in the wasm32 embedder) and compare with what it must print.

Each program `name.c` comes with `name.expected` (exact stdout) and optionally `name.args` (one argument
a line), `name.status` (the exit status, default 0) and `name.link` (extra link arguments, one a line).
Every program runs in a fresh empty directory.

On arches with shared support every program is linked and run three ways: static, static-PIE and
dynamic (against the sysroot's libc.so and loader). tests/smoke/dynamic/*.c run dynamically only; they
may use the shared libraries built first from tests/smoke/dynamic/lib/<name>.c into lib<name>.so beside
them (found at run time through the programs' $ORIGIN run path).
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
from ..config.arch import Arch, RunMode
from ..errors import MuslforgeError
from ..files import write_atomically
from ..progress import Counter, summary, title
from .cc import cc_argv, require_sysroot
from .flags import Linkage
from .runner import run_argv

SMOKE_ENV = {"MUSLFORGE_SMOKE": "1"}


DYNAMIC_DIR = "dynamic"
LIBRARY_DIR = "lib"


@dataclass(frozen=True, slots=True)
class Program:
    name: str
    source: Path
    expected: str
    args: tuple[str, ...]
    status: int
    link: tuple[str, ...] = ()
    modes: tuple[Linkage, ...] = (Linkage.STATIC,)


@dataclass(frozen=True, slots=True)
class Outcome:
    name: str
    passed: bool
    status: int
    seconds: float
    detail: str = ""


def link_modes(arch: Arch) -> tuple[Linkage, ...]:
    """How the common programs are linked for an arch: static only, or static, static-PIE and dynamic."""
    if not arch.shared or arch.run is RunMode.EMBEDDER:
        return (Linkage.STATIC,)
    return (Linkage.STATIC, Linkage.STATIC_PIE, Linkage.DYNAMIC)


def discover(smoke_dir: Path, arch: Arch) -> list[Program]:
    sources = sorted(smoke_dir.glob("*.c")) + sorted((smoke_dir / arch.name).glob("*.c"))
    programs = [_program(source, link_modes(arch)) for source in sources]
    if Linkage.DYNAMIC in link_modes(arch):
        programs += [_program(source, (Linkage.DYNAMIC,)) for source in sorted((smoke_dir / DYNAMIC_DIR).glob("*.c"))]
    return programs


def libraries(smoke_dir: Path, arch: Arch) -> list[Path]:
    """Sources of the shared libraries the dynamic programs use (none on static-only arches)."""
    if Linkage.DYNAMIC not in link_modes(arch):
        return []
    return sorted((smoke_dir / DYNAMIC_DIR / LIBRARY_DIR).glob("*.c"))


def _program(source: Path, modes: tuple[Linkage, ...]) -> Program:
    def sidecar(ext: str) -> Path:
        return source.with_suffix(ext)

    def lines(ext: str) -> tuple[str, ...]:
        return tuple(sidecar(ext).read_text().splitlines()) if sidecar(ext).is_file() else ()
    if not sidecar(".expected").is_file():
        raise MuslforgeError(f"{source}: smoke program has no {sidecar('.expected').name} with its expected output.")
    status = int(sidecar(".status").read_text().strip()) if sidecar(".status").is_file() else 0
    return Program(source.stem, source, sidecar(".expected").read_text(), lines(".args"), status,
                   lines(".link"), modes)


def run_smoke(*, arch: Arch, sysroot: Path, backend: Backend, smoke_dir: Path, workdir: Path,
              report: Path, log: Path) -> list[Outcome]:
    """Compile and run every smoke program; write a JSON report; MuslforgeError if any failed."""
    require_sysroot(sysroot, arch)
    programs = discover(smoke_dir, arch)
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    counter = Counter(title("SMOKE", arch.name), unit="programs", total=sum(len(p.modes) for p in programs))
    with backend.session({sysroot: "ro", smoke_dir: "ro", workdir: "rw"}) as session:  # one container
        build = Build(arch, sysroot, backend, session, workdir, log)
        outcomes = [_build_library(source, build) for source in libraries(smoke_dir, arch)]
        outcomes = [o for o in outcomes if not o.passed]  # a library that built is no program that passed
        for program in programs:
            for outcome in _compile_and_run(program, build):
                outcomes.append(outcome)
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


@dataclass(frozen=True, slots=True)
class Build:
    """Where and how one arch's smoke programs are built and run."""
    arch: Arch
    sysroot: Path
    backend: Backend
    session: Session
    workdir: Path
    log: Path

    def cc(self, args: list[str], linkage: Linkage = Linkage.STATIC) -> None:
        argv = cc_argv(self.backend.toolchain, self.arch, self.sysroot, args, linkage)
        self.session.run(argv, cwd=self.workdir, log=self.log, on_line=lambda line: None)


def _build_library(source: Path, build: Build) -> Outcome:
    started = time.monotonic()
    target = build.workdir / f"lib{source.stem}.so"
    try:
        build.cc(["-O2", str(source), "-o", str(target)], Linkage.SHARED)
    except MuslforgeError as failure:
        return Outcome(target.name, False, -1, time.monotonic() - started, f"did not build: {failure}")
    return Outcome(target.name, True, 0, time.monotonic() - started)


def outcome_name(program: Program, mode: Linkage) -> str:
    """'hello' for the static build (as on static-only arches), 'hello:dynamic' for the others."""
    return program.name if mode is Linkage.STATIC else f"{program.name}:{mode.value}"


def _compile_and_run(program: Program, build: Build) -> list[Outcome]:
    """Compile once (clang's default PIE code suits every link mode), then link and run per mode."""
    started = time.monotonic()
    source = str(program.source)
    if len(program.modes) > 1:
        objfile = build.workdir / f"{program.name}.o"
        try:
            build.cc(["-O2", "-c", source, "-o", str(objfile)])
        except MuslforgeError as failure:
            return [Outcome(outcome_name(program, mode), False, -1, time.monotonic() - started,
                            f"did not compile: {failure}") for mode in program.modes]
        source = str(objfile)
    return [_link_and_run(program, mode, source, build) for mode in program.modes]


def _link_and_run(program: Program, mode: Linkage, source: str, build: Build) -> Outcome:
    started = time.monotonic()
    name = outcome_name(program, mode)
    arch = build.arch
    binary = build.workdir / (name.replace(":", "-") + (".wasm" if arch.run is RunMode.EMBEDDER else ""))
    flags = ["-O2", source, "-o", str(binary), *program.link]
    if mode is Linkage.DYNAMIC:
        flags += [f"-L{build.workdir}", "-Wl,-rpath,$ORIGIN"]
    try:
        build.cc(flags, mode)
    except MuslforgeError as failure:
        return Outcome(name, False, -1, time.monotonic() - started, f"did not compile: {failure}")
    if arch.run is RunMode.LINK_ONLY:
        return Outcome(name, True, 0, time.monotonic() - started, "linked; not run (link-only arch)")
    rundir = build.workdir / f"run-{binary.name}"
    rundir.mkdir()
    status, out, err = _run(build, binary, program, rundir)
    _log_run(build.log, name, status, out, err)
    detail = _judge(program, status, out.decode(errors="replace"), err.decode(errors="replace"))
    return Outcome(name, not detail, status, time.monotonic() - started, detail)


def _run(build: Build, binary: Path, program: Program, rundir: Path):
    argv = run_argv(build.arch, binary, list(program.args), root=rundir, sysroot=build.sysroot)
    if build.arch.run is RunMode.EMBEDDER:  # the embedder is muslforge's own Python: always on the host
        return proc.capture(argv, cwd=rundir, env=SMOKE_ENV, timeout=120)
    return build.session.capture(argv, cwd=rundir, env=SMOKE_ENV, timeout=120)


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


def _log_run(log: Path, name: str, status: int, out: bytes, err: bytes) -> None:
    log.parent.mkdir(parents=True, exist_ok=True)
    with open(log, "a", encoding="utf-8") as f:
        f.write(f"== {name}: exit {status}\n-- stdout\n{out.decode(errors='replace')}"
                f"-- stderr\n{err.decode(errors='replace')}\n")


def _write_report(report: Path, arch: Arch, backend: Backend, outcomes: list[Outcome]) -> None:
    data = {"arch": arch.name, "backend": backend.name, "programs": [asdict(o) for o in outcomes],
            "passed": all(o.passed for o in outcomes)}
    write_atomically(report, json.dumps(data, indent=2) + "\n")
