"""`muslforge cc` and `muslforge run`: use a built sysroot with the toolchain and backend the build used.

    muslforge cc  --arch A [clang args...]     compile/link statically against build/sysroots/A
    muslforge run --arch A PROGRAM [ARGS...]   run natively, under qemu-user, or in the wasm32 embedder
                                               (wasm32 also takes --trace, --dir D, --env K=V first)

The program's exit status is muslforge's exit status. Errors are one paragraph on stderr, exit 2.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from . import paths, proc
from .backend import choose
from .cc import cc_argv, require_sysroot
from .config.arch import RunMode
from .errors import MuslforgeError
from .runner import run_argv, runs_natively

USAGE = __doc__.split("\n\n")[1]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print(f"usage:\n{USAGE}")
            return 0 if argv else 2
        command, rest = argv[0], argv[1:]
        if command not in ("cc", "run"):
            raise MuslforgeError(f"unknown command '{command}'; expected cc or run.\nusage:\n{USAGE}")
        arch_name, rest = _take_arch(command, rest)
        return cc(arch_name, rest) if command == "cc" else run(arch_name, rest)
    except MuslforgeError as error:
        print(f"muslforge: {error}", file=sys.stderr)
        return 2


def _take_arch(command: str, args: list[str]) -> tuple[str, list[str]]:
    if args and args[0].startswith("--arch="):
        return args[0].split("=", 1)[1], args[1:]
    if len(args) >= 2 and args[0] == "--arch":
        return args[1], args[2:]
    raise MuslforgeError(f"muslforge {command} needs --arch NAME first, e.g. muslforge {command} --arch x86_64 ...")


def _context(arch_name: str):
    from .tasks.context import chosen_toolchain, chosen_version, load_context
    ctx = load_context(chosen_version(), chosen_toolchain())
    arch = next((a for a in ctx.arches if a.name == arch_name), None)
    if arch is None:
        known = ", ".join(a.name for a in ctx.arches)
        raise MuslforgeError(f"unknown arch '{arch_name}'; known arches: {known} (files in {paths.ARCHES_DIR}).")
    return ctx, arch


def cc(arch_name: str, args: list[str]) -> int:
    ctx, arch = _context(arch_name)
    sysroot = paths.sysroot_dir(arch.name)
    require_sysroot(sysroot, arch)
    backend = choose(ctx.toolchain)
    cwd = Path.cwd()
    return backend.passthrough(cc_argv(ctx.toolchain, arch, sysroot, args), cwd=cwd,
                               mounts={sysroot: "ro", cwd: "rw"})


def run(arch_name: str, args: list[str]) -> int:
    if not args:
        raise MuslforgeError("muslforge run needs a PROGRAM to run.")
    ctx, arch = _context(arch_name)
    if arch.run is RunMode.EMBEDDER:  # the embedder's own options: --trace, --dir D, --env K=V
        from .wasm.cli import main as embedder_main
        return embedder_main(args)
    program = Path(args[0]).resolve()
    if not program.is_file():
        raise MuslforgeError(f"{args[0]}: no such program.")
    argv = run_argv(arch, program, args[1:])
    if runs_natively(arch) or shutil.which(argv[0]):
        # A static program (or the qemu-user that runs it) needs nothing from the toolchain image: run it
        # here, so stdin, signals and the terminal behave as for any other program.
        return proc.passthrough(argv)
    backend = choose(ctx.toolchain)
    cwd = Path.cwd()
    return backend.passthrough(argv, cwd=cwd, mounts={program.parent: "ro", cwd: "rw"})


if __name__ == "__main__":
    sys.exit(main())
