"""Every supported musl version carries every later upstream security fix, with its provenance, and is
marked as a muslforge build. The fixes themselves are exercised by tests/smoke/iconv_euckr.c, a smoke
program, on every arch of every version."""

from __future__ import annotations

import difflib
import tarfile

import pytest

from muslforge.config.musl import load_releases
from muslforge.release.manifest import patches_info
from muslforge.sources.patch import load_series, prepare_tree
from muslforge.paths import PATCHES_DIR, SOURCES_DIR
from muslforge.tasks.context import load_context

pytestmark = pytest.mark.integration

VERSIONS = [r.version for r in load_releases(SOURCES_DIR / "musl.yaml").releases]
CVE_2025_26519 = {"musl commit e5adcd97b5196e29991b524237381a0202a60659",
                  "musl commit c47ad25ea3b484e10326f933e927c0bc8cded3da"}


@pytest.fixture(scope="module")
def patched(musl_tarballs, tmp_path_factory):
    """Each supported version's tree with its whole series applied."""
    root = tmp_path_factory.mktemp("patched")
    return {v: prepare_tree(musl_tarballs / f"musl-{v}.tar.gz", load_context(v).series,
                            root / v) for v in VERSIONS}


@pytest.mark.parametrize("version", VERSIONS)
def test_every_version_is_marked_as_a_muslforge_build(patched, version):
    assert (patched[version] / "VERSION").read_text().strip() == f"{version}+muslforge"


def test_the_1_2_5_manifest_names_the_cve_and_its_upstream_commits():
    info = patches_info(load_series(PATCHES_DIR, "1.2.5"))
    fixes = {fix["cve"]: fix["patches"] for fix in info["security_fixes"]}
    assert list(fixes) == ["CVE-2025-26519"]
    upstream = {p["upstream"] for p in info["applied"] if p["name"] in fixes["CVE-2025-26519"]}
    assert upstream == CVE_2025_26519


def test_1_2_5_iconv_equals_1_2_6_but_for_the_gbk_features(patched, musl_tarballs, tmp_path):
    """Derived from upstream: 1.2.5's patched iconv.c differs from 1.2.6's only by 1.2.6's new features
    (the cp936 alias and GBK's euro sign), none of the fixes is missing."""
    with tarfile.open(musl_tarballs / "musl-1.2.6.tar.gz") as tar:
        upstream = tar.extractfile("musl-1.2.6/src/locale/iconv.c").read().decode().splitlines()
    ours = (patched["1.2.5"] / "src" / "locale" / "iconv.c").read_text().splitlines()
    changed = [line for line in difflib.unified_diff(ours, upstream, lineterm="", n=0)
               if line[:1] in "+-" and not line.startswith(("+++", "---"))]
    assert changed == ['-"gbk\\0\\0\\331"', '+"gbk\\0cp936\\0windows936\\0\\0\\331"',
                       "+\t\t\tif (c == 128) {", "+\t\t\t\tc = 0x20ac;", "+\t\t\t\tbreak;", "+\t\t\t}"]
