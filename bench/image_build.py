"""Time the toolchain image: two rootfs builds (reproducibility) and one docker import.

    python bench/image_build.py [toolchain]      # default llvm-22; needs root, mmdebstrap and Docker

Prints build seconds, tarball and image sizes, both sha256 digests and whether they match. The .deb cache
(MUSLFORGE_CACHE/images/debs/<toolchain>) is used as in a normal build: empty it for a cold number.
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

from muslforge import docker, paths
from muslforge.toolchain import image
from muslforge.config.toolchain import load_toolchain


def main(name: str = "llvm-22") -> int:
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, name)
    scratch_parent = paths.cache_dir() / "images"
    scratch_parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix=".bench-", dir=scratch_parent) as scratch:
        digests, seconds = [], []
        for run in ("first", "second"):
            started = time.monotonic()
            tarball = image.build_rootfs(toolchain, Path(scratch) / f"{run}.tar")
            seconds.append(time.monotonic() - started)
            digests.append(image.sha256_file(tarball))
        tag = f"muslforge/bench-{name}:{digests[0][:16]}"
        started = time.monotonic()
        docker.import_rootfs(tarball, tag, image.labels(toolchain, digests[1]))
        imported = time.monotonic() - started
        size = docker.image_size(tag)
        docker.remove_image(tag)
        print(f"toolchain        {name} ({image.image_tag(toolchain)})")
        print(f"rootfs builds    {seconds[0]:.1f} s, {seconds[1]:.1f} s")
        print(f"docker import    {imported:.1f} s")
        print(f"tarball          {tarball.stat().st_size / 2**20:.0f} MiB; image {size / 2**20:.0f} MiB")
        print(f"rootfs sha256    {digests[0]}\n                 {digests[1]}")
        print(f"reproducible     {'yes' if digests[0] == digests[1] else 'NO'}")
    return 0 if digests[0] == digests[1] else 1


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
