"""Release tarballs: one reproducible .tar.xz per arch, and the clang config file that makes it usable.

A tarball `muslforge-musl-<version>-<arch>.tar.xz` unpacks to one folder of the same name (without
.tar.xz) holding the whole sysroot (include/, lib/, share/) and `<triple>.cfg`, so that

    clang-22 --config=muslforge-musl-1.2.6-x86_64/x86_64-linux-musl.cfg hello.c -o hello

links a static program with nothing else installed but clang and lld.

The bytes depend only on the files' contents and names, their owner-executable bit and the epoch:
members sorted by name, mtime = SOURCE_DATE_EPOCH, uid/gid 0 with empty owner names, modes 0644 / 0755,
GNU tar headers (no pax atime/ctime), and one compressor with fixed settings (XZ_SETTINGS). Files are
written under a temporary name beside the target and renamed into place; an error or interrupt
removes the temporary file, so a half-written tarball never exists under the real name.
"""

from __future__ import annotations

import hashlib
import io
import lzma
import os
import stat
import tarfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .. import paths
from ..config.arch import Arch, RunMode
from ..errors import DirectoryError, MuslforgeError
from ..files import atomic_target, remove_stale_temporaries, write_atomically  # noqa: F401 (API)
from ..sysroot.flags import clang_config, clang_major, config_name, linkages, supports_tail_options  # noqa: F401 (API)
from ..progress import human_bytes

# One pinned compressor. xz output is a pure function of (input bytes, these settings, liblzma's encoder
# version): the .xz container holds no timestamps or file names, and the single-threaded encoder
# (lzma.LZMAFile never uses threads) does not depend on the machine's core count. Preset 9 without
# PRESET_EXTREME: a 64 MiB dictionary (more than any sysroot) at a predictable speed.
XZ_SETTINGS = {"format": lzma.FORMAT_XZ, "check": lzma.CHECK_CRC64, "preset": 9}
TAR_FORMAT = tarfile.GNU_FORMAT  # ustar-compatible headers; no pax records with atime/ctime
FILE_MODE, EXEC_MODE, DIR_MODE, LINK_MODE = 0o644, 0o755, 0o755, 0o777
ABI_DOC = paths.CHECKOUT / "docs" / "wasm32-abi.md"
ABI_DOC_MEMBER = "share/doc/muslforge/wasm32-abi.md"
SYSCALLS_MEMBER = "share/muslforge/syscalls.json"


def release_name(version: str, arch: str) -> str:
    """'muslforge-musl-1.2.6-x86_64': the tarball's stem and the folder it unpacks to."""
    return f"muslforge-musl-{version}-{arch}"


def tarball_name(version: str, arch: str) -> str:
    return release_name(version, arch) + ".tar.xz"


def dist_root() -> Path:
    """Where releases go: MUSLFORGE_DIST_DIR, else <checkout>/dist; a release is dist/<musl version>/."""
    root = paths.dist_dir()
    if root.exists() and not root.is_dir():
        raise DirectoryError(f"MUSLFORGE_DIST_DIR is {root}, which is a file, not a folder; point "
                             f"MUSLFORGE_DIST_DIR at a folder (or unset it for <checkout>/dist).")
    return root


def source_date_epoch(default: int) -> int:
    """SOURCE_DATE_EPOCH from the settings when set, else `default` (never the clock)."""
    from ..settings import current
    chosen = current().source_date_epoch
    return default if chosen is None else chosen


# ---------------------------------------------------------------------------------------- clang config
# The configuration file is muslforge.sysroot.flags' (the one definition of compile and link flags); these names
# stay here for the release API.

def write_clang_config(arch: Arch, sysroot: Path, *, tail: bool = True) -> Path:
    """Write <sysroot>/<triple>.cfg (for use at build time; the tarball adds it itself otherwise)."""
    target = sysroot / config_name(arch)
    write_atomically(target, clang_config(arch, sysroot, tail=tail).encode())
    return target


# ---------------------------------------------------------------------------------------- tar entries

@dataclass(frozen=True, slots=True)
class Entry:
    """One archive member: a directory, a regular file (from disk or bytes) or a symlink."""

    name: str                 # '/'-separated, relative, no trailing '/'
    kind: str                 # "dir" | "file" | "symlink"
    mode: int
    source: Path | None = None
    data: bytes | None = None
    target: str = ""

    def size(self) -> int:
        if self.kind != "file":
            return 0
        return len(self.data) if self.data is not None else self.source.stat().st_size  # type: ignore[union-attr]


def tree_entries(root: Path, prefix: str = "") -> dict[str, Entry]:
    """Every directory, file and symlink under root, named prefix/relative-path (root itself excluded)."""
    found: dict[str, Entry] = {}
    for path in sorted(root.rglob("*")):
        name = _join(prefix, path.relative_to(root).as_posix())
        found[name] = _entry_for(path, name, root)
    return found


def _entry_for(path: Path, name: str, root: Path) -> Entry:
    info = path.lstat()
    if stat.S_ISLNK(info.st_mode):
        target = os.readlink(path)
        resolved = os.path.normpath(os.path.join(os.path.dirname(name), target))
        if os.path.isabs(target) or resolved.startswith(".."):
            raise MuslforgeError(f"{path}: symlink to '{target}' points outside {root}; a release tarball "
                                 f"must be self-contained (copy the file instead).")
        return Entry(name, "symlink", LINK_MODE, target=target)
    if stat.S_ISDIR(info.st_mode):
        return Entry(name, "dir", DIR_MODE)
    if stat.S_ISREG(info.st_mode):
        return Entry(name, "file", EXEC_MODE if info.st_mode & stat.S_IXUSR else FILE_MODE, source=path)
    raise MuslforgeError(f"{path}: not a regular file, directory or symlink; it cannot go into a release.")


def _join(prefix: str, name: str) -> str:
    return f"{prefix}/{name}" if prefix else name


def with_parents(entries: dict[str, Entry]) -> dict[str, Entry]:
    """entries plus a directory entry for every ancestor folder that lacks one."""
    result = dict(entries)
    for name in entries:
        parts = name.split("/")[:-1]
        for depth in range(1, len(parts) + 1):
            folder = "/".join(parts[:depth])
            result.setdefault(folder, Entry(folder, "dir", DIR_MODE))
    return result


def _tarinfo(entry: Entry, epoch: int) -> tarfile.TarInfo:
    info = tarfile.TarInfo(entry.name)
    info.type = {"dir": tarfile.DIRTYPE, "file": tarfile.REGTYPE, "symlink": tarfile.SYMTYPE}[entry.kind]
    info.mode, info.mtime = entry.mode, int(epoch)
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    info.linkname = entry.target
    info.size = entry.size()
    return info


def _open_data(entry: Entry):
    if entry.kind != "file":
        return None
    return io.BytesIO(entry.data) if entry.data is not None else open(entry.source, "rb")  # type: ignore[arg-type]


# ---------------------------------------------------------------------------------------- writing

def write_tarball(entries: Iterable[Entry], dest: Path, epoch: int) -> Path:
    """Write entries (sorted by name, parents added) as a deterministic .tar.xz at dest, atomically."""
    ordered = [e for _, e in sorted(with_parents({e.name: e for e in entries}).items())]
    with atomic_target(dest) as tmp, open(tmp, "wb") as raw, lzma.LZMAFile(raw, "wb", **XZ_SETTINGS) as xz, \
            tarfile.open(fileobj=xz, mode="w", format=TAR_FORMAT) as tar:  # type: ignore[call-overload]
        for entry in ordered:
            data = _open_data(entry)
            try:
                tar.addfile(_tarinfo(entry, epoch), data)
            finally:
                if data is not None:
                    data.close()
    return dest


# ---------------------------------------------------------------------------------------- one arch

def sysroot_entries(arch: Arch, sysroot: Path, version: str, *, tail: bool = True,
                    abi_doc: Path = ABI_DOC) -> list[Entry]:
    """What a release tarball holds: the sysroot under release_name/, its clang config, wasm32's docs."""
    if not (sysroot / "lib" / "libc.a").is_file():
        raise MuslforgeError(f"No sysroot for {arch.name} at {sysroot} (lib/libc.a is missing). "
                             f"Build it first: doit build:{arch.name}")
    top = release_name(version, arch.name)
    entries = tree_entries(sysroot, top)
    extra = {config_name(arch, linkage): Entry("", "file", FILE_MODE,
                                               data=clang_config(arch, sysroot, tail=tail, linkage=linkage).encode())
             for linkage in linkages(sysroot)}
    if arch.run is RunMode.EMBEDDER:
        extra.update(_embedder_docs(arch, sysroot, abi_doc))
    for name, entry in extra.items():
        full = _join(top, name)
        entries[full] = Entry(full, entry.kind, entry.mode, source=entry.source, data=entry.data)
    return list(entries.values())


def _embedder_docs(arch: Arch, sysroot: Path, abi_doc: Path) -> dict[str, Entry]:
    if not (sysroot / SYSCALLS_MEMBER).is_file():
        raise MuslforgeError(f"{sysroot / SYSCALLS_MEMBER} is missing: the {arch.name} release must carry "
                             f"its syscall manifest. Rebuild the sysroot: doit build:{arch.name}")
    if not abi_doc.is_file():
        raise MuslforgeError(f"{abi_doc} is missing: the {arch.name} release ships the ABI document. "
                             f"Restore it from git before releasing.")
    return {ABI_DOC_MEMBER: Entry("", "file", FILE_MODE, source=abi_doc)}


def pack_sysroot(arch: Arch, sysroot: Path, version: str, out_dir: Path, epoch: int, *,
                 tail: bool = True, abi_doc: Path = ABI_DOC) -> Path:
    """Write out_dir/muslforge-musl-<version>-<arch>.tar.xz and return its path."""
    entries = sysroot_entries(arch, sysroot, version, tail=tail, abi_doc=abi_doc)
    return write_tarball(entries, out_dir / tarball_name(version, arch.name), epoch)


def tarball_members(path: Path) -> Iterator[tarfile.TarInfo]:
    """The members of a release tarball, in archive order (tests and verification use it)."""
    with tarfile.open(path, "r:xz") as tar:
        yield from tar.getmembers()


def tree_digest(root: Path) -> str:
    """sha256 over every member's name, kind, mode and bytes, as tree_entries sees them."""
    digest = hashlib.sha256()
    for name, entry in sorted(tree_entries(root).items()):
        digest.update(f"{name}\0{entry.kind}\0{entry.mode:o}\0{entry.target}\0".encode())
        if entry.kind == "file":
            with open(entry.source, "rb") as f:  # type: ignore[arg-type]
                digest.update(hashlib.file_digest(f, "sha256").digest())
    return digest.hexdigest()


def human_size(path: Path) -> str:
    return human_bytes(path.stat().st_size)
