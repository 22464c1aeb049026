"""Release manifests: what went into a release, and the assembly of dist/<version>/ from per-arch parts.

Packing an arch writes its tarball and a *part* beside it (`<tarball stem>.part.json`): the inputs
common to the whole release (musl, patches, toolchain, SOURCE_DATE_EPOCH, packaging settings) plus that
arch's file and its tarball's sha256 and size. `assemble` merges parts (built on one machine or on
many) into the same bytes either way:

    dist/<version>/muslforge-musl-<version>-<arch>.tar.xz   copied unchanged from the parts
    dist/<version>/manifest.json                          sorted keys, indent 2, trailing newline
    dist/<version>/SHA256SUMS                             `sha256sum` format, sorted by file name

The folder is built aside and renamed into place, so an interrupted release leaves the previous one.
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import shutil
import sys
import tarfile
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from .. import __version__
from ..config.arch import Arch
from ..config.musl import MuslRelease
from ..config.toolchain import Toolchain
from ..errors import MuslforgeError, report
from ..files import sha256_file, write_atomically
from .package import TAR_FORMAT, XZ_SETTINGS, dist_root
from ..sources.patch import Series, provenance
from ..progress import title
from ..sysroot.provenance import unpinned_allowed

FORMAT = 1
PART_SUFFIX = ".part.json"
MANIFEST = "manifest.json"
SUMS = "SHA256SUMS"
COMMON_KEYS = ("format", "muslforge", "musl", "patches", "toolchain", "source_date_epoch", "packaging")


def dumps(data: Any) -> str:
    """The one JSON spelling of every file muslforge releases: sorted keys, indent 2, final newline."""
    return json.dumps(data, sort_keys=True, indent=2, ensure_ascii=False) + "\n"


# ---------------------------------------------------------------------------------------- inputs

def release_inputs(release: MuslRelease, series: Series, toolchain: Toolchain, epoch: int) -> dict:
    """Everything common to all arches of a release."""
    return {
        "format": FORMAT,
        "muslforge": __version__,
        "musl": {"version": release.version, "file": release.file, "sha256": release.sha256},
        "patches": patches_info(series),
        "toolchain": toolchain_info(toolchain),
        "source_date_epoch": epoch,
        "packaging": {"tar": tarfile_format_name(), "compressor": "xz", "xz_preset": XZ_SETTINGS["preset"],
                      "xz_check": "crc64"},
    }


def patches_info(series: Series) -> dict:
    """Every patch applied, in order, with its upstream commit and the CVEs it fixes (security_fixes
    lists them by CVE so a reader sees at a glance what this release is patched against)."""
    applied, fixes = [], {}
    for number, patch in enumerate(series.patches, 1):
        origin, name = provenance(patch), f"{patch.parent.name}/{patch.name}"
        applied.append({"order": number, "name": name, "sha256": sha256_file(patch),
                        "upstream": origin.upstream, "cves": list(origin.cves)})
        for cve in origin.cves:
            fixes.setdefault(cve, []).append(name)
    return {"series_sha256": sha256_file(series.series_file), "digest": series.digest(), "applied": applied,
            "security_fixes": [{"cve": cve, "patches": names} for cve, names in sorted(fixes.items())]}


def tarfile_format_name() -> str:
    return {tarfile.GNU_FORMAT: "gnu", tarfile.USTAR_FORMAT: "ustar", tarfile.PAX_FORMAT: "pax"}[TAR_FORMAT]


def toolchain_info(toolchain: Toolchain) -> dict:
    """Name, programs and image pins; the image tag and rootfs sha256 when they can be known offline."""
    image_tag, rootfs_sha256 = _image_facts(toolchain)
    return {"name": toolchain.name, "cc": toolchain.cc, "ar": toolchain.ar, "ranlib": toolchain.ranlib,
            "image": image_tag, "rootfs_sha256": rootfs_sha256, "suite": toolchain.image.suite,
            "image_source_date_epoch": toolchain.image.source_date_epoch,
            "packages": sorted(toolchain.image.packages)}


def _image_facts(toolchain: Toolchain) -> tuple[str | None, str | None]:
    """(image tag, sha256 of the cached rootfs tarball), each None when unknown here."""
    try:
        from ..toolchain import image
    except ImportError:
        return None, None
    try:
        tag = image.image_tag(toolchain)
        rootfs = image.rootfs_path(toolchain)
    except MuslforgeError:  # e.g. dpkg missing: no native arch, no tag
        return None, None
    if not rootfs.is_file():
        return tag, None
    info = rootfs.stat()
    return tag, _digest_once(str(rootfs), info.st_size, info.st_mtime_ns)


@functools.lru_cache(maxsize=8)
def _digest_once(path: str, size: int, mtime_ns: int) -> str:
    """sha256 of a large file, once per process for an unchanged file (every arch's part records it)."""
    return sha256_file(Path(path))


def arch_info(arch: Arch) -> dict:
    """The arch's identity: its triple, fingerprint and the sha256 of its YAML file."""
    info: dict[str, Any] = {"triple": arch.triple, "musl_target": arch.musl_target,
                            "fingerprint": arch.fingerprint(), "file": f"{arch.name}.yaml",
                            "file_sha256": None}
    if arch.path is not None:
        info["file_sha256"] = sha256_file(arch.path)
    return info


def shared_info(sysroot: Path) -> dict | None:
    """The dynamic loader's name and libc.so's sha256; None for a static-only sysroot (wasm32)."""
    from ..sysroot.dynamic import loader_name
    loader = loader_name(sysroot)
    if loader is None:
        return None
    return {"loader": f"/lib/{loader}", "libc.so": sha256_file(sysroot / "lib" / "libc.so")}


def output_info(path: Path) -> dict:
    return {"file": path.name, "sha256": sha256_file(path), "size": path.stat().st_size}


# ---------------------------------------------------------------------------------------- parts

def part_path(tarball: Path) -> Path:
    return tarball.with_name(tarball.name.removesuffix(".tar.xz") + PART_SUFFIX)


def write_part(inputs: dict, arch: Arch, tarball: Path, builtins: str | None = None,
               built_with: dict | None = None, sysroot: Path | None = None) -> Path:
    """Write the part for one packed arch beside its tarball (builtins: where its compiler-rt came from;
    built_with: muslforge.sysroot.provenance's record of the backend and compiler that built the sysroot;
    sysroot: the packed one, whose shared pieces are recorded)."""
    info = {"name": arch.name, **arch_info(arch), **({"builtins": builtins} if builtins else {}),
            "built_with": built_with, **({"shared": shared_info(sysroot)} if sysroot is not None else {})}
    part = {**inputs, "arch": info, "output": output_info(tarball)}
    return write_atomically(part_path(tarball), dumps(part).encode())


def find_parts(sources: Iterable[Path]) -> list[Path]:
    """Part files named directly, or found (recursively) in the folders named."""
    found: list[Path] = []
    for source in sources:
        if source.is_dir():
            found.extend(sorted(source.rglob("*" + PART_SUFFIX)))
        elif source.name.endswith(PART_SUFFIX) and source.is_file():
            found.append(source)
        else:
            raise MuslforgeError(f"{source}: neither a folder nor a *{PART_SUFFIX} file; assemble takes the "
                                 f"folders where `doit package:<arch>` (or a CI job) left its outputs.")
    if not found:
        raise MuslforgeError(f"No *{PART_SUFFIX} files in {', '.join(map(str, sources))}. "
                             f"Pack each arch first: doit package:<arch>")
    return found


def load_part(path: Path) -> tuple[dict, Path]:
    """A part and its tarball, after checking that the tarball is the one the part describes."""
    try:
        part = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise MuslforgeError(f"{path}: not a readable release part ({exc}).") from None
    if part.get("format") != FORMAT:
        raise MuslforgeError(f"{path}: part format {part.get('format')!r}; this muslforge reads format "
                             f"{FORMAT}.")
    tarball = path.with_name(part["output"]["file"])
    if not tarball.is_file():
        raise MuslforgeError(f"{path}: its tarball {tarball.name} is not beside it.")
    if sha256_file(tarball) != part["output"]["sha256"]:
        raise MuslforgeError(f"{tarball}: sha256 differs from the one recorded in {path.name}; the tarball "
                             f"changed after it was packed. Pack it again: "
                             f"doit package:{part['arch']['name']}")
    return part, tarball


def merge_common(parts: list[tuple[Path, dict]]) -> dict:
    """The inputs shared by every part; a disagreement (other musl, patches, pins...) is an error.

    The one allowed gap: a machine without the toolchain's rootfs tarball records rootfs_sha256 null;
    a value from another part fills it.
    """
    first_path, first = parts[0]
    common = {key: first.get(key) for key in COMMON_KEYS}
    for path, part in parts[1:]:
        for key in COMMON_KEYS:
            mine, theirs = common[key], part.get(key)
            if key == "toolchain" and isinstance(mine, dict) and isinstance(theirs, dict):
                mine, theirs = _fill_rootfs(mine, theirs, first_path, path)
                common[key] = mine
            if mine != theirs:
                raise MuslforgeError(f"{path} and {first_path} disagree on '{key}': they were not built from "
                                     f"the same inputs ({json.dumps(theirs, sort_keys=True)[:200]} vs "
                                     f"{json.dumps(mine, sort_keys=True)[:200]}).")
    return common


def _fill_rootfs(mine: dict, theirs: dict, mine_path: Path, their_path: Path) -> tuple[dict, dict]:
    a, b = mine.get("rootfs_sha256"), theirs.get("rootfs_sha256")
    if a and b and a != b:
        raise MuslforgeError(f"{their_path} and {mine_path} record different toolchain rootfs sha256s "
                             f"({b} vs {a}): the toolchain image was not reproducible.")
    filled = a or b
    return {**mine, "rootfs_sha256": filled}, {**theirs, "rootfs_sha256": filled}


# ---------------------------------------------------------------------------------------- assemble

def assemble(sources: Iterable[Path], root: Path | None = None, *, allow_unpinned: bool = False) -> Path:
    """Merge parts (and their tarballs) into <root>/<musl version>/; return that folder.

    A part whose sysroot was not built with the pinned compiler packages is refused unless
    allow_unpinned; the manifest's `pinned` says whether every arch was.
    """
    loaded = [(path, *load_part(path)) for path in find_parts(list(sources))]
    common = merge_common([(path, part) for path, part, _ in loaded])
    arches: dict[str, dict] = {}
    tarballs: dict[str, Path] = {}
    for path, part, tarball in loaded:
        name = part["arch"]["name"]
        if name in arches:
            raise MuslforgeError(f"{path}: arch {name} appears twice among the parts "
                                 f"(also in {tarballs[name].parent}); pass each arch once.")
        arches[name] = {k: v for k, v in part["arch"].items() if k != "name"} | {"tarball": tarball.name}
        tarballs[name] = tarball
    unpinned = sorted(name for name, info in arches.items() if not (info.get("built_with") or {}).get("pinned"))
    if unpinned and not allow_unpinned:
        raise MuslforgeError(f"{', '.join(unpinned)}: not built with the toolchain's pinned compiler packages "
                             f"(see built_with in their parts). Rebuild in the pinned image "
                             f"(MUSLFORGE_BACKEND=docker), or release them as unpinned: MUSLFORGE_UNPINNED=1 "
                             f"(or unpinned=1, or --unpinned); the manifest then says so.")
    manifest = {**common, "arches": arches, "pinned": not unpinned,
                "outputs": {p.name: {"sha256": part["output"]["sha256"], "size": part["output"]["size"]}
                            for _, part, p in loaded}}
    return publish(manifest, list(tarballs.values()), (root or dist_root()) / common["musl"]["version"])


def sha256sums(digests: dict[str, str]) -> str:
    """`sha256sum` output (text mode, two spaces), sorted by file name."""
    return "".join(f"{digest}  {name}\n" for name, digest in sorted(digests.items()))


def publish(manifest: dict, tarballs: list[Path], dest: Path) -> Path:
    """Build dest aside (tarballs, manifest.json, SHA256SUMS) and swap it into place."""
    dest.parent.mkdir(parents=True, exist_ok=True)
    staging = dest.with_name(f".{dest.name}.staging-{os.getpid()}")
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir()
    try:
        for tarball in sorted(tarballs):
            shutil.copyfile(tarball, staging / tarball.name)
        write_atomically(staging / MANIFEST, dumps(manifest).encode())
        digests = {name: info["sha256"] for name, info in manifest["outputs"].items()}
        digests[MANIFEST] = sha256_file(staging / MANIFEST)
        write_atomically(staging / SUMS, sha256sums(digests).encode())
        _swap_into_place(staging, dest)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return dest


def _swap_into_place(staging: Path, dest: Path) -> None:
    old = dest.with_name(f".{dest.name}.old-{os.getpid()}")
    if dest.exists():
        os.replace(dest, old)
    os.replace(staging, dest)
    shutil.rmtree(old, ignore_errors=True)


# ---------------------------------------------------------------------------------------- checking

def check_dist(folder: Path) -> dict:
    """Check a release folder against its SHA256SUMS and manifest; return the manifest."""
    sums_file, manifest_file = folder / SUMS, folder / MANIFEST
    for needed in (sums_file, manifest_file):
        if not needed.is_file():
            raise MuslforgeError(f"{needed} is missing; {folder} is not a complete release (doit release).")
    listed = parse_sha256sums(sums_file.read_text(encoding="utf-8"), sums_file)
    present = {p.name for p in folder.iterdir() if p.name != SUMS}
    if set(listed) != present:
        raise MuslforgeError(f"{sums_file}: lists {sorted(set(listed) - present) or 'nothing'} that is "
                             f"missing and misses {sorted(present - set(listed)) or 'nothing'} that is "
                             f"present.")
    for name, digest in sorted(listed.items()):
        if sha256_file(folder / name) != digest:
            raise MuslforgeError(f"{folder / name}: sha256 differs from {sums_file}; the file changed or is "
                                 f"corrupt.")
    manifest = json.loads(manifest_file.read_text(encoding="utf-8"))
    for name, info in manifest["outputs"].items():
        if listed.get(name) != info["sha256"]:
            raise MuslforgeError(f"{manifest_file}: output {name} disagrees with {sums_file}.")
    return manifest


def parse_sha256sums(text: str, where: Path) -> dict[str, str]:
    found: dict[str, str] = {}
    for number, line in enumerate(text.splitlines(), 1):
        digest, sep, name = line.partition("  ")
        if not sep or len(digest) != 64 or not name:
            raise MuslforgeError(f"{where}: line {number} is not '<sha256>  <file>': {line!r}.")
        found[name] = digest
    return found


# ---------------------------------------------------------------------------------------- command line

def main(argv: list[str] | None = None) -> int:
    """python -m muslforge.release.manifest assemble PART-OR-FOLDER... [--dist DIR] | check FOLDER"""
    parser = argparse.ArgumentParser(prog="python -m muslforge.release.manifest", description=main.__doc__)
    sub = parser.add_subparsers(dest="command", required=True)
    build = sub.add_parser("assemble", help="merge per-arch tarballs and parts into <dist>/<version>/")
    build.add_argument("sources", nargs="+", type=Path)
    build.add_argument("--dist", type=Path, default=None, help="default: MUSLFORGE_DIST_DIR or dist/")
    build.add_argument("--unpinned", action="store_true",
                       help="accept sysroots not built with the pinned compiler packages (the manifest says so)")
    check = sub.add_parser("check", help="check a release folder against SHA256SUMS and manifest.json")
    check.add_argument("folder", type=Path)
    args = parser.parse_args(argv)
    try:
        if args.command == "assemble":
            allow = args.unpinned or unpinned_allowed()
            print(title("RELEASE", f"{assemble(args.sources, args.dist, allow_unpinned=allow)}"))
        else:
            manifest = check_dist(args.folder)
            print(title("CHECK", f"{args.folder}: {len(manifest['outputs'])} tarball(s) match SHA256SUMS"))
    except (MuslforgeError, KeyboardInterrupt) as error:
        return report("muslforge", error)
    return 0


if __name__ == "__main__":
    sys.exit(main())
