"""muslforge's reference embedder: runs wasm32 musl programs on wasmtime.

A module imports its syscalls as env.__syscall_<linux name> (all i32 in, i32 out: the value or -errno)
and exports memory, __heap_base and _start(i32). See docs/wasm32-abi.md and muslforge/wasm/host.py.
wasmtime is imported only when a program runs.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from .errors import EmbedderError

__all__ = ["EmbedderError", "main", "run"]


def run(wasm: Path, argv: Sequence[str], *, env: Mapping[str, str] | None = None, root: Path | None = None,
        trace: bool = False, stdin: Any = None, stdout: Any = None, stderr: Any = None,
        mounts: Sequence[Any] = (), cwd: str | None = None, tmp: Path | None = None,
        timeout: float | None = None, max_memory: int | None = None, max_threads: int | None = None,
        net: Any = None, processes: Any = None) -> int:
    """Run `wasm` as a process and return its exit status.

    argv is the guest's whole argv, argv[0] included (empty: [str(wasm)]). env is the whole
    environment (None: this process's, as a native program would inherit it). The guest sees `mounts`
    (mounts.MountSpec: host directory, guest path, read-only) or, without any, `root` (default: the
    current directory) at its own absolute path; `cwd` is its working directory (default: the first
    mount); `tmp` a host directory to show as /tmp (default: a private one). `timeout` (seconds) stops
    it with status 124; `max_memory` (bytes) caps its linear memory; `max_threads` caps the threads a
    wasm32-threads program runs at once (default 64; beyond it pthread_create fails with EAGAIN); `net`
    (sockets.NetPolicy) what it may connect and bind to (default: nothing, EACCES); `processes`
    (children.ProcessOptions) the wasm shell /bin/sh names, and a child embedder's inherited fds. See
    docs/wasm32-abi.md, sections 6 and 9.
    stdin/stdout/stderr are binary streams (a text stream's .buffer is used); None means this
    process's. trace=True prints every syscall with its arguments and result to stderr.

    Exit status: the guest's exit status; 128 + signal for a fatal signal it sent itself (abort():
    134); 134 after a trap, which is reported with its wasm backtrace on stderr. Raises EmbedderError
    when the module can't run here (unreadable, invalid, missing imports or exports). See README.md.
    """
    from .host import execute

    return execute(Path(wasm), argv, env=env, root=root, trace=trace, stdin=stdin, stdout=stdout,
                   stderr=stderr, mounts=mounts, cwd=cwd, tmp=tmp, timeout=timeout, max_memory=max_memory,
                   net=net, processes=processes, **({} if max_threads is None else {"max_threads": max_threads}))


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m muslforge.wasm [--dir D] [--env K=V]... [--clear-env] [--trace] prog.wasm [args...]`."""
    from .cli import main as cli_main

    return cli_main(argv)
