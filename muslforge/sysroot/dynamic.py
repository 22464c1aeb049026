"""Dynamic linking facts: musl's loader in a sysroot, and the loader a program asks for.

musl installs its dynamic loader as `lib/ld-musl-<arch><subarch>.so.1`, a link to libc.so (the loader
and the C library are one file). Its exact name is musl's choice per arch and float ABI
(ld-musl-armhf.so.1, ld-musl-mips64el.so.1...), so it is read from the built sysroot, never guessed.
A dynamically linked program names its loader in its PT_INTERP program header; a static or static-PIE
program has none.
"""

from __future__ import annotations

import os
import struct
from pathlib import Path

from ..errors import MuslforgeError

LOADER_GLOB = "ld-musl-*.so.1"
SYSTEM_LIB = "/lib"  # where a musl system keeps the loader: the path written into programs
PT_INTERP = 3


def loader_name(sysroot: Path) -> str | None:
    """'ld-musl-aarch64.so.1', or None for a static-only sysroot (wasm32, or built without shared)."""
    found = sorted(p.name for p in (sysroot / "lib").glob(LOADER_GLOB))
    if len(found) > 1:
        raise MuslforgeError(f"{sysroot / 'lib'} holds several musl loaders ({', '.join(found)}); a sysroot is "
                             f"for one arch. Rebuild it: doit build:<arch>")
    return found[0] if found else None


def loader_path(sysroot: Path) -> str | None:
    """The loader path written into dynamic programs ('/lib/ld-musl-aarch64.so.1'), as on a musl system."""
    name = loader_name(sysroot)
    return f"{SYSTEM_LIB}/{name}" if name else None


def relink_loader(lib_dir: Path) -> None:
    """musl installs the loader as an absolute link to /lib/libc.so; inside a sysroot it must point at
    the sysroot's own libc.so, so the link is made relative (qemu -L and release tarballs need that)."""
    for link in lib_dir.glob(LOADER_GLOB):
        if link.is_symlink() and os.path.isabs(os.readlink(link)):
            target = Path(os.readlink(link)).name
            link.unlink()
            link.symlink_to(target)


def interpreter(program: Path) -> str | None:
    """The PT_INTERP path of an ELF program, None when it has none (static, static-PIE) or is not ELF."""
    try:
        with open(program, "rb") as f:
            header = f.read(64)
            if len(header) < 52 or header[:4] != b"\x7fELF":
                return None
            layout = _layout(header)
            if layout is None:
                return None
            endian, phoff, phentsize, phnum, entry = layout
            for index in range(min(phnum, 4096)):
                f.seek(phoff + index * phentsize)
                raw = f.read(phentsize)
                if len(raw) < phentsize:
                    return None
                p_type, offset, size = entry(raw)
                if p_type == PT_INTERP:
                    f.seek(offset)
                    return f.read(min(size, 4096)).split(b"\0", 1)[0].decode(errors="replace")
    except OSError as exc:
        raise MuslforgeError(f"{program}: cannot read it ({exc.strerror}).") from None
    return None


def _layout(header: bytes):
    """(endian, e_phoff, e_phentsize, e_phnum, program-header reader) for ELF32/ELF64, LE/BE."""
    endian = {1: "<", 2: ">"}.get(header[5])
    if endian is None or header[4] not in (1, 2):
        return None
    if header[4] == 2:  # ELF64
        phoff, = struct.unpack_from(endian + "Q", header, 0x20)
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x36)
        def entry(raw: bytes) -> tuple[int, int, int]:
            p_type, _, offset, _, _, size = struct.unpack_from(endian + "IIQQQQ", raw)
            return p_type, offset, size
    else:  # ELF32
        phoff, = struct.unpack_from(endian + "I", header, 0x1C)
        phentsize, phnum = struct.unpack_from(endian + "HH", header, 0x2A)
        def entry(raw: bytes) -> tuple[int, int, int]:
            p_type, offset, _, _, size = struct.unpack_from(endian + "IIIII", raw)
            return p_type, offset, size
    return endian, phoff, phentsize, phnum, entry
