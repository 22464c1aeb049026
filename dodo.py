"""muslforge's tasks: `doit list` shows them, `doit build:wasm32` is the main job.

Each task_* is a table-of-contents entry; the logic lives in muslforge.tasks and the domain modules.
Settings (musl version, toolchain, backend, folders...) resolve once per run from defaults, muslforge.yaml,
the environment and doit variables (`doit ... musl=1.2.5 toolchain=llvm-19 backend=host`); every run
prints them first, `doit settings` lists them all with where each came from.
"""

from muslforge import paths
from muslforge.tasks import builtins, exit_on_interrupt, prepare_build_dir, release, report, sources, sysroot, toolchain
from muslforge.tasks.context import load

load()               # the settings resolved and the backend decided: once per run
prepare_build_dir()  # doit opens its database there before any task runs
exit_on_interrupt()  # Ctrl-C: one line, exit status 130, no traceback

DOIT_CONFIG = {
    "backend": "sqlite3",  # survives `doit -n 2`; the default dbm falls back to dbm.dumb here
    "dep_file": str(paths.build_dir() / ".doit.db"),
    "action_string_formatting": "new",
    "default_tasks": ["build"],
    "reporter": report.Reporter,      # prints the settings first; writes the nightly summary
    "continue": report.wants_continue(),  # `doit nightly` keeps going past a failure
    "verbosity": 2,
}


def task_settings():
    """print the resolved settings and where each came from (also: doit info settings)"""
    return report.settings_task(load())


def task_fetch():
    """download the musl release tarball and verify its sha256 and PGP signature"""
    return sources.fetch_task(load())


def task_patch():
    """unpack musl and apply the patch series for its version"""
    return sources.patch_task(load())


def task_toolchain():
    """build the pinned toolchain's Docker image (mmdebstrap rootfs, docker import) if it is missing"""
    return toolchain.toolchain_task(load())


def task_prune():
    """remove muslforge/<toolchain> images no toolchain file of this checkout names (none a container uses)"""
    return toolchain.prune_task()


def task_builtins():
    """build compiler-rt's builtins per arch with compiler-rt's CMake in the toolchain image (cached)"""
    yield from builtins.builtins_tasks(load())


def task_build():
    """build a sysroot (libc.a, crt objects, headers, builtins) per arch"""
    yield from sysroot.build_tasks(load())


def task_smoke():
    """compile and run the smoke programs against an arch's sysroot"""
    yield from sysroot.smoke_tasks(load())


def task_package():
    """pack an arch's sysroot into build/release/<version>/ (reproducible .tar.xz + part manifest)"""
    yield from release.package_tasks(load())


def task_release():
    """write dist/<version>/: one tarball per arch, manifest.json, SHA256SUMS (arches=a,b to choose)"""
    ctx = load()
    return release.release_task(ctx, release.chosen_arches(ctx))


def task_assemble():
    """assemble dist/<version>/ from per-arch tarballs and parts made elsewhere (--parts DIR[,DIR])"""
    return release.assemble_task(load())


def task_verify():
    """rebuild dist/<version>/ from clean in another build dir and compare byte for byte"""
    return release.verify_task(load(), __file__)


def task_nightly():
    """fetch, build, smoke, package, release, verify; summary in build/nightly/, fails on regressions"""
    ctx = load()
    return release.nightly_task(ctx, release.chosen_arches(ctx), __file__)
