"""Patch series: patches/musl-<version>/series lists patch files in order; apply them to a fresh tree.

A patched tree lives in a directory keyed by (version, digest of the series) and is marked complete only
after its last patch applied, so a half-patched tree never looks done. A conflict names the patch, the
file and the hunk, and the half-patched tree is deleted.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from . import proc, unpack
from .errors import CommandFailed, ConfigError, PatchError

COMPLETE_MARKER = ".muslforge-complete"


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    version: str
    series_file: Path
    patches: tuple[Path, ...]

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file whose edit must re-run the patch step."""
        return (self.series_file, *self.patches)

    def digest(self) -> str:
        """sha256 over the series order and every patch's bytes."""
        h = hashlib.sha256()
        for path in self.files:
            h.update(path.name.encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()


def load_series(patches_dir: Path, version: str) -> Series:
    """Read patches/musl-<version>/series: one patch file name per line, '#' starts a comment."""
    folder = patches_dir / f"musl-{version}"
    series_file = folder / "series"
    if not series_file.is_file():
        raise ConfigError(f"{series_file}: missing. Every musl version needs a series file listing its "
                          f"patches in order (an empty file means no patches).")
    patches = []
    for number, line in enumerate(series_file.read_text(encoding="utf-8").splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        patch = folder / name
        if "/" in name or not patch.is_file():
            raise ConfigError(f"{series_file}: line {number} names '{name}', which is not a file in {folder}; "
                              f"add the patch or remove the line.")
        patches.append(patch)
    return Series(version=version, series_file=series_file, patches=tuple(patches))


def tree_dir(src_root: Path, series: Series) -> Path:
    """Where the patched tree for this series lives: build/src/musl-<version>-<digest12>."""
    return src_root / f"musl-{series.version}-{series.digest()[:12]}"


def marker(src_root: Path, series: Series) -> Path:
    return tree_dir(src_root, series) / COMPLETE_MARKER


def prepare_tree(tarball: Path, series: Series, src_root: Path, log: Path | None = None) -> Path:
    """Unpack tarball and apply the series; return the patched tree (reused if already complete)."""
    final = tree_dir(src_root, series)
    if (final / COMPLETE_MARKER).is_file():
        return final
    src_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=src_root))
    try:
        tree = unpack.extract(tarball, scratch / "unpacked")
        for patch in series.patches:
            apply_patch(tree, patch, log)
        (tree / COMPLETE_MARKER).write_text(series.digest() + "\n")
        if final.exists():
            shutil.rmtree(final)
        tree.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _remove_stale_trees(src_root, series, keep=final)
    return final


def apply_patch(tree: Path, patch: Path, log: Path | None = None) -> None:
    """Dry-run the patch first so a conflict is reported before anything changes."""
    base = ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", str(patch)]
    try:
        proc.output([*base, "--dry-run"], cwd=tree)
    except CommandFailed as failure:
        raise PatchError(_conflict_message(patch, str(failure))) from None
    proc.run(base, cwd=tree, log=log, quiet=True, echo=False)


def _conflict_message(patch: Path, patch_output: str) -> str:
    """Name the file and hunks that failed, from GNU patch's 'checking file X' / 'Hunk #N FAILED at L'."""
    failures, current = [], None
    for line in patch_output.splitlines():
        if m := re.match(r"(?:checking|patching) file (\S+)", line):
            current = m.group(1)
        elif m := re.match(r"Hunk #(\d+) FAILED at (\d+)", line):
            failures.append(f"{current}: hunk #{m.group(1)} (at line {m.group(2)})")
        elif "can't find file to patch" in line or "No file to patch" in line:
            failures.append(f"{current or 'a file'}: the file does not exist in the tree")
        elif "Reversed (or previously applied) patch detected" in line:
            failures.append(f"{current}: already applied (reversed patch detected)")
    detail = "; ".join(failures) or patch_output.strip().splitlines()[-1]
    return (f"Patch {patch} does not apply: {detail}. The half-patched tree was deleted. Rebase the patch on "
            f"this musl version (or remove it from {patch.parent / 'series'}).")


def _remove_stale_trees(src_root: Path, series: Series, keep: Path) -> None:
    """Old trees of the same version (from earlier series digests) are dead weight."""
    for old in src_root.glob(f"musl-{series.version}-*"):
        if old != keep and old.is_dir():
            shutil.rmtree(old, ignore_errors=True)
