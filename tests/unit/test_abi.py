"""The libc ABI check against a checked-in symbol list."""

import pytest

from muslforge.sysroot import libc_abi as abi
from muslforge.errors import MuslforgeError


def test_lost_symbols_fail_with_the_list_and_the_fix(tmp_path):
    listed = tmp_path / "wasm32-musl-9.symbols"
    abi.write(["malloc", "printf", "puts"], listed)
    with pytest.raises(MuslforgeError) as error:
        abi.check(["malloc", "puts"], listed)
    assert str(error.value) == (
        f"ABI check: libc.a no longer defines 1 symbol(s) listed in {listed}: printf. If that is intended, "
        f"regenerate the list: python3 -m muslforge.sysroot.libc_abi <sysroot>/lib/libc.a {listed}")


def test_new_symbols_are_returned_not_fatal(tmp_path):
    listed = tmp_path / "x.symbols"
    abi.write(["puts"], listed)
    assert abi.check(["puts", "strlcpy"], listed) == ["strlcpy"]


def test_defined_symbols_parses_nm_output_for_archives():
    nm_output = "\nlibc.a(puts.o):\nputs\n\nlibc.a(printf.o):\nprintf\nputs\n"
    assert abi.defined_symbols("libc.a", "llvm-nm-22", lambda argv: nm_output) == ["printf", "puts"]
