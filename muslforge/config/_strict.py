"""Shared YAML validation: every message starts with the file path and names the field."""

from __future__ import annotations

import difflib
from pathlib import Path
from typing import Any, Iterable

from ..errors import ConfigError


def load_mapping(path: Path) -> dict[str, Any]:
    """Parse a YAML file that must hold a mapping."""
    import yaml  # cheap, but only config loading needs it

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ConfigError(f"{path}: cannot read the file ({exc.strerror}).") from None
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(path, exc)) from None
    try:
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}".replace("\n", " ")) from None
    if not isinstance(data, dict):
        raise ConfigError(f"{path}: expected a mapping of fields at the top level, found {type(data).__name__}.")
    return data


def not_utf8(path: Path, exc: UnicodeDecodeError) -> str:
    """'<path>: line 3 has the byte 0xe9, which is not UTF-8; ...': where the bad byte is and what to do."""
    line = exc.object[:exc.start].count(b"\n") + 1
    return (f"{path}: line {line} has the byte 0x{exc.object[exc.start]:02x}, which is not UTF-8; save the "
            f"file as UTF-8.")


def check_keys(path: Path, data: dict[str, Any], required: Iterable[str], optional: Iterable[str] = (),
               where: str = "") -> None:
    """Refuse unknown keys (with a did-you-mean) and list every missing required key."""
    required, optional = list(required), list(optional)
    known = required + optional
    prefix = f"{path}: {where}" if where else f"{path}: "
    for key in data:
        if key not in known:
            close = difflib.get_close_matches(str(key), known, n=1)
            hint = f"; did you mean '{close[0]}'?" if close else f"; known keys: {', '.join(known)}."
            raise ConfigError(f"{prefix}unknown key '{key}'{hint}")
    missing = [key for key in required if key not in data]
    if missing:
        raise ConfigError(f"{prefix}missing required key(s): {', '.join(missing)}.")


def want_str(path: Path, data: dict[str, Any], key: str, where: str = "") -> str:
    value = data[key]
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(f"{path}: {where}field '{key}' must be a non-empty string, got {value!r}.")
    return value


def want_str_list(path: Path, data: dict[str, Any], key: str, where: str = "") -> tuple[str, ...]:
    value = data.get(key, [])
    if value is None:
        value = []
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ConfigError(f"{path}: {where}field '{key}' must be a list of strings, got {value!r}.")
    return tuple(value)


def want_int(path: Path, data: dict[str, Any], key: str, where: str = "") -> int:
    value = data[key]
    if isinstance(value, bool) or not isinstance(value, int):
        raise ConfigError(f"{path}: {where}field '{key}' must be an integer, got {value!r}.")
    return value


def want_bool(path: Path, data: dict[str, Any], key: str, default: bool) -> bool:
    value = data.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(f"{path}: field '{key}' must be true or false, not {value!r}.")
    return value


def check_name_matches_file(path: Path, name: str) -> None:
    if name != path.stem:
        raise ConfigError(f"{path}: field 'name' is '{name}' but the file is named '{path.name}'; "
                          f"they must match (rename the file or set name: {path.stem}).")
