"""Host functions through wasmtime's unchecked C API: raw i32 arguments and result.

wasmtime-py's own trampoline turns every argument and result into a Val and compares value types on
each call, which is most of a syscall's cost. Syscalls are all (i32 x N) -> i32 (host.link checks the
types before defining them), so this trampoline reads the N raw i32 values and writes the result in
place. An exception from a handler (exit, a fatal signal, a stop) is handed back the way wasmtime-py's
trampoline does it (a "python exception" trap, re-raised by the call into wasm), so callers see the
same behaviour. This leans on wasmtime-py internals (its Caller wrapper, LAST_EXCEPTION, the unchecked
binding); where they are missing (another wasmtime-py), `define` falls back to Linker.define_func.
"""

from __future__ import annotations

import ctypes
import itertools
from collections.abc import Callable
from typing import Any

from wasmtime import Trap, WasmtimeError

try:
    from wasmtime import _ffi as ffi
    from wasmtime import _func
    _CALLBACK = ffi.wasmtime_func_unchecked_callback_t
    AVAILABLE = callable(getattr(_func, "Caller", None)) and hasattr(_func, "LAST_EXCEPTION")
except (ImportError, AttributeError):
    AVAILABLE = False

_CALLABLES: dict[int, tuple[Callable[..., int], range]] = {}
_IDS = itertools.count(1)


def _trampoline(env: int | None, caller_ptr: Any, values: Any, count: int) -> int:
    function, params = _CALLABLES[env or 0]
    caller = _func.Caller(caller_ptr)
    try:
        values[0].i32 = function(caller, *[values[i].i32 for i in params])
        return 0
    except BaseException as error:           # noqa: BLE001  (handed to the caller of the wasm code)
        _func.LAST_EXCEPTION = error
        return ctypes.cast(Trap("python exception")._consume(), ctypes.c_void_p).value
    finally:
        caller._invalidate()


def _finalize(env: int | None) -> None:
    _CALLABLES.pop(env or 0, None)


if AVAILABLE:
    _trampoline = _CALLBACK(_trampoline)
    _finalize = ctypes.CFUNCTYPE(None, ctypes.c_void_p)(_finalize)


def define(linker: Any, module: str, name: str, ty: Any, function: Callable[..., int]) -> None:
    """Define module.name in `linker` as `function(caller, *i32 args) -> i32` (ty: its FuncType)."""
    if not AVAILABLE:
        linker.define_func(module, name, ty, function, access_caller=True)
        return
    key = next(_IDS)
    _CALLABLES[key] = (function, range(len(ty.params)))
    module_bytes, name_bytes = module.encode(), name.encode()
    error = ffi.wasmtime_linker_define_func_unchecked(
        linker.ptr(), ctypes.create_string_buffer(module_bytes), len(module_bytes),
        ctypes.create_string_buffer(name_bytes), len(name_bytes), ty.ptr(), _trampoline, key, _finalize)
    if error:
        _CALLABLES.pop(key, None)
        raise WasmtimeError._from_ptr(error)
