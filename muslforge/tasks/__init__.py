"""The only package that speaks doit: it turns muslforge's domain modules into task dicts.

Task actions are module-level functions (picklable for `doit -n 2`) that reload what they need by name,
and run through `guarded`, which turns a MuslforgeError into a clean doit failure without a traceback.
An action that writes an output other runs may write too holds that output's lock in the build dir
(build/locks/<name>.lock) while it runs, so two doit runs in one build dir take turns.
"""

from __future__ import annotations

import contextlib
from typing import Any, Callable

from doit.exceptions import TaskFailed

from .. import lock as locks
from .. import paths
from ..errors import MuslforgeError


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
