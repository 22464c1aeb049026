"""The wasm32 syscall table (wasm32.table): one row per syscall, read into typed rows.

Everything that names a wasm32 syscall reads it from here: the patch step generates the port's
headers from it (muslforge.syscalls.generate), the embedder takes its known names and trace
formatting from it, docs/wasm32-abi.md's appendix is generated from it. No doit, no processes.
"""

from __future__ import annotations

import enum
import functools
from dataclasses import dataclass
from pathlib import Path

from ..errors import ConfigError

TABLE = Path(__file__).with_name("wasm32.table")


class Kind(enum.Enum):
    """What an argument is; i64 takes two i32 parameters (low word first)."""
    FD = "fd"
    PATH = "path"
    STR = "str"
    PTR = "ptr"
    SIZE = "size"
    INT = "int"
    I64 = "i64"

    @property
    def slots(self) -> int:
        return 2 if self is Kind.I64 else 1


class Returns(enum.Enum):
    INT = "int"
    FD = "fd"
    SIZE = "size"
    PTR = "ptr"


@dataclass(frozen=True, slots=True, kw_only=True)
class Syscall:
    nr: int
    name: str
    returns: Returns
    args: tuple[Kind, ...]

    @property
    def nparams(self) -> int:
        """How many i32 parameters the import takes."""
        return sum(kind.slots for kind in self.args)

    def param_kinds(self) -> tuple[Kind, ...]:
        """The kind of each i32 parameter (an i64 shows up twice)."""
        return tuple(kind for kind in self.args for _ in range(kind.slots))


@functools.cache
def load(path: Path = TABLE) -> tuple[Syscall, ...]:
    """Every row of the table, in file order; a bad row is a ConfigError naming the line."""
    rows: list[Syscall] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if fields:
            rows.append(_row(path, number, fields))
    _check_unique(path, rows)
    return tuple(rows)


def by_name(path: Path = TABLE) -> dict[str, Syscall]:
    return {row.name: row for row in load(path)}


def names(path: Path = TABLE) -> frozenset[str]:
    return frozenset(row.name for row in load(path))


def _row(path: Path, number: int, fields: list[str]) -> Syscall:
    where = f"{path}: line {number}"
    if len(fields) < 4 or not fields[0].isdigit():
        raise ConfigError(f"{where}: expected 'nr name returns arguments...' (arguments '-' for none), "
                          f"got {' '.join(fields)!r}.")
    nr, name, returns, *args = fields
    try:
        kinds = () if args == ["-"] else tuple(Kind(arg) for arg in args)
        row = Syscall(nr=int(nr), name=name, returns=Returns(returns), args=kinds)
    except ValueError as error:
        raise ConfigError(f"{where} ({name}): {error}; argument kinds are "
                          f"{', '.join(k.value for k in Kind)}, return kinds "
                          f"{', '.join(r.value for r in Returns)}.") from None
    if row.nparams > 6:
        raise ConfigError(f"{where} ({name}): {row.nparams} parameters; a syscall takes at most 6.")
    return row


def _check_unique(path: Path, rows: list[Syscall]) -> None:
    for attribute in ("name", "nr"):
        seen: set = set()
        for row in rows:
            value = getattr(row, attribute)
            if value in seen:
                raise ConfigError(f"{path}: {attribute} {value} appears twice; each syscall is one row.")
            seen.add(value)
