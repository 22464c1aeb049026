"""Checking downloads: streamed sha256, and PGP signatures through gpgv against a pinned key.

gpgv wants a binary keyring, so the armored key in sources/ is dearmored here in pure Python (no gpg
needed) and its primary-key fingerprint checked against the one pinned in sources/musl.yaml before
gpgv ever sees it. gpgv runs with a throw-away home directory, so nothing under ~/.gnupg is read or made.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import tempfile
from dataclasses import dataclass
from pathlib import Path

from .. import proc
from ..errors import VerifyError

_CHUNK = 1 << 20
_CRC24_INIT = 0xB704CE
_CRC24_POLY = 0x1864CFB


def _crc24(data: bytes) -> int:
    crc = _CRC24_INIT
    for byte in data:
        crc ^= byte << 16
        for _ in range(8):
            crc <<= 1
            if crc & 0x1000000:
                crc ^= _CRC24_POLY
    return crc & 0xFFFFFF


def dearmor(text: str, *, source: str = "armored data") -> bytes:
    """The binary OpenPGP packets inside an ASCII-armored block (RFC 4880 section 6), CRC checked."""
    lines = [line.strip() for line in text.splitlines()]
    try:
        start = next(i for i, line in enumerate(lines) if line.startswith("-----BEGIN PGP "))
        end = next(i for i in range(start + 1, len(lines)) if lines[i].startswith("-----END PGP "))
    except StopIteration:
        raise VerifyError(f"{source}: no complete '-----BEGIN PGP ...-----' armor block found.") from None
    body = lines[start + 1:end]
    if "" in body:  # armor headers (Version: ...) end at the first blank line
        body = body[body.index("") + 1:]
    crc = next((line[1:] for line in body if line.startswith("=")), None)
    payload = "".join(line for line in body if line and not line.startswith("="))
    try:
        data = base64.b64decode(payload, validate=True)
        if crc is not None and int.from_bytes(base64.b64decode(crc, validate=True), "big") != _crc24(data):
            raise VerifyError(f"{source}: the armor checksum does not match; the file is damaged.")
    except (binascii.Error, ValueError):
        raise VerifyError(f"{source}: the armored data is not valid base64; the file is damaged.") from None
    return data


def _first_packet(data: bytes) -> tuple[int, bytes]:
    """(tag, body) of the first OpenPGP packet, old or new format header."""
    if not data or not data[0] & 0x80:
        raise ValueError("not an OpenPGP packet")
    if data[0] & 0x40:  # new format
        tag, first = data[0] & 0x3F, data[1]
        if first < 192:
            length, offset = first, 2
        elif first < 224:
            length, offset = ((first - 192) << 8) + data[2] + 192, 3
        elif first == 255:
            length, offset = int.from_bytes(data[2:6], "big"), 6
        else:
            raise ValueError("partial body length in a key packet")
    else:
        tag, kind = (data[0] >> 2) & 0x0F, data[0] & 0x03
        if kind == 3:
            raise ValueError("indeterminate length in a key packet")
        size = 1 << kind
        length, offset = int.from_bytes(data[1:1 + size], "big"), 1 + size
    if len(data) < offset + length:
        raise ValueError("truncated packet")
    return tag, data[offset:offset + length]


def primary_fingerprint(keyring: bytes) -> str:
    """The V4 fingerprint (40 upper-case hex digits) of the first public key in binary key data."""
    try:
        tag, body = _first_packet(keyring)
    except (ValueError, IndexError) as exc:
        raise VerifyError(f"the signing key is not a valid OpenPGP key ({exc}).") from None
    if tag != 6 or not body or body[0] != 4:
        raise VerifyError("the signing key does not start with a version 4 public key packet.")
    header = b"\x99" + len(body).to_bytes(2, "big")
    return hashlib.sha1(header + body).hexdigest().upper()


def load_keyring(armored_key: Path, fingerprint: str | None = None) -> bytes:
    """Binary keyring data from an armored key file, refusing a key whose fingerprint differs."""
    try:
        text = armored_key.read_text(encoding="ascii")
    except (OSError, UnicodeDecodeError) as exc:
        raise VerifyError(f"{armored_key}: cannot read the signing key ({exc}).") from None
    data = dearmor(text, source=str(armored_key))
    if fingerprint is not None:
        found = primary_fingerprint(data)
        if found != fingerprint.replace(" ", "").upper():
            raise VerifyError(f"{armored_key}: the key's fingerprint is {found}, not the pinned "
                              f"{fingerprint}; "
                              f"restore the file from the repository.")
    return data


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """The outcome of one gpgv run: ok, the signer's fingerprint, and gpgv's own words."""

    ok: bool
    signer: str | None
    detail: str


def check_signature(file: Path, signature: Path, armored_key: Path, fingerprint: str | None = None
                    ) -> SignatureCheck:
    """Run gpgv on file + detached signature against the one key in armored_key; judge its status lines."""
    keyring = load_keyring(armored_key, fingerprint)
    with tempfile.TemporaryDirectory(prefix="muslforge-gpgv-") as home:
        keyring_path = Path(home) / "trusted.gpg"
        keyring_path.write_bytes(keyring)
        argv = ["gpgv", "--homedir", home, "--keyring", str(keyring_path), "--status-fd", "1",
                str(signature), str(file)]
        status, out, err = proc.capture(argv, env={"LC_ALL": "C", "LANGUAGE": "C"})
    return _judge(status, out.decode(errors="replace"), err.decode(errors="replace"), fingerprint)


def _judge(status: int, out: str, err: str, fingerprint: str | None) -> SignatureCheck:
    words = [line.split()[1:] for line in out.splitlines() if line.startswith("[GNUPG:] ")]
    valid = [w for w in words if w and w[0] == "VALIDSIG"]
    bad = any(w and w[0] in ("BADSIG", "ERRSIG", "EXPKEYSIG", "REVKEYSIG") for w in words)
    said = [" ".join(line.removeprefix("gpgv:").split()) for line in err.splitlines()]
    detail = "; ".join(line for line in said if line) or f"gpgv exit status {status}"
    if status != 0 or bad or not valid:
        return SignatureCheck(False, None, detail)
    signer = valid[0][1].upper()
    primary = valid[0][-1].upper()
    wanted = fingerprint.replace(" ", "").upper() if fingerprint else None
    if wanted and wanted not in (signer, primary):
        return SignatureCheck(False, signer, f"signed by {signer}, not by the pinned key {wanted}")
    return SignatureCheck(True, primary, detail)
