"""`muslforge binfmt`: run cross-built programs by name (`./prog`), through the kernel's binfmt_misc.

binfmt_misc is machine-wide and needs root, so nothing registers itself: `muslforge binfmt` shows what is
registered; `muslforge binfmt --register` (as root, when you allow every wasm module on this machine to be
run by muslforge's embedder) adds the wasm32 rule; `--unregister` removes it. Native arches are qemu-user's
business: Debian's qemu-user-static registers `qemu-<cpu>` entries itself (binfmt-support or
systemd-binfmt), and static musl programs need nothing more.

The wasm32 rule matches wasm's magic and version (`\\0asm`, 1) and names the sysroot's
`bin/wasm32-linux-musl-run` (`muslforge run --arch wasm32 "$@"`) as the interpreter.
"""

from __future__ import annotations

from pathlib import Path

from ..config.arch import Arch, RunMode
from ..errors import MuslforgeError

BINFMT_DIR = Path("/proc/sys/fs/binfmt_misc")
WASM_ENTRY = "muslforge-wasm32"
WASM_MAGIC = r"\x00asm\x01\x00\x00\x00"  # written as text: the kernel decodes the \x escapes


def wasm_rule(interpreter: Path) -> str:
    return f":{WASM_ENTRY}:M::{WASM_MAGIC}::{interpreter}:"


def entry_name(arch: Arch) -> str | None:
    """The binfmt_misc entry that runs this arch's programs (None: they run natively or not at all)."""
    if arch.run is RunMode.EMBEDDER:
        return WASM_ENTRY
    if arch.run is RunMode.LINK_ONLY or not arch.qemu:
        return None
    return arch.qemu.removesuffix("-static")  # Debian's qemu-user-static names them qemu-<cpu>


def status(arches: list[Arch], folder: Path = BINFMT_DIR) -> list[str]:
    """One line per arch: registered (and its interpreter) or not, and what to do."""
    if not (folder / "register").exists():
        return [f"binfmt_misc is not mounted at {folder}: as root, mount -t binfmt_misc none {folder}"]
    lines = []
    for arch in arches:
        name = entry_name(arch)
        if name is None:
            continue
        entry = folder / name
        if entry.is_file():
            interpreter = next((line.split(" ", 1)[1] for line in entry.read_text().splitlines()
                                if line.startswith("interpreter ")), "?")
            lines.append(f"{arch.name:12} registered: {name} -> {interpreter}")
        elif arch.run is RunMode.EMBEDDER:
            lines.append(f"{arch.name:12} not registered: muslforge binfmt --register (as root)")
        else:
            lines.append(f"{arch.name:12} not registered: install qemu-user-static with binfmt-support "
                         f"(or systemctl restart systemd-binfmt)")
    return lines


def register(interpreter: Path, folder: Path = BINFMT_DIR) -> str:
    """Register (or re-register) the wasm32 rule; returns it."""
    if not interpreter.is_file():
        raise MuslforgeError(f"{interpreter} is missing: build the wasm32 sysroot first (doit build:wasm32).")
    unregister(folder)
    rule = wasm_rule(interpreter)
    _write(folder / "register", rule)
    return rule


def unregister(folder: Path = BINFMT_DIR) -> bool:
    """Remove the wasm32 rule; False when it was not registered."""
    if not (folder / "register").exists():
        raise MuslforgeError(f"binfmt_misc is not mounted at {folder}: as root, "
                             f"mount -t binfmt_misc none {folder}, then try again.")
    if not (folder / WASM_ENTRY).exists():
        return False
    _write(folder / WASM_ENTRY, "-1")
    return True


def _write(path: Path, text: str) -> None:
    try:
        with open(path, "w") as handle:
            handle.write(text)
    except PermissionError:
        raise MuslforgeError(f"{path}: permission denied; binfmt_misc rules are machine-wide and need "
                             f"root (sudo muslforge binfmt --register).") from None
    except OSError as error:
        raise MuslforgeError(f"{path}: the kernel refused '{text}': {error.strerror}.") from None
