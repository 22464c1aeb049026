"""toolchains/<name>.yaml: the programs a build uses and the pins of its Docker image."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from . import _strict

from ..settings import DEFAULT_TOOLCHAIN  # noqa: F401  (named once, in the settings)
_REQUIRED = ("name", "cc", "ar", "ranlib", "nm", "builtins_dirs", "image")
_OPTIONAL = ("strip", "builtins_debs", "notes")
_IMAGE_REQUIRED = ("suite", "packages", "source_date_epoch")
_IMAGE_OPTIONAL = ("foreign_arches", "variant", "extra_suites")


@dataclass(frozen=True, slots=True, kw_only=True)
class ImagePins:
    """What goes into the toolchain's Docker image; every package pinned to an exact version."""

    suite: str
    packages: tuple[str, ...]          # "name=version" or "name:arch=version"
    source_date_epoch: int
    foreign_arches: tuple[str, ...] = ()
    extra_suites: tuple[str, ...] = ()  # further suites of the same mirror (e.g. bookworm-security)
    variant: str = "apt"


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolchain:
    name: str
    cc: str
    ar: str
    ranlib: str
    nm: str
    strip: str
    builtins_dirs: tuple[str, ...]
    builtins_debs: tuple[tuple[str, str], ...]  # (debian_arch, package) for builtins not in builtins_dirs
    image: ImagePins
    path: Path | None = None

    @classmethod
    def from_yaml(cls, path: Path) -> "Toolchain":
        data = _strict.load_mapping(path)
        _strict.check_keys(path, data, _REQUIRED, _OPTIONAL)
        name = _strict.want_str(path, data, "name")
        _strict.check_name_matches_file(path, name)
        programs = {k: _strict.want_str(path, data, k) for k in ("cc", "ar", "ranlib", "nm")}
        strip = _strict.want_str(path, data, "strip") if "strip" in data else "llvm-strip"
        return cls(name=name, strip=strip, builtins_dirs=_strict.want_str_list(path, data, "builtins_dirs"),
                   builtins_debs=_debs_from(path, data.get("builtins_debs") or {}), image=_image_from(path, data["image"]), path=path, **programs)

    def fingerprint(self) -> str:
        """The values that change build outputs: the programs, where builtins come from, the image pins."""
        values = [self.cc, self.ar, self.ranlib, self.nm, list(self.image.packages), self.image.suite,
                  self.image.source_date_epoch, [list(pair) for pair in self.builtins_debs],
                  list(self.builtins_dirs)]
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()

    def builtins_deb(self, debian_arch: str) -> str | None:
        """The package that carries compiler-rt builtins for debian_arch, if the toolchain names one."""
        return dict(self.builtins_debs).get(debian_arch)

    def builtins_path(self, file_name: str) -> Path | None:
        """The first builtins_dirs entry holding file_name, or None."""
        for folder in self.builtins_dirs:
            candidate = Path(folder) / file_name
            if candidate.is_file():
                return candidate
        return None


def _debs_from(path: Path, data) -> tuple[tuple[str, str], ...]:
    if not isinstance(data, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in data.items()):
        raise ConfigError(f"{path}: field 'builtins_debs' must map a Debian arch to a package name "
                          f"(e.g. arm64: libclang-rt-22-dev).")
    return tuple(sorted(data.items()))


def _image_from(path: Path, data) -> ImagePins:
    where = "image: "
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: field 'image' must be a mapping with {', '.join(_IMAGE_REQUIRED)}.")
    _strict.check_keys(path, data, _IMAGE_REQUIRED, _IMAGE_OPTIONAL, where=where)
    packages = _strict.want_str_list(path, data, "packages", where=where)
    unpinned = [p for p in packages if "=" not in p]
    if unpinned:
        raise ConfigError(f"{path}: image: packages must be pinned as name=version; not pinned: "
                          f"{', '.join(unpinned)}.")
    return ImagePins(suite=_strict.want_str(path, data, "suite", where=where), packages=packages,
                     source_date_epoch=_strict.want_int(path, data, "source_date_epoch", where=where),
                     foreign_arches=_strict.want_str_list(path, data, "foreign_arches", where=where),
                     extra_suites=_strict.want_str_list(path, data, "extra_suites", where=where),
                     variant=str(data.get("variant", "apt")))


def load_toolchain(toolchains_dir: Path, name: str) -> Toolchain:
    path = toolchains_dir / f"{name}.yaml"
    if not path.is_file():
        known = ", ".join(sorted(p.stem for p in toolchains_dir.glob("*.yaml"))) or "none"
        raise ConfigError(f"{path}: no such toolchain file; known toolchains: {known}.")
    return Toolchain.from_yaml(path)
