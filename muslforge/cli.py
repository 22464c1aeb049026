"""`muslforge cc` and `muslforge run`: use a built sysroot with the toolchain and backend the build used.

    muslforge cc  --arch A [clang args...]     compile/link statically against build/sysroots/A
                                               (the same as its bin/<host triple>-cc)
                  --dynamic                    a dynamic program (loader /lib/ld-musl-<arch>.so.1); also
                  -shared -fPIC, -static-pie   a shared library, a static PIE (native arches)
    muslforge run --arch A PROGRAM [ARGS...]   run natively, under qemu-user, or in the wasm32 embedder
                                               (wasm32 first takes the embedder's options: --dir,
                                               --ro-dir, --cwd, --timeout, --max-memory, --env, --trace)
    muslforge binfmt [--register|--unregister]  show (or, as root, set) how this machine runs
                                               cross-built programs by name (binfmt_misc)

The program's exit status is muslforge's exit status. Errors are one paragraph on stderr, exit 2.
"""

from __future__ import annotations

import os
import shutil
import sys
from pathlib import Path

from . import paths
from .errors import MuslforgeError, report

USAGE = __doc__.split("\n\n")[1]


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    try:
        if not argv or argv[0] in ("-h", "--help"):
            print(f"usage:\n{USAGE}")
            return 0 if argv else 2
        command, rest = argv[0], argv[1:]
        if command == "binfmt":
            return binfmt(rest)
        if command not in ("cc", "run"):
            raise MuslforgeError(f"unknown command '{command}'; expected cc, run or binfmt.\nusage:\n{USAGE}")
        arch_name, rest = _take_arch(command, rest)
        return cc(arch_name, rest) if command == "cc" else run(arch_name, rest)
    except (MuslforgeError, KeyboardInterrupt) as error:
        return report("muslforge", error)


def _take_arch(command: str, args: list[str]) -> tuple[str, list[str]]:
    if args and args[0].startswith("--arch="):
        return args[0].split("=", 1)[1], args[1:]
    if len(args) >= 2 and args[0] == "--arch":
        return args[1], args[2:]
    raise MuslforgeError(f"muslforge {command} needs --arch NAME first, e.g. muslforge {command} --arch x86_64 ...")


def _context(arch_name: str):
    from .tasks.context import load_context
    ctx = load_context(_settings().musl)
    arch = next((a for a in ctx.arches if a.name == arch_name), None)
    if arch is None:
        known = ", ".join(a.name for a in ctx.arches)
        raise MuslforgeError(f"unknown arch '{arch_name}'; known arches: {known} (files in {paths.arches_dir()}).")
    return ctx, arch


def cc(arch_name: str, args: list[str]) -> int:
    """Run the sysroot's bin/<host triple>-cc: here (exec, no Python left running) or in the session
    container (muslforge.toolchain.session). Only this path is on every compiler call: it reads no YAML."""
    chosen = _settings()
    named = chosen.cc_sysroot    # MUSLFORGE_CC_SYSROOT, set by a sysroot's own bin/<triple>-cc
    sysroot = named or paths.sysroot_dir(arch_name)
    tool = chosen.cc_tool        # MUSLFORGE_CC_TOOL: a sysroot's bin/<triple>-ar ... asks for itself
    wrapper = _cc_wrapper(sysroot, tool)
    if wrapper is None:
        from .sysroot.cc import require_sysroot
        require_sysroot(sysroot, _context(arch_name)[1])  # names the missing piece
        raise MuslforgeError(f"{sysroot / 'bin'}: no single *-cc wrapper; rebuild: doit build:{arch_name}")
    argv = [str(wrapper), *args]
    if _cc_backend() == "host":
        if named:  # the wrapper found no clang and asked us: running it again here would loop
            from .proc import apt_package
            variable = "MUSLFORGE_CLANG" if tool == "cc" else f"MUSLFORGE_{tool.upper()}"
            cc = os.environ.get(variable) or wrapper.read_text().split(f"{variable}:-", 1)[-1].split("}", 1)[0]
            raise MuslforgeError(f"'{cc}' was not found on PATH and the backend is host. Install it "
                                 f"(apt-get install {apt_package(cc)}) or use the toolchain image: "
                                 f"MUSLFORGE_BACKEND=docker.")
        sys.stdout.flush()
        os.execv(argv[0], argv)
    from .toolchain.session import Session, container_env
    extra = {} if _visible(sysroot) else {sysroot: "ro"}
    session = Session(_cached_image_tag(), extra)
    return session.run(argv, cwd=Path.cwd(), env=container_env(dict(os.environ)), stdin="-" in args)


def _cc_wrapper(sysroot: Path, tool: str = "cc") -> Path | None:
    found = list((sysroot / "bin").glob(f"*-{tool}")) if (sysroot / "lib" / "libc.a").is_file() else []
    return found[0] if len(found) == 1 else None


def _visible(path: Path) -> bool:
    from .toolchain.session import visible
    return visible(path)


def _cc_backend() -> str:
    """host or docker, by the rule every run uses (backend.decide); no notice per compiler call."""
    from .backend import decide
    return decide(_settings().backend, notice=lambda text: None)


def _cached_image_tag() -> str:
    """The toolchain image's tag, remembered per state of its inputs (hashing them reads YAML and runs
    dpkg: ~40 ms a call otherwise)."""
    import hashlib

    from .toolchain.session import runtime_dir
    name = _settings().toolchain
    inputs = [paths.TOOLCHAINS_DIR / f"{name}.yaml", *sorted((paths.CONTAINERS_DIR / "toolchain").iterdir())]
    states = [f"{p}:{p.stat().st_mtime_ns}:{p.stat().st_size}" for p in inputs if p.is_file()]
    memo = runtime_dir() / f"tag-{hashlib.sha256(chr(10).join(states).encode()).hexdigest()[:16]}"
    if memo.is_file():
        return memo.read_text().strip()
    from .toolchain import image
    from .config.toolchain import load_toolchain
    tag = image.image_tag(load_toolchain(paths.TOOLCHAINS_DIR, name))
    from .files import write_atomically
    write_atomically(memo, tag.encode())
    return tag


def binfmt(args: list[str]) -> int:
    from .sysroot import binfmt as rules
    from .sysroot.buildtools import tool_name
    from .config.arch import load_arches
    if args not in ([], ["--register"], ["--unregister"]):
        raise MuslforgeError(f"muslforge binfmt takes --register, --unregister or nothing, not {' '.join(args)}.")
    arches = load_arches(paths.arches_dir())
    if args == ["--register"]:
        wasm32 = next(a for a in arches if a.name == "wasm32")
        print(f"registered: {rules.register(paths.sysroot_dir('wasm32') / 'bin' / tool_name(wasm32, 'run'))}")
    elif args == ["--unregister"]:
        print("removed" if rules.unregister() else f"{rules.WASM_ENTRY} was not registered")
    for line in rules.status(arches):
        print(line)
    return 0


def _arch(arch_name: str):
    """The arch, from its JSON copy when the YAML did not change (no YAML parser on this path)."""
    from .config.arch_index import load_arch_fast

    if "/" in arch_name or not arch_name:
        raise MuslforgeError(f"unknown arch '{arch_name}'")
    return load_arch_fast(paths.ARCHES_DIR, arch_name, paths.build_dir() / "arch-index")


def run(arch_name: str, args: list[str]) -> int:
    """Start the program without loading doit, YAML, Docker or the toolchain config (the arch comes from
    its JSON copy, config/arch_index.py); the toolchain image only when the host cannot run it."""
    from .config.runmode import RunMode
    if not args:
        raise MuslforgeError("muslforge run needs a PROGRAM to run.")
    arch = _arch(arch_name)
    if arch.run is RunMode.EMBEDDER:  # the embedder's own options: --dir, --timeout, --trace, ...
        from .wasm.cli import main as embedder_main
        return embedder_main(args)
    from .sysroot.runner import run_argv, runs_natively
    program = Path(args[0]).resolve()
    if not program.is_file():
        raise MuslforgeError(f"{args[0]}: no such program.")
    sysroot = paths.sysroot_dir(arch.name)
    argv = run_argv(arch, program, args[1:], sysroot=sysroot)
    if runs_natively(arch) or shutil.which(argv[0]):
        # A program (or the qemu-user that runs it) needs nothing from the toolchain image: run it
        # here, so stdin, signals and the terminal behave as for any other program (128 + N on signal N).
        from . import proc
        return proc.foreground(argv)
    from .backend import decide, make
    ctx, arch = _context(arch_name)
    cwd = Path.cwd()
    backend = make(decide(_settings().backend), ctx.toolchain)
    mounts = {program.parent: "ro", cwd: "rw", **({sysroot: "ro"} if sysroot.is_dir() else {})}
    with backend.session(mounts) as session:
        return session.passthrough(argv, cwd=cwd)


def _settings():
    """The settings, resolved from this process's environment when first needed (not for a plain run)."""
    from . import settings
    return settings.current()


if __name__ == "__main__":
    sys.exit(main())
