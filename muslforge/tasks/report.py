"""What a run reports around its tasks: the resolved settings first; for `doit nightly`, every task's
result, written as the nightly summary when the run ends (muslforge.release.nightly); the `settings` task.

doit runs the nightly's tasks itself, in one run with one database (no doit inside doit), and keeps
going past a failure (wants_continue); this reporter is doit's own hook for seeing each result.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from doit.exceptions import UnmetDependency
from doit.reporter import ConsoleReporter

from .. import settings
from . import action
from .context import Context, load
from ..progress import title


def banner(ctx: Context) -> str:
    """One line: what this run builds with, and any setting not at its default."""
    chosen = settings.current()
    changed = [f"{name}={_shown(getattr(chosen, name))}" for name, _ in chosen.origin
               if name not in ("musl", "toolchain", "backend", "build_dir")]
    extra = f"; {', '.join(changed)}" if changed else ""
    return title("SETTINGS", f"musl {ctx.release.version}, toolchain {ctx.toolchain.name}, backend "
                             f"{ctx.backend} (asked: {chosen.backend}), build {chosen.build_dir}{extra} "
                             f"(all: doit settings)") + "\n"


def _shown(value) -> str:
    return ",".join(map(str, value)) if isinstance(value, tuple) else str(value)


NIGHTLY = "nightly"


def wants_continue(argv: list[str] | None = None) -> bool:
    """True when the command line asks for the nightly task: the run then keeps going past failures."""
    return any(arg == NIGHTLY or arg.startswith(NIGHTLY + ":") for arg in (sys.argv if argv is None else argv))


class Reporter(ConsoleReporter):
    """doit's console reporter, opening every run with the resolved settings and, when the run includes
    the nightly task, recording every task's result for the nightly summary."""

    def initialize(self, tasks, selected_tasks):
        super().initialize(tasks, selected_tasks)
        self.write(banner(load()))
        self.nightly = NIGHTLY in selected_tasks
        self.previous = str(getattr(tasks.get(NIGHTLY), "options", None) and
                            tasks[NIGHTLY].options.get("previous") or "")
        self.run_started = time.time()
        self.started: dict[str, float] = {}
        self.steps: list = []

    def execute_task(self, task):
        super().execute_task(task)
        self.started[task.name] = time.monotonic()

    def add_success(self, task):
        super().add_success(task)
        self._record(task, "pass")

    def skip_uptodate(self, task):
        super().skip_uptodate(task)
        self._record(task, "pass", "up to date")

    def add_failure(self, task, fail):
        super().add_failure(task, fail)
        if isinstance(fail, UnmetDependency):
            self._record(task, "skip", f"{fail.get_msg().strip()} did not pass")
        else:
            first = next((line for line in fail.get_msg().splitlines() if line.strip()), "failed")
            self._record(task, "fail", first.strip()[:200])

    def _record(self, task, result: str, detail: str = "") -> None:
        if not getattr(self, "nightly", False) or task.has_subtask:
            return  # the group tasks (build, smoke...) only stand for their subtasks
        seconds = max(0.0, time.monotonic() - self.started.get(task.name, time.monotonic()))
        from ..release.nightly import Step
        name = "verify" if task.name == NIGHTLY else task.name  # the nightly task's own action verifies
        self.steps.append(Step(name, result, round(seconds, 1), detail))

    def complete_run(self):
        if getattr(self, "nightly", False):
            self._write_nightly()
        super().complete_run()

    def _write_nightly(self) -> None:
        from ..release import nightly
        from .. import paths
        from .release import chosen_arches
        ctx = load()
        nightly.write_summary(self.steps, version=ctx.release.version, toolchain=ctx.toolchain.name,
                              arches=[a.name for a in chosen_arches(ctx)], folder=paths.build_dir() / NIGHTLY,
                              started=self.run_started, seconds=time.time() - self.run_started,
                              previous=Path(self.previous) if self.previous else None)


def settings_task(ctx: Context) -> dict:
    chosen = settings.current()
    return {
        "actions": [action(show_settings, backend=ctx.backend)],
        "meta": {"settings": {name: f"{value} ({origin})" for name, value, origin in chosen.items()},
                 "backend decided": ctx.backend},
        "uptodate": [False],
        "verbosity": 2,
    }


def show_settings(backend: str) -> None:
    for line in settings.current().describe():
        print(title("SETTINGS", f"{line}"))
    print(title("SETTINGS", f"{'backend (decided)':<18} {backend}"))
