"""Build one arch's sysroot from a patched musl tree with musl's own configure + make, out of tree.

The sysroot is assembled in a staging directory and renamed into place, so an interrupted build never
leaves a sysroot that looks complete. -ffile-prefix-map keeps the checkout's location out of the bytes.
"""

from __future__ import annotations

import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path

from ..backend import Backend, Session
from ..config.arch import Arch
from ..errors import MuslforgeError
from ..toolchain.builtins import ARCHIVE_NAME as BUILTINS_NAME  # the one name, lib/ of every sysroot
from ..progress import Counter, summary, title
from . import provenance
from .dynamic import relink_loader

# Fixed names the build paths are mapped to in debug info and __FILE__ strings.
SRC_PREFIX = "/usr/src/musl"
OBJ_PREFIX = "/usr/src/musl-obj"


@dataclass(frozen=True, slots=True, kw_only=True)
class BuildPlan:
    arch: Arch
    tree: Path        # the patched musl tree (read-only)
    objdir: Path      # scratch: configure + make run here
    sysroot: Path     # final output
    log: Path
    jobs: int
    abi_list: Path | None = None  # the checked-in list of symbols libc.a must define


def configure_argv(plan: BuildPlan, backend: Backend) -> list[str]:
    tc = backend.toolchain
    # The target goes into CC, not CFLAGS: some of configure's probes run plain $CC.
    cflags = [*plan.arch.cflags,
              f"-ffile-prefix-map={plan.tree}={SRC_PREFIX}", f"-ffile-prefix-map={plan.objdir}={OBJ_PREFIX}"]
    shared = [] if plan.arch.shared else ["--disable-shared"]
    return [str(plan.tree / "configure"), f"--target={plan.arch.musl_target}", "--prefix=/",
            *shared, "--disable-wrapper",
            f"CC={tc.cc} --target={plan.arch.triple}", f"AR={tc.ar}", f"RANLIB={tc.ranlib}", f"CFLAGS={' '.join(cflags)}",
            "LDFLAGS=-fuse-ld=lld"]


def build_sysroot(plan: BuildPlan, backend: Backend, builtins: Path) -> Path:
    """configure, make, install headers and libs into a staging dir, add builtins, rename into place;
    record what built it (muslforge.sysroot.provenance), asked in the build's own container.

    builtins: the arch's compiler-rt builtins archive (built by muslforge.toolchain.builtins).
    """
    started = time.monotonic()
    staging = plan.sysroot.with_name(plan.sysroot.name + ".staging")
    for scratch in (plan.objdir, staging):
        shutil.rmtree(scratch, ignore_errors=True)
        scratch.mkdir(parents=True)
    mounts = {plan.tree: "ro", plan.objdir: "rw", staging: "rw"}
    with backend.session(mounts) as session:  # one container for the whole task
        counter = _libc(plan, backend, session, staging, builtins)
        if plan.arch.triple.startswith("wasm"):
            _write_syscall_manifest(plan, backend, session, staging)
        for library, listed in _abi_lists(plan, staging):
            _check_abi(plan, backend, session, library, listed)
        built_with = provenance.record(backend, plan.objdir, session)  # in the same container
    from . import buildtools
    buildtools.write_all(plan.arch, backend.toolchain, staging)
    if plan.sysroot.exists():
        shutil.rmtree(plan.sysroot)
    os.replace(staging, plan.sysroot)
    provenance.write(plan.arch.name, built_with)
    shutil.rmtree(plan.objdir, ignore_errors=True)
    summary(title("LIBC", f"{plan.arch.name}: {plan.sysroot} ({counter.count} objects, "
                          f"{time.monotonic() - started:.1f} s, {backend.name} backend)"))
    return plan.sysroot


def _libc(plan: BuildPlan, backend: Backend, session: Session, staging: Path, builtins: Path) -> Counter:
    """musl's configure, make install-headers, the builtins into lib/, then make install-libs (libc.a,
    and on shared arches libc.so + the loader link) into staging."""
    env = {"LC_ALL": "C"}
    session.run(configure_argv(plan, backend), cwd=plan.objdir, log=plan.log, env=env,
                on_line=lambda line: None)
    session.run(["make", f"DESTDIR={staging}", "install-headers"], cwd=plan.objdir, log=plan.log, env=env,
                on_line=lambda line: None)
    # The builtins come before the libraries: libc.so links them (musl's LIBCC; else the host's libgcc).
    (staging / "lib").mkdir(exist_ok=True)
    shutil.copyfile(builtins, staging / "lib" / BUILTINS_NAME)
    counter = Counter(title("LIBC", plan.arch.name), unit="objects")
    session.run(["make", f"-j{plan.jobs}", f"DESTDIR={staging}", f"LIBCC={staging / 'lib' / BUILTINS_NAME}",
                 "install-libs"], cwd=plan.objdir, log=plan.log, env=env, on_line=counter.see_make_line)
    counter.done()
    relink_loader(staging / "lib")
    return counter


def _session_output(plan: BuildPlan, session: Session):
    """A proc.output look-alike that runs in the session (nm, clang -print-* in the container)."""
    def output(argv: list[str]) -> str:
        status, out, err = session.capture(argv, cwd=plan.objdir)
        if status != 0:
            raise MuslforgeError(f"{' '.join(argv)} failed: {err.decode(errors='replace').strip()}")
        return out.decode()
    return output


def _write_syscall_manifest(plan: BuildPlan, backend: Backend, session: Session, staging: Path) -> None:
    """share/muslforge/syscalls.json: every env.__syscall_* libc.a can import, read from libc.a itself."""
    from .wasm_imports import write
    manifest = write(staging / "lib" / "libc.a", staging / "share" / "muslforge" / "syscalls.json",
                     nm=backend.toolchain.nm, output=_session_output(plan, session))
    print(title("MANIFEST", f"{plan.arch.name}: {manifest['count']} syscall imports -> share/muslforge/syscalls.json"))


def _abi_lists(plan: BuildPlan, staging: Path) -> list[tuple[Path, Path]]:
    """(library, its checked-in symbol list) for libc.a and, on shared arches, libc.so."""
    from . import libc_abi as abi
    if plan.abi_list is None:
        return []
    pairs = [(staging / "lib" / "libc.a", plan.abi_list)]
    if plan.arch.shared:
        pairs.append((staging / "lib" / "libc.so", abi.shared_list_path(plan.abi_list)))
    return [(library, listed) for library, listed in pairs if listed.is_file()]


def _check_abi(plan: BuildPlan, backend: Backend, session: Session, library: Path, listed: Path) -> None:
    from . import libc_abi as abi
    symbols = abi.defined_symbols(library, backend.toolchain.nm, _session_output(plan, session))
    added = abi.check(symbols, listed, library.name)
    note = f"; {len(added)} new: {', '.join(added[:10])}" if added else ""
    print(title("ABI", f"{plan.arch.name}: all {len(symbols) - len(added)} listed symbols {library.name} "
                       f"exports{note}"))
