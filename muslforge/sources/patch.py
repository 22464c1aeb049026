"""From a musl tarball to a patched tree: the port overlay, the shared series, the version's series.

What makes a tree (one `Series`):
- port/: new files in musl's own layout (arch/<arch>, crt/<arch>, src/*/<arch>), copied onto the
  unpacked musl; an overlay file that musl already ships is an error (edits go through patches);
- patches/common/series: edits to musl's files shared by every version, applied with `patch -p1`;
- patches/musl-<version>/series: what truly differs for that version (may list nothing);
- the port's syscall headers, generated from muslforge/syscalls/wasm32.table (never committed).

The tree lives in a directory keyed by (version, digest of all of the above) and is marked complete
only after the last step, so a half-patched tree never looks done. A conflict names the patch, the file
and the hunk, and the half-patched tree is deleted.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import proc
from . import unpack
from ..config._strict import not_utf8
from ..errors import CommandFailed, ConfigError, PatchError
from ..syscalls import TABLE, generate

COMPLETE_MARKER = ".muslforge-complete"
COMMON = "common"
# The table and the code that turns it into headers: both shape the tree.
GENERATOR_INPUTS = (TABLE, Path(generate.__file__), Path(generate.__file__).with_name("__init__.py"))


@dataclass(frozen=True, slots=True, kw_only=True)
class Series:
    version: str
    series_files: tuple[Path, ...]      # patches/common/series, then patches/musl-<version>/series
    patches: tuple[Path, ...]           # in the order they apply
    overlay: Path | None = None         # port/: copied onto the tree first
    overlay_files: tuple[Path, ...] = ()
    generator: tuple[Path, ...] = ()    # the syscall table and its generator (when there is an overlay)

    @property
    def series_file(self) -> Path:
        """The version's own series file."""
        return self.series_files[-1]

    @property
    def files(self) -> tuple[Path, ...]:
        """Every file whose edit must re-run the patch step."""
        return (*self.series_files, *self.patches, *self.overlay_files, *self.generator)

    def digest(self) -> str:
        """sha256 over every input's place and bytes: series order, patches, overlay paths, table."""
        h = hashlib.sha256()
        for path in self.files:
            h.update(self._label(path).encode() + b"\0" + path.read_bytes() + b"\0")
        return h.hexdigest()

    def _label(self, path: Path) -> str:
        if self.overlay is not None and path.is_relative_to(self.overlay):
            return "port/" + path.relative_to(self.overlay).as_posix()
        return path.name


def load_series(patches_dir: Path, version: str, overlay: Path | None = None) -> Series:
    """The patch inputs for one musl version; `overlay` is the port/ tree (None: no overlay)."""
    series_files, patches = [], []
    common = patches_dir / COMMON / "series"
    for folder in ([patches_dir / COMMON] if common.is_file() else []) + [patches_dir / f"musl-{version}"]:
        series_files.append(folder / "series")
        patches.extend(_read_series(folder))
    overlay_files = _overlay_files(overlay) if overlay is not None else ()
    return Series(version=version, series_files=tuple(series_files), patches=tuple(patches),
                  overlay=overlay, overlay_files=overlay_files,
                  generator=GENERATOR_INPUTS if overlay is not None else ())


def _read_series(folder: Path) -> list[Path]:
    """Read <folder>/series: one patch file name per line, '#' starts a comment."""
    series_file = folder / "series"
    if not series_file.is_file():
        raise ConfigError(f"{series_file}: missing. Every musl version needs a series file listing its "
                          f"patches in order (an empty file means no patches).")
    try:
        text = series_file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError(not_utf8(series_file, exc)) from None
    patches = []
    for number, line in enumerate(text.splitlines(), 1):
        name = line.split("#", 1)[0].strip()
        if not name:
            continue
        patch = folder / name
        if "/" in name or not patch.is_file():
            raise ConfigError(f"{series_file}: line {number} names '{name}', which is not a file in {folder}; "
                              f"add the patch or remove the line.")
        patches.append(patch)
    return patches


def _overlay_files(overlay: Path) -> tuple[Path, ...]:
    if not overlay.is_dir():
        raise ConfigError(f"{overlay}: missing. It holds the ports' source files in musl's layout "
                          f"(arch/<arch>, src/*/<arch>).")
    return tuple(sorted(p for p in overlay.rglob("*") if p.is_file() and "__pycache__" not in p.parts))


@dataclass(frozen=True, slots=True, kw_only=True)
class Provenance:
    """Where a patch comes from, read from its header (the text before the first '--- ' line)."""

    upstream: str | None   # "musl commit <40 hex>" when the patch is an upstream change carried back
    cves: tuple[str, ...]  # every CVE id the header names


def provenance(patch: Path) -> Provenance:
    header = patch.read_text(encoding="utf-8", errors="replace").split("\n--- ", 1)[0]
    commit = re.search(r"^Upstream: (musl commit [0-9a-f]{40})", header, re.M)
    cves = tuple(dict.fromkeys(re.findall(r"CVE-\d{4}-\d{4,}", header)))
    return Provenance(upstream=commit.group(1) if commit else None, cves=cves)


def tree_dir(src_root: Path, series: Series) -> Path:
    """Where the patched tree for this series lives: build/src/musl-<version>-<digest12>."""
    return src_root / f"musl-{series.version}-{series.digest()[:12]}"


def marker(src_root: Path, series: Series) -> Path:
    return tree_dir(src_root, series) / COMPLETE_MARKER


def prepare_tree(tarball: Path, series: Series, src_root: Path, log: Path | None = None) -> Path:
    """Unpack tarball, overlay the port, apply the series, generate; return the patched tree."""
    final = tree_dir(src_root, series)
    if (final / COMPLETE_MARKER).is_file():
        return final
    src_root.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix=f".{final.name}.", dir=src_root))
    try:
        tree = unpack.extract(tarball, scratch / "unpacked")
        if series.overlay is not None:
            copy_overlay(series, tree)
        for patch in series.patches:
            apply_patch(tree, patch, log)
        if series.overlay is not None:
            generate.write_headers(tree)
        (tree / COMPLETE_MARKER).write_text(series.digest() + "\n")
        if final.exists():
            shutil.rmtree(final)
        tree.rename(final)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    _remove_stale_trees(src_root, series, keep=final)
    return final


def copy_overlay(series: Series, tree: Path) -> None:
    """Copy every port/ file to the same place in the tree; never over a file musl ships."""
    assert series.overlay is not None
    for source in series.overlay_files:
        relative = source.relative_to(series.overlay)
        target = tree / relative
        if target.exists():
            raise PatchError(f"{source}: musl-{series.version} already has {relative}. The port/ tree only "
                             f"adds files; change a file musl ships with a patch in patches/common/ (or "
                             f"patches/musl-{series.version}/ when only this version needs it).")
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(source, target)


def apply_patch(tree: Path, patch: Path, log: Path | None = None) -> None:
    """Refuse a patch that could write outside the tree, then dry-run it so a conflict is reported
    before anything changes."""
    unsafe = unsafe_paths(patch)
    if unsafe:
        raise PatchError(f"Patch {patch} is refused as unsafe: {'; '.join(unsafe)}. A patch may only "
                         f"change files inside the musl tree; fix the patch (paths are relative, as "
                         f"a/src/... and b/src/...).")
    base = ["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-i", str(patch)]
    try:
        proc.output([*base, "--dry-run"], cwd=tree)
    except CommandFailed as failure:
        raise PatchError(_conflict_message(patch, str(failure))) from None
    proc.run(base, cwd=tree, log=log, quiet=True, echo=False)


def unsafe_paths(patch: Path) -> list[str]:
    """Why each file name in the patch could leave the tree after -p1: absolute, '..', or a symlink."""
    lines = patch.read_text(encoding="utf-8", errors="replace").splitlines()
    reasons = []
    for number, line in enumerate(lines, 1):
        if line.startswith(("new file mode 120000", "new mode 120000")):
            reasons.append(f"line {number} makes a symlink, which could point out of the tree")
            continue
        name = _named_file(line, lines[number] if number < len(lines) else "")
        if name is None or name == "/dev/null":
            continue
        if name.startswith("/"):
            reasons.append(f"line {number} names the absolute path '{name}'")
        elif ".." in name.split("/")[1:]:  # -p1 strips the a/ or b/
            reasons.append(f"line {number} names '{name}', which leaves the tree through '..'")
    return reasons


def _named_file(line: str, following: str) -> str | None:
    """The file name a header line gives (a '--- ' line followed by '+++ ', the '+++ ' line, git's
    rename/copy lines), else None."""
    if line.startswith("--- ") and not following.startswith("+++ "):
        return None  # a removed line that happened to start with '-- '
    for prefix in ("--- ", "+++ ", "rename from ", "rename to ", "copy from ", "copy to "):
        if line.startswith(prefix):
            name = line[len(prefix):].split("\t", 1)[0].strip()
            return name if prefix[0] in "-+" else "x/" + name  # git's rename lines carry no a/ b/
    return None


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
