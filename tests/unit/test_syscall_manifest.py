"""muslforge.sysroot.wasm_imports: the wasm32 syscall imports of a libc.a, read from the archive itself."""

from __future__ import annotations

import json
import shutil

import pytest

from muslforge import proc
from muslforge.sysroot import wasm_imports as syscall_manifest
from muslforge.sysroot.wasm_imports import ManifestError

CLANG, AR, NM = "clang-22", "llvm-ar-22", "llvm-nm-22"

# A miniature static-syscall libc: each syscall is an explicit import from env, called with one fixed
# signature; __syscall_ret is an internal helper that one member defines and others use.
SOURCES = {
    "read.c": """
        #define IMPORT(n) __attribute__((import_module("env"), import_name(#n)))
        long __syscall_read(long, long, long) IMPORT(__syscall_read);
        long __syscall_ret(unsigned long);
        long read(int fd, void *buf, unsigned long n) { return __syscall_ret(__syscall_read(fd, (long)buf, n)); }
    """,
    "getc.c": """
        #define IMPORT(n) __attribute__((import_module("env"), import_name(#n)))
        long __syscall_read(long, long, long) IMPORT(__syscall_read);
        long __syscall__llseek(long, long, long, long, long) IMPORT(__syscall__llseek);
        int getc0(void) { char c; __syscall__llseek(0, 0, 0, 0, 0); return __syscall_read(0, (long)&c, 1); }
    """,
    "ret.c": """
        long __syscall_ret(unsigned long r) { return r > -4096UL ? -1 : (long)r; }
    """,
}

CONFLICT = """
    long __syscall_read(long, long) __attribute__((import_module("env"), import_name("__syscall_read")));
    long bad(void) { return __syscall_read(0, 0); }
"""


def _tools_or_skip() -> None:
    missing = [tool for tool in (CLANG, AR, NM) if shutil.which(tool) is None]
    if missing:
        pytest.skip(f"needs {', '.join(missing)}")


def _archive(tmp_path, sources: dict[str, str]):
    objects = []
    for name, text in sources.items():
        source = tmp_path / name
        source.write_text(text)
        obj = source.with_suffix(".o")
        proc.output([CLANG, "--target=wasm32-unknown-unknown", "-O2", "-c", source, "-o", obj])
        objects.append(obj)
    archive = tmp_path / "libc.a"
    proc.output([AR, "rc", archive, *objects])
    return archive


@pytest.mark.slow
def test_manifest_lists_each_import_once_with_its_signature_and_members(tmp_path):
    _tools_or_skip()
    manifest = syscall_manifest.generate(_archive(tmp_path, SOURCES), nm=NM)
    assert manifest["count"] == 2
    assert list(manifest["syscalls"]) == ["__syscall__llseek", "__syscall_read"]
    read = manifest["syscalls"]["__syscall_read"]
    assert read == {"module": "env", "params": 3, "signature": "(i32, i32, i32) -> (i32)",
                    "members": ["getc.o", "read.o"]}
    assert manifest["syscalls"]["__syscall__llseek"]["params"] == 5


@pytest.mark.slow
def test_internal_helpers_with_the_prefix_are_not_imports(tmp_path):
    _tools_or_skip()
    manifest = syscall_manifest.generate(_archive(tmp_path, SOURCES), nm=NM)
    assert "__syscall_ret" not in manifest["syscalls"]


@pytest.mark.slow
def test_two_signatures_for_one_syscall_is_an_error_naming_both_members(tmp_path):
    _tools_or_skip()
    archive = _archive(tmp_path, {**SOURCES, "bad.c": CONFLICT})
    with pytest.raises(ManifestError) as caught:
        syscall_manifest.generate(archive, nm=NM)
    message = str(caught.value)
    assert "__syscall_read" in message and "bad.o" in message
    assert "(i32, i32) -> (i32)" in message and "(i32, i32, i32) -> (i32)" in message


@pytest.mark.slow
def test_write_is_atomic_and_deterministic(tmp_path):
    _tools_or_skip()
    archive = _archive(tmp_path, SOURCES)
    out = tmp_path / "share" / "muslforge" / "syscalls.json"
    first = syscall_manifest.write(archive, out, nm=NM)
    text = out.read_text()
    syscall_manifest.write(archive, out, nm=NM)
    assert out.read_text() == text
    assert json.loads(text) == first
    assert [p.name for p in out.parent.iterdir()] == ["syscalls.json"]


def test_a_file_that_is_not_an_archive_is_refused(tmp_path):
    not_ar = tmp_path / "libc.a"
    not_ar.write_bytes(b"\x7fELF not an archive")
    with pytest.raises(ManifestError, match="not an ar archive"):
        list(syscall_manifest._ar_members(not_ar))


def test_an_elf_member_is_refused_as_not_wasm():
    with pytest.raises(ManifestError, match="not a wasm object file"):
        syscall_manifest._function_imports(b"\x7fELF" + b"\0" * 60, "libc.a(x.o)")


def _leb(n: int) -> bytes:
    out = bytearray()
    while True:
        byte, n = n & 0x7F, n >> 7
        out.append(byte | (0x80 if n else 0))
        if not n:
            return bytes(out)


def _section(section_id: int, body: bytes) -> bytes:
    return bytes([section_id]) + _leb(len(body)) + body


def _name(text: str) -> bytes:
    return _leb(len(text)) + text.encode()


def test_import_section_parser_handles_every_import_kind():
    types = _section(1, _leb(1) + b"\x60" + _leb(2) + b"\x7f\x7f" + _leb(1) + b"\x7f")
    imports = _section(2, _leb(5)
                       + _name("env") + _name("__linear_memory") + b"\x02" + b"\x00" + _leb(1)
                       + _name("env") + _name("__indirect_function_table") + b"\x01\x70" + b"\x01" + _leb(0)
                       + _leb(4)
                       + _name("env") + _name("__stack_pointer") + b"\x03\x7f\x01"
                       + _name("env") + _name("__c_longjmp") + b"\x04\x00" + _leb(0)
                       + _name("env") + _name("__syscall_dup2") + b"\x00" + _leb(0))
    module = b"\0asm\x01\0\0\0" + types + imports
    found = syscall_manifest._function_imports(module, "x.o")
    assert [(i.module, i.name, i.params, i.results) for i in found] == [
        ("env", "__syscall_dup2", ("i32", "i32"), ("i32",))]


def test_archive_reader_resolves_gnu_long_names(tmp_path):
    long_name = "a_member_name_longer_than_sixteen.o"
    table = f"{long_name}/\n\n".encode()  # padded to an even size, as ar does

    def header(name: str, size: int) -> bytes:
        return f"{name:<16}{0:<12}{0:<6}{0:<6}{644:<8}{size:<10}`\n".encode()

    data = (b"!<arch>\n" + header("//", len(table)) + table
            + header("/0", 3) + b"abc\n" + header("short.o/", 2) + b"xy")
    archive = tmp_path / "libc.a"
    archive.write_bytes(data)
    assert list(syscall_manifest._ar_members(archive)) == [(long_name, b"abc"), ("short.o", b"xy")]
