"""The wasm32 syscall table (wasm32.table): one row per syscall, read into typed rows.

Everything that names a wasm32 syscall reads it from here: the patch step generates the port's
headers from it (muslforge.syscalls.generate), the embedder takes its known names, its aliases and
trace formatting from it, docs/wasm32-abi.md's appendix is generated from it. No doit, no processes.

Numbered rows are the port's ABI (`load`). The rows after them are names only the embedder answers
(`extra`): older calls with their own handler (nr None) and aliases of another row (`alias_of`).
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
    nr: int | None            # None: a name only the embedder answers (no __NR_ define)
    name: str
    returns: Returns
    args: tuple[Kind, ...]
    alias_of: str | None = None   # this name is another import name for that row

    @property
    def nparams(self) -> int:
        """How many i32 parameters the import takes."""
        return sum(kind.slots for kind in self.args)

    def param_kinds(self) -> tuple[Kind, ...]:
        """The kind of each i32 parameter (an i64 shows up twice)."""
        return tuple(kind for kind in self.args for _ in range(kind.slots))


@dataclass(frozen=True, slots=True)
class Table:
    port: tuple[Syscall, ...]     # numbered rows: the port's imports
    extra: tuple[Syscall, ...]    # older calls and aliases: names only the embedder answers


@functools.cache
def read(path: Path = TABLE) -> Table:
    """Every row of the table, in file order; a bad row is a ConfigError naming the line."""
    rows: list[Syscall] = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        fields = line.split("#", 1)[0].split()
        if fields:
            rows.append(_alias(path, number, fields, rows) if fields[0] == "alias" else _row(path, number, fields))
    _check_unique(path, rows)
    return Table(port=tuple(row for row in rows if row.nr is not None),
                 extra=tuple(row for row in rows if row.nr is None))


def load(path: Path = TABLE) -> tuple[Syscall, ...]:
    """The numbered rows: the syscalls the port imports, in file order."""
    return read(path).port


def extra(path: Path = TABLE) -> tuple[Syscall, ...]:
    """The rows only the embedder answers: older calls (own handler) and aliases."""
    return read(path).extra


def by_name(path: Path = TABLE) -> dict[str, Syscall]:
    return {row.name: row for row in load(path)}


def names(path: Path = TABLE) -> frozenset[str]:
    return frozenset(row.name for row in load(path))


def aliases(path: Path = TABLE) -> dict[str, str]:
    """alias -> the row it names."""
    return {row.name: row.alias_of for row in extra(path) if row.alias_of is not None}


def _row(path: Path, number: int, fields: list[str]) -> Syscall:
    where = f"{path}: line {number}"
    if len(fields) < 4 or not (fields[0].isdigit() or fields[0] == "-"):
        raise ConfigError(f"{where}: expected 'nr name returns arguments...' (nr '-' for a name only the "
                          f"embedder answers, arguments '-' for none) or 'alias name row', "
                          f"got {' '.join(fields)!r}.")
    nr, name, returns, *args = fields
    try:
        kinds = () if args == ["-"] else tuple(Kind(arg) for arg in args)
        row = Syscall(nr=None if nr == "-" else int(nr), name=name, returns=Returns(returns), args=kinds)
    except ValueError as error:
        raise ConfigError(f"{where} ({name}): {error}; argument kinds are "
                          f"{', '.join(k.value for k in Kind)}, return kinds "
                          f"{', '.join(r.value for r in Returns)}.") from None
    if row.nparams > 6:
        raise ConfigError(f"{where} ({name}): {row.nparams} parameters; a syscall takes at most 6.")
    return row


def _alias(path: Path, number: int, fields: list[str], before: list[Syscall]) -> Syscall:
    """`alias name row`: another import name for a row above, with its parameters and handler."""
    where = f"{path}: line {number}"
    if len(fields) != 3:
        raise ConfigError(f"{where}: expected 'alias name row', got {' '.join(fields)!r}.")
    _, name, target = fields
    row = next((row for row in before if row.name == target and row.alias_of is None), None)
    if row is None:
        raise ConfigError(f"{where} ({name}): '{target}' is no row above; an alias names a row with its "
                          f"own handler.")
    return Syscall(nr=None, name=name, returns=row.returns, args=row.args, alias_of=target)


def _check_unique(path: Path, rows: list[Syscall]) -> None:
    for attribute in ("name", "nr"):
        seen: set = set()
        for row in rows:
            value = getattr(row, attribute)
            if value is None:
                continue
            if value in seen:
                raise ConfigError(f"{path}: {attribute} {value} appears twice; each syscall is one row.")
            seen.add(value)
