"""Text generated from the syscall table: the port's three headers and the ABI doc's appendix.

The headers are written into the patched musl tree at patch time (never committed):
- arch/wasm32/bits/syscall.h.in: `#define __NR_<name> <nr>`, the numbers musl's sources use as keys;
- arch/wasm32/syscall_static.h: per syscall, the import declaration and the macros that turn
  __syscall(SYS_<name>, ...) into a call padded to the import's fixed parameter count;
- arch/wasm32/syscall_switch.h: the switch from a run-time SYS_ number to the named import, included
  only by the port's syscall() (src/misc/wasm32/syscall.c), so only programs that call syscall()
  import every syscall.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from . import Syscall, load

SYSCALL_H_IN = "arch/wasm32/bits/syscall.h.in"
SYSCALL_STATIC_H = "arch/wasm32/syscall_static.h"
SYSCALL_SWITCH_H = "arch/wasm32/syscall_switch.h"

_STATIC_HEADER = """\
/* Generated at patch time from muslforge's syscall table (muslforge/syscalls/wasm32.table):
 * do not edit.
 *
 * Static syscalls: every syscall is a call to a function imported from
 * the wasm module "env" under the name "__syscall_<name>", where <name>
 * is the kernel name (the __NR_ suffix). Each import has exactly one
 * signature, (i32 x N) -> i32, N being the syscall's full argument count
 * on an ILP32 arch; __SYSS_<number> pads shorter calls with zeros. */

#define __SYSS_PAD0(...)
"""


def syscall_h_in(rows: Iterable[Syscall]) -> str:
    return "".join(f"#define __NR_{row.name:<28} {row.nr}\n" for row in rows)


def syscall_static_h(rows: Iterable[Syscall]) -> str:
    out = [_STATIC_HEADER]
    for k in range(1, 7):
        letters = ",".join("abcdef"[:k])
        out.append(f"#define __SYSS_PAD{k}({letters},...) {letters}\n")
    out.append("\n")
    for row in rows:
        n = row.nparams
        params = ", ".join(["long"] * n) or "void"
        out.append(f'long __syscall_{row.name}({params}) __attribute__((__import_module__("env"), '
                   f'__import_name__("__syscall_{row.name}")));\n')
        out.append(f"#define __SYSS_{row.nr}(...) __syscall_{row.name}(__SYSS_PAD{n}(__VA_ARGS__))\n")
        out.append(f"#define __SYSS_NARGS_{row.nr} {n}\n")
    return "".join(out)


_SWITCH_HEADER = """\
/* Generated at patch time from muslforge's syscall table (muslforge/syscalls/wasm32.table):
 * do not edit. syscall(SYS_x, ...) by number: each case calls the named import with the
 * import's own parameter count (an i64 argument is two longs, low word first, as the
 * caller of syscall() passes it on a 32-bit arch). Included by src/misc/wasm32/syscall.c
 * only. */

static long __syscall_by_number(long n, long a, long b, long c, long d, long e, long f)
{
\tswitch (n) {
"""


def syscall_switch_h(rows: Iterable[Syscall]) -> str:
    out = [_SWITCH_HEADER]
    for row in rows:
        args = ", ".join("abcdef"[:row.nparams])
        out.append(f"\tcase {row.nr}: return __syscall_{row.name}({args});\n")
    out.append("\t}\n\treturn -ENOSYS;\n}\n")
    return "".join(out)


def write_headers(tree: Path, rows: Iterable[Syscall] | None = None) -> None:
    """Write the three headers into a musl tree (the wasm32 overlay must already be there)."""
    rows = tuple(rows if rows is not None else load())
    (tree / SYSCALL_H_IN).write_text(syscall_h_in(rows), encoding="utf-8")
    (tree / SYSCALL_STATIC_H).write_text(syscall_static_h(rows), encoding="utf-8")
    (tree / SYSCALL_SWITCH_H).write_text(syscall_switch_h(rows), encoding="utf-8")


def abi_appendix(rows: Iterable[Syscall] | None = None) -> str:
    """The appendix of docs/wasm32-abi.md: every row of the table as a Markdown table."""
    rows = tuple(rows if rows is not None else load())
    lines = [APPENDIX_TITLE, "",
             f"Generated from `muslforge/syscalls/wasm32.table` ({len(rows)} syscalls) by",
             "`python3 -m muslforge.syscalls.generate --doc`; a test keeps it current. Each row is the import",
             "`env.__syscall_<name>` with N i32 parameters and an i32 result. Argument kinds: `fd`, `path`",
             "(a file name), `str` (another C string), `ptr`, `size`, `int`, `i64` (two parameters, low word",
             "first). A libc.a imports the subset its code reaches: its `share/muslforge/syscalls.json`.",
             "", "| nr | import | N | arguments | returns |", "|---:|--------|--:|-----------|---------|"]
    for row in rows:
        args = " ".join(kind.value for kind in row.args) or "-"
        lines.append(f"| {row.nr} | `{row.name}` | {row.nparams} | {args} | {row.returns.value} |")
    return "\n".join(lines) + "\n"


APPENDIX_TITLE = "## Appendix: the syscall table"


def update_doc(doc: Path) -> bool:
    """Replace the appendix at the end of `doc`; True when the file changed."""
    text = doc.read_text(encoding="utf-8")
    head = text.split(APPENDIX_TITLE, 1)[0].rstrip("\n") + "\n\n"
    new = head + abi_appendix()
    if new == text:
        return False
    doc.write_text(new, encoding="utf-8")
    return True


if __name__ == "__main__":
    import sys

    if sys.argv[1:] != ["--doc"]:
        sys.exit("usage: python3 -m muslforge.syscalls.generate --doc   (rewrites docs/wasm32-abi.md's appendix)")
    from ..paths import CHECKOUT

    print("updated" if update_doc(CHECKOUT / "docs" / "wasm32-abi.md") else "already current")
