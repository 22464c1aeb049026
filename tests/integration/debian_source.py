"""Real software for the tests: upstream tarballs as Debian's source packages carry them (the .orig file).

`apt-get source --download-only PKG` into a scratch folder (some .dsc files 404; the orig tarball still
downloads, and it is all the tests use), then the orig tarball is kept in a cache folder so later
sessions need no network. ./setup.sh --tests adds the deb-src entries apt needs (.ci/get-musl-tarballs).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tarfile
import tempfile
from pathlib import Path

import pytest


def cache_dir() -> Path:
    """MUSLFORGE_SOURCE_CACHE, else ~/.cache/muslforge/debian-src (shared by sessions; never modified)."""
    default = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "muslforge" / "debian-src"
    return Path(os.environ.get("MUSLFORGE_SOURCE_CACHE") or default)


def orig_tarball(package: str) -> Path:
    """The cached orig tarball of a Debian source package, fetched on first use."""
    cache = cache_dir()
    found = sorted(cache.glob(f"{package}_*.orig.tar.*"))
    if found:
        return found[-1]
    cache.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=f"debsrc-{package}-") as work:
        os.chmod(work, 0o755)  # apt's download user must be able to write here
        done = subprocess.run(["apt-get", "source", "--download-only", "-qq", package], cwd=work,
                              capture_output=True, text=True)
        fetched = sorted(Path(work).glob(f"{package}_*.orig.tar.*"))
        if not fetched:
            pytest.fail(f"apt-get source --download-only {package} fetched no orig tarball (exit "
                        f"{done.returncode}): {done.stderr.strip()[-600:]}\nThe tests need deb-src entries "
                        f"in apt's sources: ./setup.sh --tests adds them.", pytrace=False)
        target = cache / fetched[-1].name
        shutil.move(str(fetched[-1]), target.with_name(target.name + ".part"))
        os.replace(target.with_name(target.name + ".part"), target)
    return target


def unpack(package: str, dest: Path) -> Path:
    """A fresh copy of the package's source tree under dest; returns its top folder."""
    with tarfile.open(orig_tarball(package)) as tar:
        tops = {m.name.split("/")[0] for m in tar.getmembers()}
        tar.extractall(dest, filter="tar")
    assert len(tops) == 1, f"{package}: expected one top folder, got {sorted(tops)}"
    return dest / tops.pop()
