"""sources/musl.yaml: the real file loads, and every malformed case has an exact message."""

from __future__ import annotations

import datetime
import shutil
from pathlib import Path

import pytest

from muslforge.config.musl import load_releases
from muslforge.errors import ConfigError
from muslforge.paths import SOURCES_DIR

GOOD = """\
default: "1.2.6"
signing_key:
  file: musl-signing-key.asc
  fingerprint: 836489290BB6B70F99FFDA0556BCDB593020450F
mirrors:
  - https://musl.libc.org/releases/
  - https://www.musl-libc.org/releases
releases:
  - version: "1.2.6"
    file: musl-1.2.6.tar.gz
    sha256: d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a
    signature: musl-1.2.6.tar.gz.asc
    release_date: 2026-03-20
  - version: "1.2.5"
    file: musl-1.2.5.tar.gz
    sha256: a9a118bbe84d8764da0ea0d28b3ab3fae8477fc7e4085d90102b8596fc7c75e4
    release_date: 2024-02-29
"""


def write(tmp_path: Path, text: str) -> Path:
    shutil.copyfile(SOURCES_DIR / "musl-signing-key.asc", tmp_path / "musl-signing-key.asc")
    path = tmp_path / "musl.yaml"
    path.write_text(text)
    return path


def error(tmp_path: Path, text: str) -> str:
    path = write(tmp_path, text)
    with pytest.raises(ConfigError) as raised:
        load_releases(path)
    return str(raised.value).replace(str(path), "FILE")


def test_the_real_file_loads_with_1_2_6_as_default():
    releases = load_releases(SOURCES_DIR / "musl.yaml")
    assert releases.versions == ("1.2.6", "1.2.5")
    default = releases.default
    assert (default.version, default.file, default.signature) == ("1.2.6", "musl-1.2.6.tar.gz",
                                                                  "musl-1.2.6.tar.gz.asc")
    assert default.sha256 == "d585fd3b613c66151fc3249e8ed44f77020cb5e6c1e635a616d3f9f82460512a"
    assert default.mirrors[0] == "https://musl.libc.org/releases/"
    assert default.release_date == datetime.date(2026, 3, 20)
    assert default.signer == "836489290BB6B70F99FFDA0556BCDB593020450F"
    assert default.signing_key == SOURCES_DIR / "musl-signing-key.asc"
    old = releases.get("1.2.5")
    assert old.sha256 == "a9a118bbe84d8764da0ea0d28b3ab3fae8477fc7e4085d90102b8596fc7c75e4"
    assert old.source_date_epoch == 1709164800  # 2024-02-29T00:00:00Z
    assert old.name == "musl-1.2.5"


def test_mirrors_get_a_trailing_slash_and_signature_is_optional(tmp_path):
    releases = load_releases(write(tmp_path, GOOD))
    assert releases.get("1.2.6").mirrors == ("https://musl.libc.org/releases/",
                                             "https://www.musl-libc.org/releases/")
    assert releases.get("1.2.5").signature is None


def test_release_fingerprint_ignores_mirrors(tmp_path):
    releases = load_releases(write(tmp_path, GOOD))
    other = load_releases(write(tmp_path, GOOD.replace("  - https://musl.libc.org/releases/\n", "")))
    assert releases.default.fingerprint() == other.default.fingerprint()
    assert releases.default.fingerprint() != releases.get("1.2.5").fingerprint()


def test_unknown_version_lists_the_known_ones(tmp_path):
    path = write(tmp_path, GOOD)
    with pytest.raises(ConfigError) as raised:
        load_releases(path).get("1.2.7")
    assert str(raised.value) == f"{path}: no musl release '1.2.7'; known versions: 1.2.6, 1.2.5."


@pytest.mark.parametrize("old, new, message", [
    ("default:", "defualt:", "FILE: unknown key 'defualt'; did you mean 'default'?"),
    ("    file: musl-1.2.5.tar.gz\n", "    flie: musl-1.2.5.tar.gz\n",
     "FILE: releases[1]: unknown key 'flie'; did you mean 'file'?"),
    ("    release_date: 2024-02-29\n", "",
     "FILE: releases[1]: missing required key(s): release_date."),
    ("a9a118bbe84d8764da0ea0d28b3ab3fae8477fc7e4085d90102b8596fc7c75e4", "a9a118bb",
     "FILE: releases[1]: field 'sha256' must be 64 lower-case hex digits, got 'a9a118bb' (8 characters)."),
    ("a9a118bbe84d8764da0ea0d28b3ab3fae8477fc7e4085d90102b8596fc7c75e4",
     "A9A118BBE84D8764DA0EA0D28B3AB3FAE8477FC7E4085D90102B8596FC7C75E4",
     "FILE: releases[1]: field 'sha256' must be 64 lower-case hex digits, got "
     "'A9A118BBE84D8764DA0EA0D28B3AB3FAE8477FC7E4085D90102B8596FC7C75E4' (64 characters)."),
    ("file: musl-1.2.5.tar.gz", "file: ../musl-1.2.5.tar.gz",
     "FILE: releases[1]: field 'file' is '../musl-1.2.5.tar.gz'; it must be a plain file name "
     "(mirrors supply the directory)."),
    ('version: "1.2.5"', "version: 1.25",
     "FILE: releases[1]: field 'version' is the number 1.25; quote versions so YAML keeps them as text "
     "(e.g. version: \"1.2.6\")."),
    ('default: "1.2.6"', 'default: "1.2.4"',
     "FILE: field 'default' is '1.2.4', which is not among the releases (1.2.6, 1.2.5)."),
    ('version: "1.2.5"', 'version: "1.2.6"', "FILE: releases[1]: version '1.2.6' is listed twice."),
    ("release_date: 2024-02-29", "release_date: last leap day",
     "FILE: releases[1]: field 'release_date' must be a date like 2024-02-29, got 'last leap day'."),
    ("https://musl.libc.org/releases/", "musl.libc.org/releases/",
     "FILE: mirror 'musl.libc.org/releases/' is not an http:// or https:// URL."),
    ("fingerprint: 836489290BB6B70F99FFDA0556BCDB593020450F", "fingerprint: 56BCDB593020450F",
     "FILE: signing_key: field 'fingerprint' must be 40 hex digits (a V4 key fingerprint), got "
     "'56BCDB593020450F'."),
    ("  file: musl-signing-key.asc", "  file: other-key.asc",
     "FILE: signing_key: the key file {dir}/other-key.asc does not exist."),
    ("releases:\n", "releases: []\nold_releases:\n",
     "FILE: unknown key 'old_releases'; did you mean 'releases'?"),
])
def test_malformed_file_is_refused_with_an_exact_message(tmp_path, old, new, message):
    assert old in GOOD
    assert error(tmp_path, GOOD.replace(old, new, 1)) == message.replace("{dir}", str(tmp_path))


def test_empty_release_list_is_refused(tmp_path):
    text = GOOD[:GOOD.index("releases:")] + "releases: []\n"
    assert error(tmp_path, text) == "FILE: field 'releases' must be a non-empty list of releases."


def test_release_mirrors_override_the_shared_list(tmp_path):
    text = GOOD.replace("    release_date: 2024-02-29\n",
                        "    release_date: 2024-02-29\n    mirrors: [http://127.0.0.1:8000/musl]\n")
    releases = load_releases(write(tmp_path, text))
    assert releases.get("1.2.5").mirrors == ("http://127.0.0.1:8000/musl/",)
    assert releases.get("1.2.6").mirrors[0] == "https://musl.libc.org/releases/"
