"""The only package that speaks doit: it turns muslforge's domain modules into task dicts.

Everything of ours that doit calls goes through an adapter that turns a MuslforgeError into a clean
doit message instead of a traceback (real bugs keep theirs):

- actions: `action(fn, ...)` runs fn under `guarded`; an error is a TaskFailed (exit 1);
- task creators: `@creator`; an error is doit's InvalidDodoFile (one line, exit 3);
- uptodate callables: `uptodate(fn, ...)`; an error counts as "not up to date", so the task's action
  runs and reports it;
- Ctrl-C: `exit_on_interrupt()` makes it print one line and exit 130, after the usual cleanup.

An action that writes an output other runs may write too holds that output's lock in the build dir
(build/locks/<name>.lock) while it runs, so two doit runs in one build dir take turns.
"""

from __future__ import annotations

import contextlib
import functools
import inspect
import multiprocessing
import signal
import sys
from typing import Any, Callable

from doit.exceptions import InvalidDodoFile, TaskFailed

from .. import lock as locks
from .. import paths
from ..errors import MuslforgeError

INTERRUPTED_STATUS = 130  # 128 + SIGINT, what shells report for a run stopped with Ctrl-C


def guarded(fn: Callable[..., Any], lock: str | None = None, **kwargs: Any):
    try:
        with _output_lock(lock):
            fn(**kwargs)
    except MuslforgeError as error:
        return TaskFailed(str(error))
    return None


def action(fn: Callable[..., Any], *, lock: str | None = None, **kwargs: Any) -> tuple:
    """A doit python-action calling fn(**kwargs) under `guarded`, holding the build dir's lock named
    `lock` (e.g. 'sysroot-x86_64') when given."""
    return (guarded, [fn, lock], kwargs)


def _output_lock(name: str | None):
    if name is None:
        return contextlib.nullcontext()
    return locks.held(paths.build_dir() / "locks" / f"{name}.lock", f"{name} in {paths.build_dir()}")


def checked_uptodate(fn: Callable[..., bool], *args: Any) -> bool:
    try:
        return bool(fn(*args))
    except MuslforgeError:
        return False  # the action runs and reports the same error as a clean task failure


def uptodate(fn: Callable[..., bool], *args: Any) -> tuple:
    """A doit uptodate entry calling fn(*args) under `checked_uptodate`."""
    return (checked_uptodate, [fn, *args], {})


def creator(fn: Callable[..., Any]) -> Callable[..., Any]:
    """Wrap a task creator (a function returning a task dict, or a generator of them)."""
    @functools.wraps(fn)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        try:
            made = fn(*args, **kwargs)
            return list(made) if inspect.isgenerator(made) else made
        except MuslforgeError as error:
            raise InvalidDodoFile(str(error)) from None
    return wrapper


def prepare_build_dir() -> None:
    """Make the build dir before doit opens its database in it (a missing folder crashes even
    `doit list`); a MUSLFORGE_BUILD_DIR naming a file is one clean line."""
    try:
        paths.usable_dir(paths.build_dir(), "MUSLFORGE_BUILD_DIR")
    except MuslforgeError as error:
        raise InvalidDodoFile(str(error)) from None


class Interrupted(SystemExit):
    """Ctrl-C: doit's runner lets SystemExit through (saving what finished); exit status 130. Under
    `doit -n N` a worker sends the class to the parent, which re-raises it: same status."""

    def __init__(self, *_: object):
        super().__init__(INTERRUPTED_STATUS)


def _on_interrupt(signum: int, frame: object) -> None:
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not interrupt the cleanup
    if multiprocessing.parent_process() is None:  # once, not again from each `doit -n N` worker
        print("muslforge: interrupted", file=sys.stderr, flush=True)
    raise Interrupted()


def exit_on_interrupt() -> None:
    """Ctrl-C during any task: the task's cleanup runs, one line 'interrupted', exit status 130."""
    signal.signal(signal.SIGINT, _on_interrupt)
