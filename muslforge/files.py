"""Writing files so that a half-written one never looks done, and hashing them: one way each.

Every file muslforge writes goes to a temporary name beside its destination, is fsynced, and renamed
over the destination (then the folder is fsynced), so a crash or Ctrl-C leaves the old file or the new
one, never a torn one. Directories built aside are renamed into place by their owners.
"""

from __future__ import annotations

import contextlib
import glob
import hashlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path

_CHUNK = 1 << 20


@contextlib.contextmanager
def atomic_target(dest: Path) -> Iterator[Path]:
    """A temporary path beside dest: committed onto dest on success, removed on any exception (Ctrl-C too)."""
    dest = Path(dest)
    tmp = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
    dest.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temporaries(dest)
    try:
        yield tmp
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    commit(tmp, dest)


def remove_stale_temporaries(dest: Path) -> list[Path]:
    """Delete dest's temporaries left by processes that no longer run (a SIGKILL skips every cleanup).

    A temporary is named .<dest name>.<pid>.tmp; one whose pid is alive belongs to a run in progress.
    """
    removed = []
    for tmp in Path(dest).parent.glob(f".{glob.escape(Path(dest).name)}.*.tmp"):
        pid = tmp.name[len(Path(dest).name) + 2:-len(".tmp")]
        if pid.isdigit() and not _alive(int(pid)):
            tmp.unlink(missing_ok=True)
            removed.append(tmp)
    return removed


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def write_atomically(dest: Path, data: bytes | str) -> Path:
    """dest gets data (str: UTF-8) through atomic_target."""
    with atomic_target(dest) as tmp:
        tmp.write_bytes(data.encode() if isinstance(data, str) else data)
    return Path(dest)


def commit(tmp: Path, dest: Path) -> None:
    """Make a finished temporary file durable, then rename it over dest (and make the rename durable)."""
    with open(tmp, "rb") as written:
        os.fsync(written.fileno())
    os.replace(tmp, dest)
    folder = os.open(Path(dest).parent, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(folder)
    finally:
        os.close(folder)


def sha256_file(path: Path) -> str:
    """Hex sha256 of a file, read in 1 MiB chunks."""
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while chunk := handle.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def listing_digest(root: Path) -> str:
    """sha256 over every entry's relative name, kind, mode, size and link target under root (not bytes)."""
    digest = hashlib.sha256()
    for folder, dirs, names in os.walk(root):
        dirs.sort()
        for name in sorted(dirs + names):
            path = os.path.join(folder, name)
            info = os.lstat(path)
            target = os.readlink(path) if stat.S_ISLNK(info.st_mode) else ""
            size = info.st_size if stat.S_ISREG(info.st_mode) else 0
            digest.update(f"{os.path.relpath(path, root)}\0{info.st_mode:o}\0{size}\0{target}\0".encode())
    return digest.hexdigest()


def files_sha256(root: Path, *, skip: str = "") -> str:
    """sha256 over every file's path below root and its sha256 (sorted; files named `skip` left out)."""
    digest = hashlib.sha256()
    for path in sorted(p for p in Path(root).rglob("*") if p.is_file() and p.name != skip):
        digest.update(f"{path.relative_to(root)}\0".encode())
        digest.update(bytes.fromhex(sha256_file(path)))
    return digest.hexdigest()
