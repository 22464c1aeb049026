"""A JSON copy of one validated arch file, so `muslforge run` starts a program without parsing YAML.

build/arch-index/<name>.json holds the fields that say how the arch's programs run and the (mtime, size)
of the YAML they came from; a changed or missing YAML file is read and validated again (config.arch)
and the copy rewritten. The fast path imports json and the RunMode enum only: no YAML, no dataclasses.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from .runmode import RunMode

_FIELDS = ("name", "run", "qemu", "host_machine", "notes", "path")


class RunSpec:
    """What runner.run_argv needs of an Arch (same attribute names), read from the JSON copy."""

    __slots__ = _FIELDS

    def __init__(self, **fields):
        for key in _FIELDS:
            setattr(self, key, fields[key])


def load_arch_fast(arches_dir: Path, name: str, index_dir: Path):
    """A RunSpec (or, when the YAML had to be read, the full config.arch.Arch) for arch `name`."""
    source = arches_dir / f"{name}.yaml"
    try:
        info = os.stat(source)
    except OSError:
        info = None
    stamp = None if info is None else [str(source), info.st_mtime_ns, info.st_size]
    copy = index_dir / f"{name}.json"
    if stamp is not None:
        cached = _read(copy, stamp)
        if cached is not None:
            return cached
    from .arch import load_arch

    arch = load_arch(arches_dir, name)           # the full validation, with its exact error messages
    _write(copy, stamp, arch)
    return arch


def _read(copy: Path, stamp: list) -> RunSpec | None:
    try:
        data = json.loads(copy.read_text())
        if data.get("stamp") != stamp:
            return None
        fields = data["arch"]
        fields.update(run=RunMode(fields["run"]), path=Path(fields["path"]) if fields["path"] else None)
        return RunSpec(**fields)
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _write(copy: Path, stamp: list, arch) -> None:
    fields = {key: getattr(arch, key) for key in _FIELDS}
    fields.update(run=arch.run.value, path=str(arch.path) if arch.path else None)
    try:
        from ..files import write_atomically
        write_atomically(copy, json.dumps({"stamp": stamp, "arch": fields}))
    except OSError:
        pass                                     # a read-only checkout: just slower next time
