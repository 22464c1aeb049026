"""toolchains/<name>.yaml: the programs a build uses and the pins of its Docker image."""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError
from . import _strict

from ..settings import DEFAULT_TOOLCHAIN  # noqa: F401  (named once, in the settings)
_REQUIRED = ("name", "cc", "cxx", "ar", "ranlib", "nm", "compiler_rt", "image")
_OPTIONAL = ("strip", "notes")
_COMPILER_RT_KEYS = ("package", "version", "suite", "orig", "sha256")
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
class CompilerRtSource:
    """The Debian source package every arch's compiler-rt builtins are built from (one orig tarball)."""

    package: str   # llvm-toolchain-22
    version: str   # the Debian version apt is asked for
    suite: str     # the suite whose deb-src index lists that version
    orig: str      # the orig tarball's file name
    sha256: str    # checked before the tarball is used


@dataclass(frozen=True, slots=True, kw_only=True)
class Toolchain:
    name: str
    cc: str
    cxx: str       # compiler-rt's CMake compiles one C++ file of the builtins (aarch64)
    ar: str
    ranlib: str
    nm: str
    strip: str
    compiler_rt: CompilerRtSource
    image: ImagePins
    path: Path | None = None

    @classmethod
    def from_yaml(cls, path: Path) -> "Toolchain":
        data = _strict.load_mapping(path)
        _strict.check_keys(path, data, _REQUIRED, _OPTIONAL)
        name = _strict.want_str(path, data, "name")
        _strict.check_name_matches_file(path, name)
        programs = {k: _strict.want_str(path, data, k) for k in ("cc", "cxx", "ar", "ranlib", "nm")}
        strip = _strict.want_str(path, data, "strip") if "strip" in data else "llvm-strip"
        return cls(name=name, strip=strip, compiler_rt=_compiler_rt_from(path, data["compiler_rt"]),
                   image=_image_from(path, data["image"]), path=path, **programs)

    def fingerprint(self) -> str:
        """The values that change build outputs: the programs, the compiler-rt source, the image pins."""
        rt = self.compiler_rt
        values = [self.cc, self.cxx, self.ar, self.ranlib, self.nm, list(self.image.packages), self.image.suite,
                  self.image.source_date_epoch, [rt.package, rt.version, rt.orig, rt.sha256]]
        return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def _compiler_rt_from(path: Path, data) -> CompilerRtSource:
    where = "compiler_rt: "
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: field 'compiler_rt' must be a mapping with {', '.join(_COMPILER_RT_KEYS)}.")
    _strict.check_keys(path, data, _COMPILER_RT_KEYS, where=where)
    values = {k: _strict.want_str(path, data, k, where=where) for k in _COMPILER_RT_KEYS}
    if re.fullmatch(r"[0-9a-f]{64}", values["sha256"]) is None:
        raise ConfigError(f"{path}: compiler_rt: sha256 must be 64 lowercase hex digits (sha256sum of "
                          f"{values['orig']}); it is '{values['sha256']}'.")
    return CompilerRtSource(**values)


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
