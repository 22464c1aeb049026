"""fetch() against a loopback mirror: good, corrupt, flaky, truncated, missing, down, cached, signed."""

from __future__ import annotations

import dataclasses
import io
from pathlib import Path

import pytest

from muslforge.sources import fetch as fetch_module
from muslforge import settings
from muslforge.files import sha256_file
from muslforge.config.musl import MuslRelease, load_releases
from muslforge.errors import ConfigError, FetchError, VerifyError
from muslforge.paths import SOURCES_DIR

pytestmark = pytest.mark.integration

V126 = "musl-1.2.6.tar.gz"
V125 = "musl-1.2.5.tar.gz"
SHA126 = "d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a"


def release(version: str) -> MuslRelease:
    """The release from sources/musl.yaml with no configured mirrors: tests never leave loopback."""
    return dataclasses.replace(load_releases(SOURCES_DIR / "musl.yaml").get(version), mirrors=())


def fetch(version: str, cache: Path, mirrors: list[str], **kwargs) -> tuple[Path, str]:
    out = io.StringIO()
    path = fetch_module.fetch(release(version), cache=cache, mirrors_first=mirrors, backoff=0,
                              keyring=SOURCES_DIR / "musl-signing-key.asc", stream=out, **kwargs)
    return path, out.getvalue()


def advice(cache: Path, file: str = V126, sha: str = SHA126) -> str:
    return (f"What to do: put a mirror that serves {file} first with MUSLFORGE_MIRRORS=\"<base URL> ...\" "
            f"(whitespace-separated base URLs), or copy a file with sha256 {sha} to {cache / file}.")


def no_signature(mirror, file: str = V126) -> str:
    return (f"WARNING  no signature for {file} ({mirror.url}{file}.asc: HTTP 404 Not Found); relying on "
            f"the sha256 pinned in sources/musl.yaml.\n")


@pytest.fixture
def served(mirror, musl_tarballs):
    mirror.add(musl_tarballs / V126)
    return mirror


def test_good_file_is_fetched_verified_and_summarised(served, tmp_path):
    path, out = fetch("1.2.6", tmp_path, [served.url])
    assert path == tmp_path / V126
    assert sha256_file(path) == SHA126
    assert sorted(p.name for p in tmp_path.iterdir()) == [V126]
    warning, summary = out.splitlines(keepends=True)
    assert warning == no_signature(served)
    assert summary.startswith(f"FETCH    {V126} 1.0 MiB from {served.url}{V126} in ")
    assert summary.endswith(" s, sha256 ok, signature missing\n")


def test_corrupt_file_is_refused_and_nothing_is_left(served, tmp_path):
    served.always(V126, "corrupt")
    with pytest.raises(VerifyError) as raised:
        fetch("1.2.6", tmp_path, [served.url])
    url = served.url + V126
    assert str(raised.value) == (
        f"{V126}: no mirror served the release pinned in sources/musl.yaml (a corrupt or tampered copy "
        f"was refused and deleted):\n"
        f"  {url}: sha256 mismatch: got eea158e9fb3d74f966bbab108cf663e80357367fd8b06e58e0cd0feac16eca4c, "
        f"pinned {SHA126}; download deleted\n" + advice(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_corrupt_mirror_falls_through_to_a_good_one(served, musl_tarballs, tmp_path):
    data = bytearray((musl_tarballs / V126).read_bytes())
    data[-1] ^= 1
    (served.root / "bad").mkdir()
    (served.root / "bad" / V126).write_bytes(bytes(data))
    path, out = fetch("1.2.6", tmp_path, [served.url + "bad/", served.url])
    assert sha256_file(path) == SHA126
    assert f"from {served.url}{V126} in " in out
    assert sorted(p.name for p in tmp_path.iterdir()) == [V126]


def test_server_errors_are_retried_then_succeed(served, tmp_path):
    served.script(V126, "500", "500")
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert sha256_file(path) == SHA126
    assert served.hits(V126) == [None, None, None]


def test_persistent_server_errors_name_the_url_and_status(served, tmp_path):
    served.always(V126, "500")
    with pytest.raises(FetchError) as raised:
        fetch("1.2.6", tmp_path, [served.url])
    assert str(raised.value) == (
        f"{V126}: could not be downloaded from any mirror:\n"
        f"  {served.url}{V126}: HTTP 500 Internal Server Error (after 3 retries)\n" + advice(tmp_path))
    assert len(served.hits(V126)) == 4
    assert list(tmp_path.iterdir()) == []


def test_truncated_download_is_resumed_with_range(served, musl_tarballs, tmp_path):
    served.script(V126, "truncate")
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    size = (musl_tarballs / V126).stat().st_size
    assert served.hits(V126) == [None, f"bytes={size // 2}-"]
    assert sha256_file(path) == SHA126
    assert sorted(p.name for p in tmp_path.iterdir()) == [V126]


def test_server_ignoring_range_restarts_from_zero(served, musl_tarballs, tmp_path):
    served.script(V126, "truncate", "norange")
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert served.hits(V126) == [None, f"bytes={(musl_tarballs / V126).stat().st_size // 2}-"]
    assert sha256_file(path) == SHA126


def test_complete_part_file_gets_416_and_is_used(served, musl_tarballs, tmp_path):
    (tmp_path / f"{V126}.part").write_bytes((musl_tarballs / V126).read_bytes())
    size = (musl_tarballs / V126).stat().st_size
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert served.hits(V126) == [f"bytes={size}-"]
    assert sha256_file(path) == SHA126


def test_oversized_part_file_is_discarded_and_fetched_again(served, musl_tarballs, tmp_path):
    (tmp_path / f"{V126}.part").write_bytes((musl_tarballs / V126).read_bytes() + b"junk")
    size = (musl_tarballs / V126).stat().st_size
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert served.hits(V126) == [f"bytes={size + 4}-", None]
    assert sha256_file(path) == SHA126


def test_download_that_keeps_dropping_leaves_only_a_resumable_part(served, tmp_path):
    served.always(V126, "truncate")
    with pytest.raises(FetchError) as raised:
        fetch("1.2.6", tmp_path, [served.url])
    part = tmp_path / f"{V126}.part"
    assert [p.name for p in tmp_path.iterdir()] == [part.name]
    message = str(raised.value)
    assert message.startswith(f"{V126}: could not be downloaded from any mirror:\n  {served.url}{V126}: "
                              f"connection lost after ")
    assert f"; kept {V126}.part to resume\n{part} holds " in message
    assert "received so far; the next run resumes it.\nWhat to do: " in message
    assert len(served.hits(V126)) == 4
    served.always(V126, "ok")
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert served.hits(V126)[4].startswith("bytes=")
    assert sha256_file(path) == SHA126


def test_every_mirror_down_names_each_url(closed_port_url, tmp_path):
    with pytest.raises(FetchError) as raised:
        fetch("1.2.6", tmp_path, [closed_port_url, closed_port_url + "mirror/"])
    assert str(raised.value) == (
        f"{V126}: could not be downloaded from any mirror:\n"
        f"  {closed_port_url}{V126}: connection failed: connection refused\n"
        f"  {closed_port_url}mirror/{V126}: connection failed: connection refused\n" + advice(tmp_path))
    assert list(tmp_path.iterdir()) == []


def test_missing_everywhere_is_a_404_per_mirror(mirror, closed_port_url, tmp_path):
    with pytest.raises(FetchError) as raised:
        fetch("1.2.6", tmp_path, [mirror.url, closed_port_url])
    assert str(raised.value) == (
        f"{V126}: could not be downloaded from any mirror:\n"
        f"  {mirror.url}{V126}: HTTP 404 Not Found\n"
        f"  {closed_port_url}{V126}: connection failed: connection refused\n" + advice(tmp_path))


def test_first_mirror_missing_second_serves(mirror, served, tmp_path):
    empty = served.url + "empty/"
    path, _ = fetch("1.2.6", tmp_path, [empty, served.url])
    assert sha256_file(path) == SHA126


def test_no_mirrors_at_all_says_so(tmp_path):
    with pytest.raises(FetchError) as raised:
        fetch("1.2.6", tmp_path, [])
    assert str(raised.value) == (f"{V126}: could not be downloaded from any mirror:\n"
                                 f"  (no mirrors configured)\n" + advice(tmp_path))


def test_bad_mirror_url_is_refused():
    with pytest.raises(FetchError) as raised:
        fetch_module.fetch(release("1.2.6"), cache=Path("/nonexistent-never-made"),
                           mirrors_first=["ftp://example.org/"])
    assert str(raised.value) == (
        "mirror 'ftp://example.org/' is not an http:// or https:// base URL; fix MUSLFORGE_MIRRORS "
        "(whitespace-separated base URLs such as https://musl.libc.org/releases/).")


def test_cache_hit_makes_no_request(served, tmp_path):
    fetch("1.2.6", tmp_path, [served.url])
    served.requests.clear()
    path, out = fetch("1.2.6", tmp_path, [served.url])
    assert served.requests == []
    assert out == (f"FETCH    {V126} 1.0 MiB from cache, sha256 ok, signature not checked "
                   f"(no {V126}.asc in the cache)\n")


def test_corrupt_cached_file_is_deleted_and_fetched_again(served, musl_tarballs, tmp_path):
    data = bytearray((musl_tarballs / V126).read_bytes())
    data[5000] ^= 1
    (tmp_path / V126).write_bytes(bytes(data))
    path, out = fetch("1.2.6", tmp_path, [served.url])
    assert out.splitlines()[0] == (f"WARNING  {tmp_path / V126} does not match its pinned sha256; deleted "
                                   f"it and fetching it again.")
    assert sha256_file(path) == SHA126


def test_mirrors_setting_splits_on_whitespace():
    env = {"MUSLFORGE_MIRRORS": " http://a/x/\n http://b/ "}
    assert settings.resolve(env).mirrors == ("http://a/x/", "http://b/")
    assert settings.resolve({}).mirrors == ()


# --- signatures ---------------------------------------------------------------------------------------


@pytest.fixture
def signed(mirror, musl_tarballs):
    mirror.add(musl_tarballs / V125)
    mirror.add(musl_tarballs / f"{V125}.asc")
    return mirror


def test_good_signature_is_verified_and_cached(signed, tmp_path):
    path, out = fetch("1.2.5", tmp_path, [signed.url])
    assert out.startswith(f"FETCH    {V125} 1.0 MiB from {signed.url}{V125} in ")
    assert out.endswith(" s, sha256 ok, signature ok\n")
    assert sorted(p.name for p in tmp_path.iterdir()) == [V125, f"{V125}.asc"]
    signed.requests.clear()
    _, out = fetch("1.2.5", tmp_path, [signed.url], require_signature=True)
    assert signed.requests == []
    assert out == f"FETCH    {V125} 1.0 MiB from cache, sha256 ok, signature ok\n"


def test_bad_signature_is_fatal_and_keeps_nothing(mirror, musl_tarballs, tmp_path):
    mirror.add(musl_tarballs / V126)
    mirror.add(musl_tarballs / f"{V125}.asc", name=f"{V126}.asc")  # a real signature, of other data
    with pytest.raises(VerifyError) as raised:
        fetch("1.2.6", tmp_path, [mirror.url])
    message = str(raised.value)
    assert message.startswith(
        f"{V126}: BAD signature: {mirror.url}{V126}.asc does not verify against musl's release key "
        f"836489290BB6B70F99FFDA0556BCDB593020450F (gpgv: ")
    assert 'BAD signature from "musl libc <musl@libc.org>"' in message
    assert message.endswith("). Neither file was kept in the cache. Do not build from this mirror; report "
                            "it, and put a trusted mirror first with MUSLFORGE_MIRRORS.")
    assert list(tmp_path.iterdir()) == []


def test_damaged_signature_is_fatal(signed, musl_tarballs, tmp_path):
    text = (musl_tarballs / f"{V125}.asc").read_text().replace("iQEcBAABAgAG", "iQEcBAABAgAH")
    (signed.root / f"{V125}.asc").write_text(text)
    with pytest.raises(VerifyError) as raised:
        fetch("1.2.5", tmp_path, [signed.url])
    assert str(raised.value).startswith(f"{V125}: BAD signature: {signed.url}{V125}.asc does not verify")
    assert list(tmp_path.iterdir()) == []


def test_missing_signature_is_fatal_when_required(served, tmp_path):
    with pytest.raises(VerifyError) as raised:
        fetch("1.2.6", tmp_path, [served.url], require_signature=True)
    assert str(raised.value) == (
        f"{V126}: a signature is required but {V126}.asc could not be downloaded:\n"
        f"  {served.url}{V126}.asc: HTTP 404 Not Found\n"
        f"What to do: put a mirror that has it first with MUSLFORGE_MIRRORS, or drop the requirement "
        f"(MUSLFORGE_REQUIRE_SIGNATURE) to rely on the pinned sha256.")
    assert list(tmp_path.iterdir()) == []


def test_required_signature_is_fetched_for_a_cached_tarball(signed, musl_tarballs, tmp_path):
    (tmp_path / V125).write_bytes((musl_tarballs / V125).read_bytes())
    _, out = fetch("1.2.5", tmp_path, [signed.url], require_signature=True)
    assert signed.hits(V125) == []
    assert signed.hits(f"{V125}.asc") == [None]
    assert out == f"FETCH    {V125} 1.0 MiB from cache, sha256 ok, signature ok\n"


def test_requests_is_not_imported_by_the_module():
    import sys

    from muslforge import proc

    code = "import sys, muslforge.sources.fetch; print('requests' in sys.modules)"
    status, out, _ = proc.capture([sys.executable, "-c", code], cwd=SOURCES_DIR.parent)
    assert (status, out.strip()) == (0, b"False")


def test_bad_leftover_part_is_fetched_again_from_zero(served, tmp_path):
    (tmp_path / f"{V126}.part").write_bytes(b"x" * 1000)
    path, _ = fetch("1.2.6", tmp_path, [served.url])
    assert served.hits(V126) == ["bytes=1000-", None]
    assert sha256_file(path) == SHA126


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_terminal_gets_a_live_byte_counter_then_the_summary(served, tmp_path):
    out = Terminal()
    fetch_module.fetch(release("1.2.6"), cache=tmp_path, mirrors_first=[served.url], backoff=0, stream=out)
    text = out.getvalue()
    assert f"\rFETCH    {V126} " in text and " of 1.0 MiB at " in text and "/s\x1b[K" in text
    assert f"\r\x1b[KWARNING  no signature for {V126}" in text
    assert text.endswith(" s, sha256 ok, signature missing\n")


def test_backoff_from_the_environment_must_be_a_number(monkeypatch, tmp_path):
    monkeypatch.setenv("MUSLFORGE_FETCH_BACKOFF", "fast")
    with pytest.raises(ConfigError) as raised:
        fetch_module.fetch(release("1.2.6"), cache=tmp_path, mirrors_first=[])
    assert str(raised.value) == "MUSLFORGE_FETCH_BACKOFF is 'fast'; it must be a number of seconds (e.g. 0.5)."
