"""The syscall table: each group module (files, memory, time, process) registers its handlers here.

A handler is `fn(proc, *args) -> int` where args are the raw i32 arguments (signed, as wasmtime passes
them) and `proc` is the running host.Process. It returns the result or raises errors.Errno; trailing
parameters with defaults are optional (the import may declare fewer, e.g. openat without a mode).
"""

from __future__ import annotations

from collections.abc import Callable

Handler = Callable[..., int]
SYSCALLS: dict[str, Handler] = {}


def syscall(*names: str) -> Callable[[Handler], Handler]:
    """Register the decorated handler as env.__syscall_<name> for each name."""
    def register(fn: Handler) -> Handler:
        for name in names:
            if name in SYSCALLS:
                raise RuntimeError(f"syscall {name} registered twice")
            SYSCALLS[name] = fn
        return fn
    return register
