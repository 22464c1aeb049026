"""A toolchain's Docker image: an mmdebstrap rootfs of the pinned packages, then `docker import`.

The tag `muslforge/<toolchain>:<inputs hash>` is computed without Docker from the recipe files
(containers/toolchain/) and the toolchain's image pins, so an edit to either names a new image and
`ensure_image` builds only what is missing. The rootfs tarball is reproducible: two builds from the same
pins give the same bytes (SOURCE_DATE_EPOCH, mmdebstrap's cleanup, and containers/toolchain/customize.sh).
"""

from __future__ import annotations

import functools
import hashlib
import json
import os
import platform
import re
import shutil
import sys
import tempfile
import time
from pathlib import Path

from .. import paths, proc
from ..config.toolchain import Toolchain
from ..errors import BackendError, MuslforgeError, report
from ..files import commit, listing_digest, sha256_file, write_atomically

RECIPE_DIR = paths.CONTAINERS_DIR / "toolchain"
APT_SOURCES = (Path("/etc/apt/sources.list"), Path("/etc/apt/sources.list.d"))
TITLE = "IMAGE"


def image_repository(toolchain: Toolchain) -> str:
    return f"muslforge/{toolchain.name}"


def image_tag(toolchain: Toolchain) -> str:
    """muslforge/<name>:<first 16 hex digits of inputs_hash>, computed without Docker."""
    return f"{image_repository(toolchain)}:{inputs_hash(toolchain)[:16]}"


def recipe_files() -> list[Path]:
    """The files of containers/toolchain/ (for a doit task's file_dep)."""
    return sorted(p for p in RECIPE_DIR.iterdir() if p.is_file())


def inputs_hash(toolchain: Toolchain) -> str:
    """sha256 of everything that decides the rootfs: recipe files, pins, mmdebstrap options."""
    recipe = {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in recipe_files()}
    values = {"recipe": recipe, "options": _options(toolchain, portable=True),
              "suite": toolchain.image.suite, "source_date_epoch": toolchain.image.source_date_epoch,
              "native": native_arch()}
    return hashlib.sha256(json.dumps(values, sort_keys=True).encode()).hexdigest()


def rootfs_path(toolchain: Toolchain) -> Path:
    """The cached rootfs tarball for the toolchain's current inputs."""
    return paths.cache_dir() / "images" / f"{toolchain.name}-{inputs_hash(toolchain)[:16]}.tar"


# The kernel's machine name -> Debian's architecture name (no dpkg: nothing at load time runs a process).
_DEBIAN_ARCH = {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "armhf", "armv8l": "armhf", "i686": "i386",
                "ppc64le": "ppc64el", "s390x": "s390x", "riscv64": "riscv64", "mips64": "mips64el",
                "loongarch64": "loong64"}


@functools.cache
def native_arch() -> str:
    """The host's Debian architecture, which is also the image's."""
    machine = platform.machine()
    if machine not in _DEBIAN_ARCH:
        raise BackendError(f"No Debian architecture known for this machine ({machine}); add it to "
                           f"muslforge.toolchain.image._DEBIAN_ARCH.")
    return _DEBIAN_ARCH[machine]


def foreign_arches(toolchain: Toolchain) -> tuple[str, ...]:
    """Foreign arches whose packages are installed in the image (image: foreign_arches)."""
    return tuple(sorted(set(toolchain.image.foreign_arches) - {native_arch()}))


def _options(toolchain: Toolchain, *, portable: bool) -> list[str]:
    """mmdebstrap options; portable=True names recipe files relative to the recipe folder (for hashing)."""
    recipe = Path("containers/toolchain") if portable else RECIPE_DIR
    pins = toolchain.image
    return [f"--variant={pins.variant}",
            f"--architectures={','.join((native_arch(), *foreign_arches(toolchain)))}",
            f"--dpkgopt={recipe / 'dpkg.cfg'}", f"--aptopt={recipe / 'apt.conf'}",
            f"--include={','.join(pins.packages)}",
            f"--customize-hook={recipe / 'customize.sh'}"]


def apt_sources() -> list[Path]:
    """This machine's own apt sources files (what apt itself reads), used as the image's mirror."""
    from ..settings import current
    override = current().apt_sources
    if override:
        return list(override)
    listed, folder = APT_SOURCES
    found = [listed] if listed.is_file() and _has_entries(listed) else []
    if folder.is_dir():
        found += sorted(p for p in folder.iterdir() if p.suffix in (".list", ".sources") and _has_entries(p))
    if not found:
        raise BackendError("No apt sources found in /etc/apt/sources.list or /etc/apt/sources.list.d/; "
                           "the toolchain image is built from this machine's own Debian mirror. Configure "
                           "apt, or name sources files with MUSLFORGE_APT_SOURCES.")
    return found


def _has_entries(path: Path) -> bool:
    return any(line.strip() and not line.lstrip().startswith("#")
               for line in path.read_text(encoding="utf-8").splitlines())


def check_suites(toolchain: Toolchain, sources: list[Path], text: str) -> None:
    """Refuse early when the machine's binary apt sources (text) lack a suite the pins come from."""
    present = set()
    for match in re.finditer(r"^\s*Suites:\s*(.+)$", text, re.MULTILINE):
        present.update(match.group(1).split())
    for match in re.finditer(r"^\s*deb\s+(?:\[[^\]]*\]\s+)?\S+\s+(\S+)", text, re.MULTILINE):
        present.add(match.group(1))
    missing = [s for s in (toolchain.image.suite, *toolchain.image.extra_suites) if s not in present]
    if missing:
        raise BackendError(f"The apt sources of this machine ({', '.join(map(str, sources))}) lack the "
                           f"suites {', '.join(missing)} that toolchain {toolchain.name} is pinned to; add "
                           f"them to apt's sources.")


def binary_sources(sources: list[Path]) -> tuple[str, str]:
    """(deb822 text, one-line text) of the binary ("deb") entries of the given apt sources files.

    deb-src entries and disabled stanzas are dropped: the image needs packages only, and a source entry
    another tool added to the machine must neither slow the build nor change it.
    """
    stanzas, lines = [], []
    for path in sources:
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".sources":
            stanzas += [s for s in map(_binary_stanza, re.split(r"\n\s*\n", text)) if s]
        else:
            lines += [line.strip() for line in text.splitlines() if line.strip().startswith("deb ")]
    return "\n\n".join(stanzas) + ("\n" if stanzas else ""), "\n".join(lines) + ("\n" if lines else "")


def _binary_stanza(stanza: str) -> str:
    fields = [line for line in stanza.splitlines() if line.strip() and not line.lstrip().startswith("#")]
    values = {line.split(":", 1)[0].strip().lower(): line.split(":", 1)[1].strip()
              for line in fields if ":" in line and not line[0].isspace()}
    if "deb" not in values.get("types", "").split() or values.get("enabled", "yes").lower() == "no":
        return ""
    return "\n".join("Types: deb" if line.lower().startswith("types:") else line for line in fields)


def _write_sources(toolchain: Toolchain, folder: Path) -> list[Path]:
    """Write this machine's binary apt sources into folder; return the files for mmdebstrap."""
    sources = apt_sources()
    texts = binary_sources(sources)
    check_suites(toolchain, sources, "\n".join(texts))
    written = []
    for suffix, text in zip((".sources", ".list"), texts):
        if text:
            target = folder / f"apt{suffix}"
            target.write_text(text, encoding="utf-8")
            written.append(target)
    return written


def mmdebstrap_argv(toolchain: Toolchain, output: Path, debs: Path, sources: list[Path]) -> list[str]:
    """The full mmdebstrap command writing an uncompressed tar to output, caching .debs in debs/."""
    return ["mmdebstrap", *_options(toolchain, portable=False), "--format=tar",
            '--setup-hook=mkdir -p "$1/var/cache/apt/archives"',
            f"--setup-hook=sync-in {debs} /var/cache/apt/archives/",
            f"--customize-hook=sync-out /var/cache/apt/archives {debs}",
            toolchain.image.suite, str(output), *map(str, sources)]


def build_rootfs(toolchain: Toolchain, output: Path | None = None, *, log: Path | None = None) -> Path:
    """Build the rootfs tarball (temporary name, then renamed); return its path."""
    output = output or rootfs_path(toolchain)
    output.parent.mkdir(parents=True, exist_ok=True)
    debs = paths.cache_dir() / "images" / "debs" / toolchain.name
    debs.mkdir(parents=True, exist_ok=True)
    partial = output.with_name(f".{output.name}.{os.getpid()}.partial")
    scratch = Path(tempfile.mkdtemp(prefix=f".{toolchain.name}-", dir=output.parent))
    env = {"SOURCE_DATE_EPOCH": str(toolchain.image.source_date_epoch)}
    _say(toolchain, f"mmdebstrap {toolchain.image.suite} ({len(toolchain.image.packages)} pinned packages)")
    try:
        argv = mmdebstrap_argv(toolchain, partial, debs, _write_sources(toolchain, scratch))
        proc.run(argv, env=env, log=log, quiet=True, on_line=lambda line: _progress(toolchain, line))
        commit(partial, output)
    finally:
        partial.unlink(missing_ok=True)
        shutil.rmtree(scratch, ignore_errors=True)
    return output


def _progress(toolchain: Toolchain, line: str) -> None:
    if line.startswith(("I: downloading", "I: extracting", "I: installing", "I: creating", "I: success")):
        _say(toolchain, line[3:].rstrip())


def _say(toolchain: Toolchain, text: str) -> None:
    print(f"{TITLE:<8} {toolchain.name}: {text}", flush=True)


def labels(toolchain: Toolchain, rootfs_sha256: str) -> dict[str, str]:
    """OCI labels plus muslforge's own: the rootfs digest and the pinned packages."""
    tag = image_tag(toolchain)
    found = {
        "org.opencontainers.image.title": f"muslforge toolchain {toolchain.name}",
        "org.opencontainers.image.source": _git(["config", "--get", "remote.origin.url"]) or str(paths.CHECKOUT),
        "org.opencontainers.image.version": tag.rpartition(":")[2],
        "org.opencontainers.image.created": time.strftime(
            "%Y-%m-%dT%H:%M:%SZ", time.gmtime(toolchain.image.source_date_epoch)),
        "muslforge.toolchain": toolchain.name,
        "muslforge.rootfs.sha256": rootfs_sha256,
        "muslforge.packages": " ".join(toolchain.image.packages),
        # Every arch's builtins are built in this image from this source (muslforge.toolchain.builtins).
        "muslforge.compiler_rt": f"{toolchain.compiler_rt.package}={toolchain.compiler_rt.version}",
    }
    revision = _git(["rev-parse", "HEAD"])
    if revision:
        found["org.opencontainers.image.revision"] = revision
    return found


def _git(args: list[str]) -> str:
    try:
        return proc.output(["git", "-C", str(paths.CHECKOUT), *args], check=False).strip()
    except MuslforgeError:  # git missing: the labels just lack it
        return ""


def ensure_image(toolchain: Toolchain, *, log: Path | None = None) -> str:
    """The toolchain's image tag, building the rootfs and importing it only when the tag is missing."""
    from .. import docker

    tag = image_tag(toolchain)
    if docker.image_exists(tag):
        return tag
    started = time.monotonic()
    rootfs = rootfs_path(toolchain)
    if not rootfs.is_file():
        build_rootfs(toolchain, rootfs, log=log)
    digest = sha256_file(rootfs)
    _say(toolchain, f"docker import {rootfs.name} ({rootfs.stat().st_size // 2**20} MB)")
    docker.import_rootfs(rootfs, tag, labels(toolchain, digest))
    _prune_rootfs(toolchain, keep=rootfs)
    size = docker.image_size(tag) // 2**20
    _say(toolchain, f"imported {tag} ({size} MB, rootfs sha256 {digest[:16]}, "
                    f"{time.monotonic() - started:.0f} s)")
    return tag


def usr_copy(tag: str) -> Path:
    """The image's /usr as a host folder in the cache, made once per image id, for task containers to
    bind read-only over their own /usr.

    Why: this daemon's storage driver may be fuse-overlayfs, where every open, stat and page fault of
    clang, libLLVM and the compiler's headers in the image crosses a FUSE daemon: a clean build took
    ~1.9x the host's. A bind mount of the same bytes on the host's file system costs what the host
    does. The folder is named by the image id, copied aside and renamed into place under a lock; its
    listing (every name, kind, mode, size and link target: ~40 ms for 8,000 entries, where hashing
    1.1 GB of bytes would cost seconds per task) is recorded beside it and checked at every use, so a
    copy damaged since (files deleted, truncated, chmod'ed) is made again, never used.
    """
    from .. import docker, lock
    from ..progress import title

    image_id = docker.image_id(tag).removeprefix("sha256:")
    dest = paths.cache_dir() / "images" / f"{tag.rpartition('/')[2].partition(':')[0]}-usr-{image_id[:16]}"
    record = dest.with_name(dest.name + ".listing")
    if _usr_copy_intact(dest, record):
        return dest
    with lock.held(dest.with_name(dest.name + ".lock"), f"{tag}'s /usr"):
        if not _usr_copy_intact(dest, record):
            why = "damaged since it was made: made again" if dest.exists() else "once per image"
            print(title(TITLE, f"{tag}: its /usr to {dest} ({why})"), file=sys.stderr, flush=True)
            record.unlink(missing_ok=True)
            shutil.rmtree(dest, ignore_errors=True)
            staging = dest.with_name(f".{dest.name}.{os.getpid()}.tmp")
            shutil.rmtree(staging, ignore_errors=True)
            try:
                docker.copy_out(tag, "/usr", staging)
                listing = listing_digest(staging)
                os.replace(staging, dest)
                write_atomically(record, listing + "\n")
            finally:
                shutil.rmtree(staging, ignore_errors=True)
    return dest


def _usr_copy_intact(dest: Path, record: Path) -> bool:
    try:
        recorded = record.read_text(encoding="utf-8").strip()
    except OSError:
        return False
    return dest.is_dir() and recorded == listing_digest(dest)


def prune_usr_copies(prefix: str = "muslforge/") -> list[Path]:
    """Delete the /usr copies (usr_copy) of images no longer on the daemon; return them."""
    from .. import docker

    present = {image_id.removeprefix("sha256:")[:16] for image_id in docker.tagged_images(prefix).values()}
    stale = [folder for folder in (paths.cache_dir() / "images").glob("*-usr-*")
             if re.fullmatch(r".+-usr-[0-9a-f]{16}", folder.name) and folder.name[-16:] not in present]
    for folder in stale:
        folder.with_name(folder.name + ".listing").unlink(missing_ok=True)
        shutil.rmtree(folder, ignore_errors=True)
    return stale


def _prune_rootfs(toolchain: Toolchain, keep: Path) -> None:
    """Delete this toolchain's tarballs of earlier inputs (each is about a gigabyte)."""
    for old in keep.parent.glob(f"{toolchain.name}-*.tar"):
        if old != keep and re.fullmatch(rf"{re.escape(toolchain.name)}-[0-9a-f]{{16}}\.tar", old.name):
            old.unlink(missing_ok=True)


def prune_images(keep: set[str], prefix: str = "muslforge/") -> tuple[list[str], list[str]]:
    """Remove the local images whose tag starts with prefix and is not in keep (the tags the toolchain
    files name now), except those a container uses. Returns (removed, kept because in use)."""
    from .. import docker

    in_use = docker.images_in_use()
    removed, busy = [], []
    for tag, image_id in sorted(docker.tagged_images(prefix).items()):
        if tag in keep:
            continue
        if image_id in in_use or not docker.untag_image(tag):
            busy.append(tag)
        else:
            removed.append(tag)
    return removed, busy


def main(argv: list[str] | None = None) -> int:
    """python -m muslforge.toolchain.image <toolchain>: build (or find) the image and print its tag."""
    from ..config.toolchain import load_toolchain

    names = (argv if argv is not None else sys.argv[1:]) or ["llvm-22"]
    try:
        for name in names:
            print(ensure_image(load_toolchain(paths.TOOLCHAINS_DIR, name)))
    except (MuslforgeError, KeyboardInterrupt) as exc:
        return report("muslforge", exc)
    return 0


if __name__ == "__main__":
    sys.exit(main())
