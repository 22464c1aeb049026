"""The wasm32 syscall table: its rows, the headers and doc appendix made from it, the embedder's view."""

from pathlib import Path

import pytest

from muslforge import paths, syscalls
from muslforge.errors import ConfigError
from muslforge.syscalls import Kind, Returns, generate
from muslforge.wasm import abi, host


def test_table_rows_are_typed_and_unique():
    rows = syscalls.load()
    assert len(rows) == len({r.name for r in rows}) == len({r.nr for r in rows}) == 314
    openat = syscalls.by_name()["openat"]
    assert (openat.nr, openat.returns, openat.args) == (56, Returns.FD, (Kind.FD, Kind.PATH, Kind.INT, Kind.INT))
    assert syscalls.by_name()["pread64"].nparams == 5       # fd, buf, count, offset as two i32
    assert syscalls.by_name()["faccessat"].nparams == 4     # musl passes flags too
    assert syscalls.by_name()["getpid"].args == ()


@pytest.mark.parametrize("row, message", [
    ("56 openat fd fd path int\n57 openat int fd",
     "{path}: name openat appears twice; each syscall is one row."),
    ("56 openat fd fd path int\n56 close int fd", "{path}: nr 56 appears twice; each syscall is one row."),
    ("56 openat fd fd paht int", "{path}: line 1 (openat): 'paht' is not a valid Kind; argument kinds are "
     "fd, path, str, ptr, size, int, i64, return kinds int, fd, size, ptr."),
    ("open 56 fd", "{path}: line 1: expected 'nr name returns arguments...' (nr '-' for a name only the "
     "embedder answers, arguments '-' for none) or 'alias name row', got 'open 56 fd'."),
    ("56 openat fd fd path int\n- openat fd path int", "{path}: name openat appears twice; each syscall is one row."),
    ("alias fcntl fcntl64", "{path}: line 1 (fcntl): 'fcntl64' is no row above; an alias names a row with its "
     "own handler."),
    ("25 fcntl64 int fd int int\nalias fcntl", "{path}: line 2: expected 'alias name row', got 'alias fcntl'."),
    ("1 big int i64 i64 i64 int", "{path}: line 1 (big): 7 parameters; a syscall takes at most 6."),
])
def test_bad_rows_name_the_file_and_line(tmp_path, row, message):
    table = tmp_path / "wasm32.table"
    table.write_text(row + "\n")
    with pytest.raises(ConfigError) as error:
        syscalls.load(table)
    assert str(error.value) == message.format(path=table)


def test_other_names_are_rows_without_numbers(tmp_path):
    table = tmp_path / "wasm32.table"
    table.write_text("25 fcntl64 int fd int int\n- open fd path int int\nalias fcntl fcntl64\n")
    assert [row.name for row in syscalls.load(table)] == ["fcntl64"]
    assert [(row.nr, row.name, row.alias_of) for row in syscalls.extra(table)] == [
        (None, "open", None), (None, "fcntl", "fcntl64")]
    assert syscalls.extra(table)[1].args == (Kind.FD, Kind.INT, Kind.INT)
    assert syscalls.aliases(table) == {"fcntl": "fcntl64"} and syscalls.names(table) == {"fcntl64"}


def test_other_names_stay_out_of_the_ports_headers():
    with_numbers = syscalls.load()
    assert "open" not in {row.name for row in with_numbers} and "fcntl" not in syscalls.names()
    assert "__NR_open " not in generate.syscall_h_in(with_numbers)     # musl would pick open over openat


def test_headers_map_numbers_to_padded_imports():
    rows = [syscalls.Syscall(nr=67, name="pread64", returns=Returns.SIZE,
                             args=(Kind.FD, Kind.PTR, Kind.SIZE, Kind.I64))]
    assert generate.syscall_h_in(rows) == "#define __NR_pread64                      67\n"
    static = generate.syscall_static_h(rows)
    assert ('long __syscall_pread64(long, long, long, long, long) __attribute__((__import_module__("env"), '
            '__import_name__("__syscall_pread64")));\n') in static
    assert "#define __SYSS_67(...) __syscall_pread64(__SYSS_PAD5(__VA_ARGS__))\n" in static
    assert "#define __SYSS_NARGS_67 5\n" in static


def test_abi_doc_appendix_is_generated_from_the_table():
    doc = (paths.CHECKOUT / "docs" / "wasm32-abi.md").read_text()
    assert doc.endswith(generate.abi_appendix()), "run: python3 -m muslforge.syscalls.generate --doc"
    assert "| 56 | `openat` | 4 | fd path int int | fd |" in doc


def test_embedder_knows_exactly_the_table_and_traces_its_strings():
    assert abi.linux_syscalls() == syscalls.names()
    assert host.path_args("openat") == (1,)
    assert host.path_args("renameat2") == (1, 3)
    assert host.path_args("fsetxattr") == (1,)              # the attribute name is a string too
    assert host.path_args("truncate64") == (0,)
    assert host.path_args("open") == (0,) and host.path_args("rename") == (0, 1)
    assert host.path_args("truncate") == (0,)                # an alias has its row's arguments


def test_table_is_package_data():
    assert Path(syscalls.TABLE).is_file() and syscalls.TABLE.parent == Path(syscalls.__file__).parent
