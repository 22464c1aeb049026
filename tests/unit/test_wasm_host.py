"""The embedder end to end on hand-written WAT modules: exit status, stdio, process block, linking
errors, -ENOSYS, tracing, traps, exceptions and the command line."""

import io
import struct

import pytest

from muslforge.errors import MuslforgeError
from muslforge.wasm import EmbedderError, main, run
from muslforge.wasm.host import Instance, process_block
from muslforge.wasm.wat import syscall_module

HELLO = syscall_module(
    {"write": 3, "exit_group": 1},
    "(drop (call $write (i32.const 1) (i32.const 64) (i32.const 6)))\n"
    "(drop (call $exit_group (i32.const 3)))",
    data={64: b"hello\n"})


def run_bytes(tmp_path, wasm, argv=("prog",), **kw):
    path = tmp_path / "prog.wasm"
    path.write_bytes(wasm)
    out, err = io.BytesIO(), io.BytesIO()
    status = run(path, list(argv), root=tmp_path, stdout=out, stderr=err, **kw)
    return status, out.getvalue(), err.getvalue().decode()


def test_write_and_exit_status(tmp_path):
    assert run_bytes(tmp_path, HELLO) == (3, b"hello\n", "")


def test_start_returning_is_status_zero(tmp_path):
    assert run_bytes(tmp_path, syscall_module({}, ""))[0] == 0


def test_exit_status_is_masked_to_8_bits(tmp_path):
    wasm = syscall_module({"exit": 1}, "(drop (call $exit (i32.const 257)))")
    assert run_bytes(tmp_path, wasm)[0] == 1


def test_process_block_layout():
    block, length = process_block(1024, ["prog", "a"], {"K": "V"})
    words = struct.unpack_from("<" + "I" * 22, block)
    assert words[0] == 2 and words[3] == 0 and words[5] == 0     # argc, argv NULL, envp NULL
    argv0 = words[1] - 1024
    assert block[argv0:argv0 + 5] == b"prog\0"
    env0 = words[4] - 1024
    assert block[env0:env0 + 4] == b"K=V\0"
    auxv = dict(zip(words[6:22:2], words[7:22:2], strict=True))
    assert auxv[6] == 65536 and auxv[23] == 0 and auxv[0] == 0 and 25 in auxv
    assert length == len(block)


def test_guest_reads_argc_and_argv_from_the_block(tmp_path):
    # exit(argc * 16 + length of argv[1]), length counted with a loop over the string
    body = """
    (local $s i32) (local $n i32)
    (local.set $s (i32.load (i32.add (local.get $p) (i32.const 8))))
    (block $done (loop $next
      (br_if $done (i32.eqz (i32.load8_u (i32.add (local.get $s) (local.get $n)))))
      (local.set $n (i32.add (local.get $n) (i32.const 1)))
      (br $next)))
    (drop (call $exit (i32.add (i32.mul (i32.load (local.get $p)) (i32.const 16)) (local.get $n))))"""
    wasm = syscall_module({"exit": 1}, body)
    assert run_bytes(tmp_path, wasm, argv=["prog", "abcde", "z"])[0] == 3 * 16 + 5


def test_missing_imports_are_listed_in_one_error(tmp_path):
    text = syscall_module({"write": 3, "frobnicate": 1, "opne": 2})
    with pytest.raises(EmbedderError) as caught:
        run_bytes(tmp_path, text)
    message = str(caught.value)
    assert isinstance(caught.value, MuslforgeError)
    assert "2 import(s)" in message
    assert "env.__syscall_frobnicate (func (param i32) (result i32)): no such Linux syscall" in message
    assert "env.__syscall_opne (func (param i32 i32) (result i32)): no such Linux syscall" in message
    assert "__syscall_write" not in message


def test_non_syscall_imports_and_wrong_arity_are_reported(tmp_path):
    import wasmtime
    wat = """(module
      (import "wasi_snapshot_preview1" "fd_write" (func (param i32 i32 i32 i32) (result i32)))
      (import "env" "__syscall_read" (func (param i32 i32) (result i32)))
      (import "env" "__syscall_close" (func (param i64) (result i32)))
      (memory (export "memory") 1) (global (export "__heap_base") i32 (i32.const 0))
      (func (export "_start") (param i32)))"""
    with pytest.raises(EmbedderError) as caught:
        run_bytes(tmp_path, wasmtime.wat2wasm(wat))
    message = str(caught.value)
    assert "3 import(s)" in message
    assert ("wasi_snapshot_preview1.fd_write (func (param i32 i32 i32 i32) (result i32)): not provided "
            "by the embedder") in message
    assert "env.__syscall_read (func (param i32 i32) (result i32)): takes 2 parameters; the embedder " \
           "expects 3" in message
    assert "env.__syscall_close (func (param i64) (result i32)): has the wrong type" in message


def test_known_but_unimplemented_syscall_is_enosys(tmp_path):
    body = "(drop (call $exit (i32.sub (i32.const 0) (call $io_setup (i32.const 0) (i32.const 0)))))"
    wasm = syscall_module({"io_setup": 2, "exit": 1}, body)
    assert run_bytes(tmp_path, wasm)[0] == 38


def test_trace_prints_calls_arguments_and_results(tmp_path):
    wasm = syscall_module({"write": 3, "close": 1, "exit_group": 1},
                          "(drop (call $write (i32.const 1) (i32.const 64) (i32.const 6)))\n"
                          "(drop (call $close (i32.const 99)))\n"
                          "(drop (call $exit_group (i32.const 0)))", data={64: b"hello\n"})
    status, out, err = run_bytes(tmp_path, wasm, trace=True)
    assert status == 0 and out == b"hello\n"
    assert err.splitlines() == ["[wasm] write(1, 64, 6) = 6", "[wasm] close(99) = -9 EBADF",
                                "[wasm] exit_group(0) = ?"]


def test_trap_prints_backtrace_and_returns_134(tmp_path):
    wasm = syscall_module({}, "(call $crash)", extra="(func $crash unreachable)")
    status, _, err = run_bytes(tmp_path, wasm)
    assert status == 134
    assert "wasm trap" in err and "unreachable" in err
    assert "backtrace" in err


def test_out_of_bounds_pointer_is_efault_not_a_trap(tmp_path):
    wasm = syscall_module({"write": 3, "exit": 1},
                          "(drop (call $exit (i32.sub (i32.const 0) "
                          "(call $write (i32.const 1) (i32.const -16) (i32.const 64)))))")
    assert run_bytes(tmp_path, wasm)[0] == 14


def test_exceptions_proposal_is_enabled(tmp_path):
    extra = """(tag $jmp (param i32))
      (func $thrower (param i32) (throw $jmp (local.get 0)))"""
    body = """(block $caught (result i32 exnref)
        (try_table (catch_ref $jmp $caught) (call $thrower (i32.const 7)))
        (unreachable))
      (drop) (drop (call $exit))"""
    assert run_bytes(tmp_path, syscall_module({"exit": 1}, body, extra=extra))[0] == 7


def test_invalid_module_and_missing_exports(tmp_path):
    with pytest.raises(EmbedderError, match="not a valid wasm module"):
        run_bytes(tmp_path, b"\0asm garbage")
    import wasmtime
    wasm = wasmtime.wat2wasm('(module (memory (export "memory") 1) (func (export "_start") (param i32)))')
    with pytest.raises(EmbedderError, match="does not export global '__heap_base'"):
        run_bytes(tmp_path, wasm)
    with pytest.raises(EmbedderError, match="cannot read"):
        run(tmp_path / "missing.wasm", [])


def test_instance_call_exposes_syscalls(tmp_path):
    instance = Instance(syscall_module({"getpid": 0}), ["x"], root=tmp_path)
    try:
        assert instance.call("sys_getpid") == 1
    finally:
        instance.close()


def test_command_line(tmp_path, capfd):
    path = tmp_path / "hello.wasm"
    path.write_bytes(HELLO)
    assert main(["--dir", str(tmp_path), str(path), "arg"]) == 3
    assert capfd.readouterr().out == "hello\n"
    assert main([str(tmp_path / "nope.wasm")]) == 2
    assert "cannot read" in capfd.readouterr().err


def test_importing_the_package_does_not_import_wasmtime():
    import sys

    from muslforge import proc
    code = "import sys, muslforge.wasm; print('wasmtime' in sys.modules)"
    assert proc.output([sys.executable, "-c", code]).strip() == "False"


def _envp(instance):
    mem, block = instance.proc.mem, instance.block
    argc = mem.load_u32(block)
    at, env = block + 4 * (argc + 2), []
    while (pointer := mem.load_u32(at)) != 0:
        env.append(mem.cstring(pointer).decode())
        at += 4
    return env


def test_environment_is_inherited_unless_given(tmp_path, monkeypatch):
    monkeypatch.setenv("MUSLFORGE_WASM_TEST", "inherited")
    wasm = syscall_module({})
    inherited = Instance(wasm, ["x"], root=tmp_path)
    given = Instance(wasm, ["x"], root=tmp_path, env={"A": "1", "B": "two words"})
    try:
        assert "MUSLFORGE_WASM_TEST=inherited" in _envp(inherited)
        assert _envp(given) == ["A=1", "B=two words"]
    finally:
        inherited.close()
        given.close()


def test_command_line_env_options(tmp_path, monkeypatch):
    import wasmtime
    # exit(number of environment variables)
    wat = """(module (import "env" "__syscall_exit" (func $exit (param i32) (result i32)))
      (memory (export "memory") 2) (global (export "__heap_base") i32 (i32.const 65536))
      (func (export "_start") (param $p i32) (local $at i32) (local $n i32)
        (local.set $at (i32.add (local.get $p)
          (i32.mul (i32.add (i32.load (local.get $p)) (i32.const 2)) (i32.const 4))))
        (block $done (loop $next
          (br_if $done (i32.eqz (i32.load (local.get $at))))
          (local.set $n (i32.add (local.get $n) (i32.const 1)))
          (local.set $at (i32.add (local.get $at) (i32.const 4)))
          (br $next)))
        (drop (call $exit (local.get $n)))))"""
    path = tmp_path / "envc.wasm"
    path.write_bytes(wasmtime.wat2wasm(wat))
    assert main(["--clear-env", "--env", "A=1", "--env", "B=2", str(path)]) == 2
    monkeypatch.setattr("os.environ", {"ONLY": "one"})
    assert main(["--env", "A=1", str(path)]) == 2


def test_trap_in_the_modules_start_function_is_reported(tmp_path):
    import wasmtime
    wasm = wasmtime.wat2wasm("""(module (memory (export "memory") 1)
      (global (export "__heap_base") i32 (i32.const 0))
      (func $boom unreachable) (start $boom)
      (func (export "_start") (param i32)))""")
    status, _, err = run_bytes(tmp_path, wasm)
    assert status == 134 and "unreachable" in err


def test_trace_shows_paths_as_text(tmp_path):
    wasm = syscall_module({"openat": 4, "exit": 1},
                          "(drop (call $openat (i32.const -100) (i32.const 64) (i32.const 0) (i32.const 0)))"
                          "(drop (call $exit (i32.const 0)))", data={64: b"missing.txt\0"})
    _, _, err = run_bytes(tmp_path, wasm, trace=True)
    assert err.splitlines()[0] == "[wasm] openat(-100, 'missing.txt', 0, 0) = -2 ENOENT"
