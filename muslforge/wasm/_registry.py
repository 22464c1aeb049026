"""The syscall table: each group module (files, memory, time, process) registers its handlers here.

Every row of muslforge's syscall table gets a decision: a handler (`@syscall`), or a refusal
(`refuse(errno, reason, names...)`, refused.py) with the errno Linux gives in the same situation and
why. docs/wasm32-syscalls.md is generated from both (decisions.py); a test checks that the names
decided here are exactly the table's rows. Aliases (the table's `alias` rows: fcntl for fcntl64) are
never registered: the host resolves them through the table, so the table is the one list of names.

A handler is `fn(proc, *args) -> int` where args are the raw i32 arguments (signed, as wasmtime passes
them) and `proc` is the running host.Process. It returns the result or raises errors.Errno; trailing
parameters with defaults are optional (the import may declare fewer, e.g. openat without a mode).
"""

from __future__ import annotations

from collections.abc import Callable

Handler = Callable[..., int]
SYSCALLS: dict[str, Handler] = {}
REFUSED: dict[str, tuple[int, str]] = {}     # name -> (errno, why)


def syscall(*names: str) -> Callable[[Handler], Handler]:
    """Register the decorated handler as env.__syscall_<name> for each name."""
    def register(fn: Handler) -> Handler:
        for name in names:
            if name in SYSCALLS:
                raise RuntimeError(f"syscall {name} registered twice")
            SYSCALLS[name] = fn
        return fn
    return register


def refuse(errno: int, reason: str, *names: str) -> None:
    """Record that env.__syscall_<name> answers -errno for each name, and why (one sentence)."""
    for name in names:
        if name in SYSCALLS or name in REFUSED:
            raise RuntimeError(f"syscall {name} decided twice")
        REFUSED[name] = (errno, reason)
