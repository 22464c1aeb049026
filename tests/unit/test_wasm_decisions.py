"""Every syscall in the table has a decision (implemented, or refused with an errno), syscall() by number."""

import errno
import io

from muslforge import paths, syscalls
from muslforge.syscalls import Kind, Returns, generate
from muslforge.wasm import decisions, host
from muslforge.wasm._registry import REFUSED, SYSCALLS
from muslforge.wasm.host import Instance
from muslforge.wasm.wat import syscall_module


def test_every_row_of_the_table_is_implemented_or_refused():
    assert decisions.undecided() == []
    assert not set(SYSCALLS) & set(REFUSED)


def test_the_embedders_names_are_the_tables_names():
    """One list: every name with a handler or refusal is a row of the table and the other way round;
    aliases are rows too, never registered, and run as the row they name."""
    assert decisions.decided_names() == decisions.table_names()
    aliases = syscalls.aliases()
    assert aliases and not set(aliases) & decisions.decided_names()


def test_other_names_link_with_their_rows_parameter_count():
    for row in syscalls.extra():
        handler, reason = host.syscall_handler(row.name, row.nparams)
        assert handler is not None, f"{row.name}/{row.nparams}: {reason}"
        if row.alias_of:
            assert handler is host.syscall_handler(row.alias_of, row.nparams)[0]


def test_an_alias_runs_its_row(tmp_path):
    """fcntl is fcntl64: same handler, traced under the name the module imported."""
    module = syscall_module({"fcntl": 3, "fcntl64": 3})
    err = io.BytesIO()
    inst = Instance(module, ["t"], root=tmp_path, stdout=io.BytesIO(), stderr=err, trace=True)
    try:
        assert inst.call("sys_fcntl", 1, 1, 0) == inst.call("sys_fcntl64", 1, 1, 0) == 0   # F_GETFD
        assert inst.call("sys_fcntl", 99, 1, 0) == -errno.EBADF
    finally:
        inst.close()
    assert b"fcntl(99, 1, 0) = -9 EBADF" in err.getvalue()


def test_the_decisions_doc_is_generated():
    doc = (paths.CHECKOUT / "docs" / "wasm32-syscalls.md").read_text()
    assert doc == decisions.document(), "run: python3 -m muslforge.wasm.decisions --doc"
    assert "| 40 | `mount` | `EPERM` (1) |" in doc and "| 172 | `getpid` | implemented |" in doc
    assert "| `open` | older call, implemented |" in doc and "| `fcntl` | alias of `fcntl64` |" in doc


def test_every_row_links_with_its_full_parameter_count():
    """syscall() imports every row with the table's count: each must have a handler that takes it."""
    for row in syscalls.load():
        handler, reason = host.syscall_handler(row.name, row.nparams)
        assert handler is not None, f"{row.name}/{row.nparams}: {reason}"


def test_refused_syscalls_answer_their_errno(tmp_path):
    module = syscall_module({"mount": 5, "setxattr": 5, "io_setup": 2})
    inst = Instance(module, ["t"], root=tmp_path, stdout=io.BytesIO(), stderr=io.BytesIO())
    try:
        assert inst.call("sys_mount", 0, 0, 0, 0, 0) == -errno.EPERM
        assert inst.call("sys_setxattr", 0, 0, 0, 0, 0) == -errno.EOPNOTSUPP
        assert inst.call("sys_io_setup", 0, 0) == -errno.ENOSYS
    finally:
        inst.close()


def test_switch_maps_numbers_to_imports_with_their_counts():
    rows = [syscalls.Syscall(nr=67, name="pread64", returns=Returns.SIZE,
                             args=(Kind.FD, Kind.PTR, Kind.SIZE, Kind.I64)),
            syscalls.Syscall(nr=172, name="getpid", returns=Returns.INT, args=())]
    text = generate.syscall_switch_h(rows)
    assert "\tcase 67: return __syscall_pread64(a, b, c, d, e);\n" in text
    assert "\tcase 172: return __syscall_getpid();\n" in text
    assert text.endswith("\t}\n\treturn -ENOSYS;\n}\n")
