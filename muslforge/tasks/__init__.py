"""The only package that speaks doit: it turns muslforge's domain modules into task dicts.

Task actions are module-level functions (picklable for `doit -n 2`) that reload what they need by name,
and run through `guarded`, which turns a MuslforgeError into a clean doit failure without a traceback.
"""

from __future__ import annotations

from typing import Any, Callable

from doit.exceptions import TaskFailed

from ..errors import MuslforgeError


def guarded(fn: Callable[..., Any], **kwargs: Any):
    try:
        fn(**kwargs)
    except MuslforgeError as error:
        return TaskFailed(str(error))
    return None


def action(fn: Callable[..., Any], **kwargs: Any) -> tuple:
    """A doit python-action calling fn(**kwargs) under `guarded`."""
    return (guarded, [fn], kwargs)
