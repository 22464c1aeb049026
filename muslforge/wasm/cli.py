"""`python -m muslforge.wasm` (and `muslforge run --arch wasm32`): run one wasm32 musl program."""

from __future__ import annotations

import argparse
import os
from collections.abc import Sequence
from pathlib import Path

from ..errors import EXIT_INTERRUPTED, MuslforgeError, report
from .errors import EmbedderError
from .threads import DEFAULT_MAX_THREADS


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m muslforge.wasm",
        description="Run a wasm32 musl program on muslforge's reference embedder (wasmtime).")
    parser.add_argument("--dir", action="append", default=[], metavar="HOST[::GUEST]",
                        help="mount host directory HOST read-write at guest path GUEST (default: HOST's "
                             "absolute path); repeatable. Without any, the current directory is mounted")
    parser.add_argument("--ro-dir", action="append", default=[], metavar="HOST[::GUEST]",
                        help="mount HOST read-only; repeatable")
    parser.add_argument("--cwd", default=None, metavar="GUEST",
                        help="the guest's working directory (default: the first --dir's guest path)")
    parser.add_argument("--tmp", type=Path, default=None, metavar="HOST",
                        help="show host directory HOST as /tmp and keep it (default: a private, empty "
                             "/tmp removed at exit)")
    parser.add_argument("--timeout", default=None, metavar="SECONDS",
                        help="stop the program after SECONDS of wall time (exit status 124)")
    parser.add_argument("--max-memory", default=None, metavar="SIZE",
                        help="cap the guest's linear memory at SIZE bytes (K, M, G suffixes): beyond it "
                             "malloc returns NULL")
    parser.add_argument("--max-threads", default=None, metavar="N",
                        help="at most N threads at once (the main thread included; default "
                             f"{DEFAULT_MAX_THREADS}): beyond it pthread_create fails with EAGAIN")
    parser.add_argument("--allow-net", action="append", default=[], metavar="HOST:PORT",
                        help="let the guest connect (and send datagrams) to HOST:PORT; HOST an IP address "
                             "([::1]) or *, PORT a number or *; repeatable. Default: no network (EACCES)")
    parser.add_argument("--allow-listen", action="append", default=[], metavar="HOST:PORT",
                        help="let the guest bind sockets to HOST:PORT (patterns as --allow-net); repeatable")
    parser.add_argument("--shell", default=None, metavar="FILE",
                        help="the wasm module that /bin/sh runs (system, popen, posix_spawn of /bin/sh); "
                             "without it /bin/sh does not exist in the sandbox")
    parser.add_argument("--allow-host-exec", action="store_true",
                        help="LEAVES THE SANDBOX: let execve, posix_spawn, popen and system run host "
                             "programs (ELF or #! files found through the mounts, and the host's /bin/sh "
                             "when no --shell is given) natively, with the user's full rights. Default: "
                             "only .wasm modules run (a host program is EACCES, /bin/sh ENOENT)")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--fd", action="append", default=[], help=argparse.SUPPRESS)
    parser.add_argument("--tree", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--pgid", type=int, default=None, help=argparse.SUPPRESS)
    parser.add_argument("--setsid", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--argv0", default=None, help=argparse.SUPPRESS)
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set an environment variable for the guest (repeatable)")
    parser.add_argument("--clear-env", action="store_true",
                        help="start from an empty environment instead of inheriting this one")
    parser.add_argument("--trace", action="store_true", help="print every syscall to stderr")
    parser.add_argument("program", type=Path, help="the .wasm module")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    return parser


def parse_count(text: str) -> int:
    """--max-threads N: a whole number >= 1."""
    if not text.strip().isdigit() or int(text) < 1:
        raise EmbedderError(f"--max-threads {text!r}: give a whole number of threads, at least 1 (e.g. 16)")
    return int(text)


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    env = {} if options.clear_env else dict(os.environ)
    for item in options.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _parser().error(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    from . import run
    from .limits import parse_seconds, parse_size
    from .mounts import MountSpec
    from .children import ProcessOptions
    from .sockets import NetPolicy

    try:
        mounts = [MountSpec.parse(d) for d in options.dir]
        mounts += [MountSpec.parse(d, read_only=True) for d in options.ro_dir]
        mounts.sort(key=lambda m: m.read_only)              # --cwd defaults to the first --dir
        fds = {int(g): int(h) for g, _, h in (item.partition("=") for item in options.fd)}
        processes = ProcessOptions(shell=options.shell, child=options.child, fds=fds,
                                    host_exec=options.allow_host_exec, tree=options.tree,
                                    pgid=options.pgid, setsid=options.setsid)
        argv0 = str(options.program) if options.argv0 is None else options.argv0
        return run(options.program, [argv0, *options.args], env=env, mounts=mounts, processes=processes,
                   cwd=options.cwd, tmp=options.tmp, trace=options.trace,
                   net=NetPolicy.parse(options.allow_net, options.allow_listen),
                   timeout=None if options.timeout is None else parse_seconds(options.timeout),
                   max_memory=None if options.max_memory is None else parse_size(options.max_memory),
                   max_threads=DEFAULT_MAX_THREADS if options.max_threads is None else
                   parse_count(options.max_threads))
    except MuslforgeError as error:
        return report("muslforge.wasm", error)
    except KeyboardInterrupt:             # noticed at the guest's next syscall
        return EXIT_INTERRUPTED
