"""What every task generator needs: the chosen musl version, toolchain and the loaded config.

Choices come from doit command-line variables (`doit build:x86_64 musl=1.2.5 toolchain=llvm-19`) or the
environment (MUSLFORGE_MUSL_VERSION, MUSLFORGE_TOOLCHAIN). A config error becomes doit's InvalidDodoFile:
one clean line, exit 3.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from doit import get_var
from doit.exceptions import InvalidDodoFile

from .. import paths
from ..config.arch import Arch, load_arches
from ..config.musl import MuslRelease, load_releases
from ..config.toolchain import DEFAULT_TOOLCHAIN, Toolchain, load_toolchain
from ..errors import MuslforgeError
from ..patch import Series, load_series


@dataclass(frozen=True)
class Context:
    release: MuslRelease
    toolchain: Toolchain
    arches: tuple[Arch, ...]
    series: Series


def chosen_version() -> str | None:
    return get_var("musl", None) or os.environ.get("MUSLFORGE_MUSL_VERSION") or None


def chosen_toolchain() -> str:
    return get_var("toolchain", None) or os.environ.get("MUSLFORGE_TOOLCHAIN") or DEFAULT_TOOLCHAIN


PER_ARCH_TASKS = ("build", "smoke", "package")


@functools.cache
def load() -> Context:
    try:
        ctx = load_context(chosen_version(), chosen_toolchain())
    except MuslforgeError as error:
        raise InvalidDodoFile(str(error)) from None
    refuse_unknown_arches(ctx, sys.argv[1:])
    return ctx


def refuse_unknown_arches(ctx: Context, words: list[str]) -> None:
    """`doit build:nosuch` names the known arches (doit itself only says "Invalid parameter")."""
    known = [arch.name for arch in ctx.arches]
    for word in words:
        task, sep, arch = word.partition(":")
        if sep and task in PER_ARCH_TASKS and arch not in known:
            raise InvalidDodoFile(f"{word}: no arch '{arch}' in {paths.ARCHES_DIR}; known arches: "
                                  f"{', '.join(known)}.")


def load_context(version: str | None, toolchain: str) -> Context:
    releases = load_releases(paths.SOURCES_DIR / "musl.yaml")
    release = releases.get(version) if version else releases.default
    return Context(release=release, toolchain=load_toolchain(paths.TOOLCHAINS_DIR, toolchain),
                   arches=tuple(load_arches(paths.ARCHES_DIR)),
                   series=load_series(paths.PATCHES_DIR, release.version, paths.PORT_DIR))
