"""sources/musl.yaml: the musl releases muslforge knows, validated into frozen MuslRelease objects."""

from __future__ import annotations

import datetime
import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ..errors import ConfigError
from . import _strict

_TOP_REQUIRED = ("default", "signing_key", "mirrors", "releases")
_TOP_OPTIONAL = ("notes",)
_KEY_REQUIRED = ("file", "fingerprint")
_RELEASE_REQUIRED = ("version", "file", "sha256", "release_date")
_RELEASE_OPTIONAL = ("signature", "mirrors", "notes")
_HEX64 = re.compile(r"[0-9a-f]{64}")
_HEX40 = re.compile(r"[0-9A-F]{40}")


@dataclass(frozen=True, slots=True, kw_only=True)
class MuslRelease:
    """One musl release: where to get it and how to know it is the real one."""

    version: str
    file: str                    # tarball name on the mirrors, e.g. musl-1.2.6.tar.gz
    sha256: str                  # 64 lower-case hex digits
    signature: str | None        # detached signature name on the mirrors, e.g. musl-1.2.6.tar.gz.asc
    mirrors: tuple[str, ...]     # base URLs ending in '/', tried in order
    release_date: datetime.date
    signing_key: Path | None = None  # armored release key (sources/musl-signing-key.asc)
    signer: str | None = None        # its pinned primary-key fingerprint
    path: Path | None = None

    @property
    def name(self) -> str:
        """'musl-1.2.6', the subject of task titles."""
        return f"musl-{self.version}"

    @property
    def source_date_epoch(self) -> int:
        """Midnight UTC of the release date, for reproducible builds."""
        midnight = datetime.datetime.combine(self.release_date, datetime.time(0),
                                             tzinfo=datetime.timezone.utc)
        return int(midnight.timestamp())

    def fingerprint(self) -> str:
        """The values that change what is built from this release (not mirrors, not the signature name)."""
        return hashlib.sha256(json.dumps([self.version, self.file, self.sha256]).encode()).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Releases:
    """All releases in file order (newest first by convention) and the default one."""

    releases: tuple[MuslRelease, ...]
    default_version: str
    path: Path | None = None

    @property
    def default(self) -> MuslRelease:
        return self.get(self.default_version)

    @property
    def versions(self) -> tuple[str, ...]:
        return tuple(r.version for r in self.releases)

    def get(self, version: str) -> MuslRelease:
        for release in self.releases:
            if release.version == version:
                return release
        raise ConfigError(f"{self.path}: no musl release '{version}'; known versions: "
                          f"{', '.join(self.versions)}.")


def load_releases(path: Path) -> Releases:
    """Parse and validate sources/musl.yaml."""
    data = _strict.load_mapping(path)
    _strict.check_keys(path, data, _TOP_REQUIRED, _TOP_OPTIONAL)
    mirrors = _mirrors(path, data, "")
    key_file, signer = _signing_key(path, data["signing_key"])
    entries = data["releases"]
    if not isinstance(entries, list) or not entries:
        raise ConfigError(f"{path}: field 'releases' must be a non-empty list of releases.")
    releases: list[MuslRelease] = []
    for index, entry in enumerate(entries):
        release = _release(path, entry, index, mirrors, key_file, signer)
        if release.version in (r.version for r in releases):
            raise ConfigError(f"{path}: releases[{index}]: version '{release.version}' is listed twice.")
        releases.append(release)
    default = _version(path, data, "default", "")
    result = Releases(releases=tuple(releases), default_version=default, path=path)
    if result.default_version not in result.versions:
        raise ConfigError(f"{path}: field 'default' is '{result.default_version}', which is not among the "
                          f"releases ({', '.join(result.versions)}).")
    return result


def _release(path: Path, entry: Any, index: int, mirrors: tuple[str, ...], key_file: Path, signer: str
             ) -> MuslRelease:
    where = f"releases[{index}]: "
    if not isinstance(entry, dict):
        raise ConfigError(f"{path}: {where}expected a mapping of fields, found {type(entry).__name__}.")
    _strict.check_keys(path, entry, _RELEASE_REQUIRED, _RELEASE_OPTIONAL, where=where)
    signature = _file_name(path, entry, "signature", where) if entry.get("signature") is not None else None
    return MuslRelease(
        version=_version(path, entry, "version", where), file=_file_name(path, entry, "file", where),
        sha256=_sha256(path, entry, where), signature=signature,
        mirrors=_mirrors(path, entry, where) if "mirrors" in entry else mirrors,
        release_date=_date(path, entry, where), signing_key=key_file, signer=signer, path=path)


def _version(path: Path, data: dict[str, Any], key: str, where: str) -> str:
    value = data[key]
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        raise ConfigError(f"{path}: {where}field '{key}' is the number {value!r}; quote versions so YAML "
                          f"keeps them as text (e.g. {key}: \"1.2.6\").")
    text = _strict.want_str(path, data, key, where)
    if not re.fullmatch(r"[0-9]+(\.[0-9]+)+[a-z0-9._-]*", text):
        raise ConfigError(f"{path}: {where}field '{key}' is '{text}'; expected a musl version like 1.2.6.")
    return text


def _file_name(path: Path, data: dict[str, Any], key: str, where: str) -> str:
    value = _strict.want_str(path, data, key, where)
    if "/" in value or "\\" in value or value in (".", "..") or value.startswith("."):
        raise ConfigError(f"{path}: {where}field '{key}' is '{value}'; it must be a plain file name "
                          f"(mirrors supply the directory).")
    return value


def _sha256(path: Path, data: dict[str, Any], where: str) -> str:
    value = _strict.want_str(path, data, "sha256", where)
    if not _HEX64.fullmatch(value):
        raise ConfigError(f"{path}: {where}field 'sha256' must be 64 lower-case hex digits, got '{value}' "
                          f"({len(value)} characters).")
    return value


def _date(path: Path, data: dict[str, Any], where: str) -> datetime.date:
    value = data["release_date"]
    if isinstance(value, datetime.datetime):
        value = value.date()
    if isinstance(value, str):
        try:
            value = datetime.date.fromisoformat(value.strip())
        except ValueError:
            pass
    if not isinstance(value, datetime.date):
        raise ConfigError(f"{path}: {where}field 'release_date' must be a date like 2024-02-29, "
                          f"got {value!r}.")
    return value


def _mirrors(path: Path, data: dict[str, Any], where: str) -> tuple[str, ...]:
    mirrors = _strict.want_str_list(path, data, "mirrors", where)
    for url in mirrors:
        if not re.match(r"https?://[^/\s]+", url):
            raise ConfigError(f"{path}: {where}mirror '{url}' is not an http:// or https:// URL.")
    return tuple(url if url.endswith("/") else url + "/" for url in mirrors)


def _signing_key(path: Path, data: Any) -> tuple[Path, str]:
    where = "signing_key: "
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: field 'signing_key' must be a mapping with file and fingerprint.")
    _strict.check_keys(path, data, _KEY_REQUIRED, where=where)
    key_file = path.parent / _file_name(path, data, "file", where)
    if not key_file.is_file():
        raise ConfigError(f"{path}: {where}the key file {key_file} does not exist.")
    fingerprint = _strict.want_str(path, data, "fingerprint", where).replace(" ", "").upper()
    if not _HEX40.fullmatch(fingerprint):
        raise ConfigError(f"{path}: {where}field 'fingerprint' must be 40 hex digits (a V4 key "
                          f"fingerprint), got '{data['fingerprint']}'.")
    return key_file, fingerprint
