"""`python -m muslforge.wasm`: run one wasm32 musl program from the command line."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence
from pathlib import Path

from ..errors import MuslforgeError


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m muslforge.wasm",
        description="Run a wasm32 musl program on muslforge's reference embedder (wasmtime).")
    parser.add_argument("--dir", type=Path, default=None,
                        help="directory the guest may use, and its working directory (default: .)")
    parser.add_argument("--env", action="append", default=[], metavar="KEY=VALUE",
                        help="set an environment variable for the guest (repeatable)")
    parser.add_argument("--clear-env", action="store_true",
                        help="start from an empty environment instead of inheriting this one")
    parser.add_argument("--trace", action="store_true", help="print every syscall to stderr")
    parser.add_argument("program", type=Path, help="the .wasm module")
    parser.add_argument("args", nargs=argparse.REMAINDER, help="arguments for the program")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    options = _parser().parse_args(argv)
    env = {} if options.clear_env else dict(os.environ)
    for item in options.env:
        key, sep, value = item.partition("=")
        if not sep or not key:
            _parser().error(f"--env expects KEY=VALUE, got {item!r}")
        env[key] = value
    from . import run

    try:
        return run(options.program, [str(options.program), *options.args], env=env, root=options.dir,
                   trace=options.trace)
    except MuslforgeError as error:
        print(f"muslforge.wasm: {error}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:             # noticed at the guest's next syscall
        return 128 + 2
