"""arches/<name>.yaml: one target, validated into a frozen Arch."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from . import _strict
from .runmode import RunMode


_REQUIRED = ("name", "triple", "musl_target", "run")
_OPTIONAL = ("cflags", "ldflags", "qemu", "host_machine", "host_triple", "shared", "notes")


@dataclass(frozen=True, slots=True, kw_only=True)
class Arch:
    name: str
    triple: str
    musl_target: str
    run: RunMode
    cflags: tuple[str, ...] = ()
    ldflags: tuple[str, ...] = ()
    qemu: str | None = None
    host_machine: str | None = None  # platform.machine() value on which it runs natively
    host_triple: str | None = None   # autoconf --host and the bin/<host triple>-cc prefix, when not `triple`
    shared: bool = True  # libc.so and the dynamic loader are built too (false: static-only, as wasm32)
    notes: str = ""
    path: Path | None = None

    @classmethod
    def from_yaml(cls, path: Path) -> "Arch":
        data = _strict.load_mapping(path)
        _strict.check_keys(path, data, _REQUIRED, _OPTIONAL)
        name = _strict.want_str(path, data, "name")
        _strict.check_name_matches_file(path, name)
        run_text = _strict.want_str(path, data, "run")
        try:
            run = RunMode(run_text)
        except ValueError:
            choices = ", ".join(m.value for m in RunMode)
            raise ConfigError(f"{path}: field 'run' is '{run_text}'; it must be one of {choices}.") from None
        qemu = data.get("qemu")
        if run is RunMode.QEMU and not qemu:
            raise ConfigError(f"{path}: field 'qemu' is required when run is 'qemu' "
                              f"(the qemu-user program, e.g. qemu-{name}-static).")
        optional_str = {k: _strict.want_str(path, data, k) for k in ("qemu", "host_machine", "host_triple")
                        if data.get(k) is not None}
        return cls(name=name, triple=_strict.want_str(path, data, "triple"),
                   musl_target=_strict.want_str(path, data, "musl_target"), run=run,
                   cflags=_strict.want_str_list(path, data, "cflags"),
                   ldflags=_strict.want_str_list(path, data, "ldflags"),
                   shared=_strict.want_bool(path, data, "shared", True),
                   notes=str(data.get("notes") or "").strip(), path=path, **optional_str)

    @property
    def tool_prefix(self) -> str:
        """The autoconf host triple: `./configure --host=<it>` finds bin/<it>-cc; stock config.sub accepts it."""
        return self.host_triple or self.triple

    def fingerprint(self) -> str:
        """Exactly the values that change what this arch builds (not notes, not how it is run)."""
        values = [self.triple, self.musl_target, list(self.cflags), list(self.ldflags)]
        if self.host_triple:  # names the sysroot's bin/ tools
            values.append(self.host_triple)
        values.append("shared" if self.shared else "static-only")  # libc.so and the loader, or not
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def load_arch(arches_dir: Path, name: str) -> Arch:
    path = arches_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(arch_names(arches_dir)) or "none"
        raise ConfigError(f"{path}: no such arch file; known arches: {known}.")
    return Arch.from_yaml(path)


def arch_names(arches_dir: Path) -> list[str]:
    return sorted(p.stem for p in arches_dir.glob("*.yaml"))


def load_arches(arches_dir: Path) -> list[Arch]:
    """Every arches/<name>.yaml; a missing or empty folder is an error (a build of nothing is no build)."""
    if not arches_dir.is_dir():
        raise ConfigError(f"{arches_dir}: the arches folder does not exist; point MUSLFORGE_ARCHES_DIR at "
                          f"a folder of <arch>.yaml files (or unset it for the checkout's arches/).")
    names = arch_names(arches_dir)
    if not names:
        raise ConfigError(f"{arches_dir}: no arch files (*.yaml) in the arches folder; add one per target "
                          f"(docs/architecture.md shows the fields) or point MUSLFORGE_ARCHES_DIR elsewhere.")
    return [Arch.from_yaml(arches_dir / f"{name}.yaml") for name in names]
