"""Running guest threads to their end: the main thread's _start and every thread clone starts.

run_thread turns how a thread ended into what happens to the program: `exit` ends the thread (and the
program with it when it was the last one); exit_group, a fatal signal, a trap, --timeout, Ctrl-C end the
program (ThreadGroup.end stops every other thread). Spawner starts a thread: a new instance of the module
on the shared memory, in its own Store, on a daemon host thread, entered at __wasm_thread_start.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from . import signals
from .errors import ProcessExit
from .host import TRAP_STATUS, Process, new_store, report_trap
from .limits import Stop
from .threads import THREAD_START, GroupStopped, GuestThread, ThreadExit


def run_thread(proc: Process, wasm_name: str, thread: GuestThread, entry: Callable[[], None]) -> int | None:
    """Run one guest thread's entry; the program's exit status when it has ended, else None."""
    import wasmtime

    group = proc.threads
    try:
        entry()
        status = 0 if thread is group.main else None        # _start returned; a thread start never does
    except ThreadExit:
        status = None
    except (ProcessExit, Stop) as stop:
        status = stop.status
    except GroupStopped:
        return group.status
    except (wasmtime.Trap, wasmtime.WasmtimeError) as trap:
        stopped = proc.stopper.status if proc.stopper is not None else None
        if stopped is None and not group.stopping.is_set():
            report_trap(proc, wasm_name, trap)
        status = TRAP_STATUS if stopped is None else stopped
    if status is not None:
        group.end(status)
        return group.status
    group.finish(thread, proc.mem)
    proc.release_scratch(thread)
    return group.status if group.stopping.is_set() else None


class Spawner:
    """Starts guest threads for one instantiated program (see the module doc)."""

    def __init__(self, proc: Process, wasm_name: str, engine: Any, linker: Any, module: Any):
        self.proc, self.name, self.engine = proc, wasm_name, engine
        self.pre = linker.instantiate_pre(module)

    def start(self, thread: GuestThread, stack: int, tls: int) -> None:
        host = threading.Thread(target=self._main, args=(thread, stack, tls), daemon=True,
                                name=f"wasm-thread-{thread.tid}")
        thread.host = host
        host.start()

    def _main(self, thread: GuestThread, stack: int, tls: int) -> None:
        import wasmtime

        proc = self.proc
        proc.threads.bind(thread)
        store = new_store(self.engine)
        signals.install(proc, store, thread)
        proc.mem.enter(store)

        def entry() -> None:
            instance = self.pre.instantiate(store)
            exports = instance.exports(store)
            table = exports.get("__indirect_function_table")
            thread.table = table if isinstance(table, wasmtime.Table) else None
            exports[THREAD_START](store, thread.tid, stack, tls)
        run_thread(proc, self.name, thread, entry)

    def interrupt(self) -> None:
        """Make every store's running guest code trap at its next epoch check (the program ends)."""
        signals.stop_guest_code(self.engine)
