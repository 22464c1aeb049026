"""What every task generator needs: the run's settings, the chosen musl release and toolchain, the config.

The settings (muslforge.settings) are resolved once, when dodo.py loads: defaults, muslforge.yaml, the
environment, doit's command-line variables (`doit build:x86_64 musl=1.2.5 toolchain=llvm-19`). The
backend is decided then too. A config error becomes doit's InvalidDodoFile: one clean line, exit 3.
"""

from __future__ import annotations

import functools
import os
import sys
from dataclasses import dataclass

from doit import get_var
from doit.exceptions import InvalidDodoFile

from .. import paths, settings
from ..backend import decide
from ..config.arch import Arch, load_arches
from ..config.musl import MuslRelease, load_releases
from ..config.toolchain import Toolchain, load_toolchain
from ..errors import MuslforgeError
from ..sources.patch import Series, load_series


@dataclass(frozen=True)
class Context:
    release: MuslRelease
    toolchain: Toolchain
    arches: tuple[Arch, ...]
    series: Series
    backend: str = "host"   # decided once per run (backend.decide), passed to every action

    @property
    def build_dir(self):
        return settings.current().build_dir


def command_line_variables() -> dict[str, str]:
    """doit's `name=value` arguments that name a setting (doit parses them before loading dodo.py)."""
    values = {knob.name: get_var(knob.name, None) for knob in settings.KNOBS if knob.variable}
    return {name: value for name, value in values.items() if value is not None}


PER_ARCH_TASKS = ("build", "smoke", "package")


@functools.cache
def load() -> Context:
    """The run's context, made once per process (doit loads dodo.py once per run)."""
    try:
        chosen = settings.install(settings.resolve(os.environ, command_line_variables()))
        ctx = load_context(chosen.musl, chosen.toolchain, decide(chosen.backend))
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
            raise InvalidDodoFile(f"{word}: no arch '{arch}' in {paths.arches_dir()}; known arches: "
                                  f"{', '.join(known)}.")


def load_context(version: str | None, toolchain: str | None = None, backend: str = "host") -> Context:
    """The context for a version and toolchain (None: the settings' choice)."""
    releases = load_releases(paths.SOURCES_DIR / "musl.yaml")
    release = releases.get(version) if version else releases.default
    return Context(release=release,
                   toolchain=load_toolchain(paths.TOOLCHAINS_DIR, toolchain or settings.current().toolchain),
                   arches=tuple(load_arches(paths.arches_dir())),
                   series=load_series(paths.patches_dir(), release.version, paths.PORT_DIR), backend=backend)
