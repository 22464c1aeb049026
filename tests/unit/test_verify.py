"""verify: streamed sha256, pure-Python dearmor and key fingerprint, gpgv judgement."""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import pytest

from muslforge.sources import signature as verify
from muslforge.errors import VerifyError
from muslforge.files import sha256_file
from muslforge.paths import SOURCES_DIR

KEY = SOURCES_DIR / "musl-signing-key.asc"
FINGERPRINT = "836489290BB6B70F99FFDA0556BCDB593020450F"


def signed_pair(folder: Path) -> tuple[Path, Path]:
    return folder / "musl-1.2.5.tar.gz", folder / "musl-1.2.5.tar.gz.asc"


def test_sha256_file_matches_hashlib_across_chunks(tmp_path):
    data = os.urandom(3 * (1 << 20) + 17)
    (tmp_path / "f").write_bytes(data)
    assert sha256_file(tmp_path / "f") == hashlib.sha256(data).hexdigest()


def test_sha256_of_the_real_tarball(musl_tarballs):
    assert sha256_file(musl_tarballs / "musl-1.2.6.tar.gz") == (
        "d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a")


def test_shipped_key_is_musls_release_key(musl_tarballs):
    data = verify.load_keyring(KEY, FINGERPRINT)
    assert verify.primary_fingerprint(data) == FINGERPRINT
    assert KEY.read_bytes() == (musl_tarballs / "musl-signing-key.asc").read_bytes()


def test_a_key_with_another_fingerprint_is_refused():
    with pytest.raises(VerifyError) as raised:
        verify.load_keyring(KEY, "0" * 40)
    assert str(raised.value) == (f"{KEY}: the key's fingerprint is {FINGERPRINT}, not the pinned {'0' * 40}; "
                                 f"restore the file from the repository.")


def test_damaged_armor_fails_its_checksum(tmp_path):
    lines = KEY.read_text().splitlines()
    lines[3] = lines[3][:10] + ("A" if lines[3][10] != "A" else "B") + lines[3][11:]
    (tmp_path / "key.asc").write_text("\n".join(lines) + "\n")
    with pytest.raises(VerifyError) as raised:
        verify.load_keyring(tmp_path / "key.asc")
    assert str(raised.value) == (f"{tmp_path / 'key.asc'}: the armor checksum does not match; the file is "
                                 f"damaged.")


def test_text_without_armor_is_refused():
    with pytest.raises(VerifyError) as raised:
        verify.dearmor("hello\n", source="x.asc")
    assert str(raised.value) == "x.asc: no complete '-----BEGIN PGP ...-----' armor block found."


def test_gpgv_accepts_the_upstream_signature(musl_tarballs):
    check = verify.check_signature(*signed_pair(musl_tarballs),
                                   KEY, FINGERPRINT)
    assert check.ok and check.signer == FINGERPRINT
    assert 'Good signature from "musl libc <musl@libc.org>"' in check.detail


def test_gpgv_rejects_a_signature_of_other_data(musl_tarballs):
    other, signature = musl_tarballs / "musl-1.2.6.tar.gz", musl_tarballs / "musl-1.2.5.tar.gz.asc"
    check = verify.check_signature(other, signature, KEY, FINGERPRINT)
    assert not check.ok
    assert 'BAD signature from "musl libc <musl@libc.org>"' in check.detail


def test_judge_requires_validsig_from_the_pinned_key():
    good = (f"[GNUPG:] GOODSIG 56BCDB593020450F musl\n[GNUPG:] VALIDSIG {FINGERPRINT} 2024-03-01 1709258930 "
            f"0 4 0 1 2 00 {FINGERPRINT}\n")
    assert verify._judge(0, good, "", FINGERPRINT).ok
    other = verify._judge(0, good.replace(FINGERPRINT, "A" * 40), "", FINGERPRINT)
    assert (other.ok, other.detail) == (False, f"signed by {'A' * 40}, not by the pinned key {FINGERPRINT}")
    assert not verify._judge(0, "[GNUPG:] BADSIG 56BC musl\n", "", FINGERPRINT).ok
    assert not verify._judge(1, good, "gpgv: something", FINGERPRINT).ok
    assert not verify._judge(0, "", "", FINGERPRINT).ok


def test_missing_gpgv_is_a_clear_error(musl_tarballs, monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", str(tmp_path))
    from muslforge.errors import ToolMissing

    with pytest.raises(ToolMissing) as raised:
        verify.check_signature(*signed_pair(musl_tarballs), KEY)
    assert str(raised.value).startswith("'gpgv' was not found on PATH. Install it with: apt-get install gpgv")


def test_signature_check_leaves_no_gnupg_home(musl_tarballs, monkeypatch, tmp_path):
    monkeypatch.setenv("HOME", str(tmp_path))
    verify.check_signature(*signed_pair(musl_tarballs), KEY)
    assert list(Path(tmp_path).iterdir()) == []
