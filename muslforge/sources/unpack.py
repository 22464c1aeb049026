"""Safe extraction of a source tarball: every member checked, then tarfile's 'data' filter on top.

extract(tarball, dest) unpacks into a temporary directory next to dest/<top>, then renames the one
top-level directory into place, so a half-extracted tree never sits where a finished one is expected.
Refused, with an UnpackError naming the member: absolute paths, '..' components, symlinks or hard links
that point outside the tree, devices and FIFOs, and archives without exactly one top-level directory.
"""

from __future__ import annotations

import os
import posixpath
import shutil
import tarfile
import tempfile
from pathlib import Path

from ..errors import UnpackError


def extract(tarball: Path, dest: Path) -> Path:
    """Unpack tarball under dest and return dest/<its one top-level directory> (e.g. musl-1.2.6/)."""
    try:
        with tarfile.open(tarball, "r:*") as archive:
            members = archive.getmembers()
            top = check_members(tarball, members)
            dest.mkdir(parents=True, exist_ok=True)
            scratch = Path(tempfile.mkdtemp(prefix=f".{top}.", dir=dest))
            try:
                _extract_all(tarball, archive, members, scratch)
                return _move_into_place(scratch / top, dest / top)
            finally:
                shutil.rmtree(scratch, ignore_errors=True)
    except (tarfile.ReadError, EOFError, tarfile.CompressionError) as exc:
        raise UnpackError(f"{tarball}: not a readable tarball ({exc}); delete it and fetch it "
                          f"again.") from None


def _extract_all(tarball: Path, archive: tarfile.TarFile, members: list[tarfile.TarInfo], into: Path) -> None:
    try:
        archive.extractall(into, members=members, filter="data")
    except tarfile.FilterError as exc:
        name = exc.tarinfo.name if exc.tarinfo is not None else "?"
        raise UnpackError(_refusal(tarball, name, str(exc))) from None
    except OSError as exc:
        raise UnpackError(f"{tarball}: extraction into {into} failed ({exc}).") from None


def _move_into_place(tree: Path, final: Path) -> Path:
    """Rename tree to final; an older final is moved aside first and removed after."""
    if not tree.is_dir():
        raise UnpackError(f"{tree.name} was not extracted as a directory.")
    old = None
    if final.exists() or final.is_symlink():
        old = Path(tempfile.mkdtemp(prefix=f".{final.name}.old.", dir=final.parent))
        os.replace(final, old / final.name)
    os.replace(tree, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)
    return final


def check_members(tarball: Path, members: list[tarfile.TarInfo]) -> str:
    """Refuse any member that could leave the tree; return the single top-level directory name."""
    tops: set[str] = set()
    for member in members:
        reason = _unsafe(member)
        if reason:
            raise UnpackError(_refusal(tarball, member.name, reason))
        parts = _parts(member.name)
        if parts:
            tops.add(parts[0])
            if len(parts) == 1 and not member.isdir():
                raise UnpackError(_refusal(tarball, member.name, "a file at the top level (expected one "
                                                                 "top-level directory)"))
    if len(tops) != 1:
        found = ", ".join(sorted(tops)) or "nothing"
        raise UnpackError(f"{tarball}: expected exactly one top-level directory, found {found}.")
    return tops.pop()


def _parts(name: str) -> list[str]:
    return [part for part in name.split("/") if part not in ("", ".")]


def _unsafe(member: tarfile.TarInfo) -> str | None:
    name = member.name
    if name.startswith("/") or name.startswith("\\") or (len(name) > 1 and name[1] == ":"):
        return "absolute path"
    if ".." in name.replace("\\", "/").split("/"):
        return "path contains '..'"
    if member.ischr() or member.isblk():
        return "device file"
    if member.isfifo():
        return "FIFO"
    if not (member.isfile() or member.isdir() or member.issym() or member.islnk()):
        return f"unsupported member type {member.type!r}"
    if member.issym():
        return _escapes(posixpath.dirname(name), member.linkname, "symlink")
    if member.islnk():
        return _escapes("", member.linkname, "hard link")
    return None


def _escapes(base: str, link: str, kind: str) -> str | None:
    """Why a link target leaves the tree (None if it stays inside)."""
    if link.startswith("/"):
        return f"{kind} to the absolute path '{link}'"
    resolved = posixpath.normpath(posixpath.join(base, link))
    if resolved == ".." or resolved.startswith("../") or resolved.startswith("/"):
        return f"{kind} to '{link}' points outside the tree"
    return None


def _refusal(tarball: Path, member: str, reason: str) -> str:
    return (f"{tarball}: refusing to extract member '{member}': {reason}. The tarball is damaged or "
            f"malicious; delete it and fetch it again.")
