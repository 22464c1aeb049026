"""SQLite, built from its amalgamation, keeps a WAL-mode file database in the default sandbox.

The amalgamation comes from Debian's sqlite3 source package (`apt-get source --download-only`, with the
deb-src entries .ci/get-musl-tarballs sets up), generated once with the source's own `make sqlite3.c`
and kept in the download cache (test-sources/); the compiled program is cached there too, keyed by its
inputs. Takes ~2.5 minutes on a fresh machine, seconds afterwards.
"""

from __future__ import annotations

import hashlib
import io
import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from muslforge import paths, proc
from muslforge.sysroot.cc import cc_argv
from muslforge.config.arch import load_arch
from muslforge.config.toolchain import load_toolchain

pytestmark = pytest.mark.slow

WAL_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>
#include "sqlite3.h"

static int fail(sqlite3 *db, const char *what)
{
    printf("FAIL %s: %s\n", what, sqlite3_errmsg(db));
    return 1;
}

static int first(void *out, int n, char **values, char **names)
{
    snprintf(out, 64, "%s", values[0] ? values[0] : "NULL");
    return 0;
}

int main(int argc, char **argv)
{
    sqlite3 *db;
    char buf[64], cwd[512], path[600];
    snprintf(path, sizeof path, "%s/test.db", getcwd(cwd, sizeof cwd));   /* absolute, as most apps do */
    if (sqlite3_open(path, &db)) return fail(db, "open");
    if (sqlite3_exec(db, "PRAGMA journal_mode=WAL", first, buf, 0)) return fail(db, "wal");
    printf("journal_mode=%s\n", buf);
    if (sqlite3_exec(db, "CREATE TABLE t(a INTEGER PRIMARY KEY, b TEXT); BEGIN", 0, 0, 0))
        return fail(db, "create");
    for (int i = 0; i < 1000; i++) {
        char sql[96];
        snprintf(sql, sizeof sql, "INSERT INTO t(b) VALUES('row %04d')", i);
        if (sqlite3_exec(db, sql, 0, 0, 0)) return fail(db, "insert");
    }
    if (sqlite3_exec(db, "COMMIT", 0, 0, 0)) return fail(db, "commit");
    if (sqlite3_close(db)) return fail(db, "close");
    if (sqlite3_open(path, &db)) return fail(db, "reopen");
    if (sqlite3_exec(db, "SELECT count(*) || ' ' || max(b) FROM t", first, buf, 0)) return fail(db, "select");
    printf("rows: %s\n", buf);
    if (sqlite3_exec(db, "PRAGMA journal_mode", first, buf, 0)) return fail(db, "mode");
    printf("reopened journal_mode=%s\n", buf);
    if (sqlite3_exec(db, "PRAGMA integrity_check", first, buf, 0)) return fail(db, "check");
    printf("integrity=%s\n", buf);
    return sqlite3_close(db) ? fail(db, "close") : 0;
}
'''


def _run(*argv: str, cwd: Path) -> None:
    done = subprocess.run(argv, cwd=cwd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if done.returncode:
        pytest.fail(f"{' '.join(argv)} exited {done.returncode}:\n{done.stdout[-4000:]}", pytrace=False)


@pytest.fixture(scope="session")
def sqlite_amalgamation() -> Path:
    """A folder with sqlite3.c and sqlite3.h, made once from Debian's sqlite3 source package."""
    cached = paths.cache_dir() / "test-sources" / "sqlite-amalgamation"
    if (cached / "sqlite3.c").is_file() and (cached / "sqlite3.h").is_file():
        return cached
    with tempfile.TemporaryDirectory() as work_name:
        work = Path(work_name)
        os.chmod(work, 0o755)                # apt's _apt user downloads into it
        _run("apt-get", "source", "--download-only", "-qq", "sqlite3", cwd=work)
        origs = sorted(work.glob("sqlite3_*.orig.tar.*"))
        if not origs:
            pytest.fail(f"apt-get source sqlite3 gave no orig tarball (files: {os.listdir(work)}); "
                        "./setup.sh --tests sets up the deb-src entries it needs", pytrace=False)
        _run("tar", "-xf", str(origs[0]), cwd=work)
        source = next(p for p in work.iterdir() if p.is_dir())
        _run("./configure", "--disable-tcl", "CC=clang-22", cwd=source)
        _run("make", "sqlite3.c", cwd=source)
        staged = cached.with_name(cached.name + ".tmp")
        shutil.rmtree(staged, ignore_errors=True)
        staged.mkdir(parents=True)
        for name in ("sqlite3.c", "sqlite3.h", "VERSION"):
            shutil.copy(source / name, staged / name)
        shutil.rmtree(cached, ignore_errors=True)
        os.replace(staged, cached)
    return cached


@pytest.fixture(scope="module")
def wal_program(sqlite_amalgamation, request, tmp_path_factory) -> Path:
    override = os.environ.get("MUSLFORGE_WASM32_SYSROOT")
    sysroot = Path(override) if override else request.getfixturevalue("wasm32_sysroot")
    arch = load_arch(paths.ARCHES_DIR, "wasm32")
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")
    key = hashlib.sha256()
    for part in (WAL_C.encode(), (sysroot / "lib" / "libc.a").read_bytes(),
                 (sqlite_amalgamation / "sqlite3.c").read_bytes(), repr((arch.cflags, arch.ldflags)).encode()):
        key.update(hashlib.sha256(part).digest())
    wasm = paths.cache_dir() / "test-sources" / f"sqlite-wal-{key.hexdigest()[:16]}.wasm"
    if not wasm.is_file():
        work = tmp_path_factory.mktemp("sqlite-build")
        (work / "wal.c").write_text(WAL_C)
        out = work / "wal.wasm"
        proc.output(cc_argv(toolchain, arch, sysroot, [
            "-O1", "-I", str(sqlite_amalgamation), str(work / "wal.c"),
            str(sqlite_amalgamation / "sqlite3.c"), "-o", str(out)]))
        os.replace(out, wasm)
    return wasm


def test_sqlite_wal_database_in_the_default_sandbox(wal_program, tmp_path, monkeypatch):
    """Default options: the host cwd mounted at its own path; SQLite lstat()s every ancestor of it."""
    from muslforge.wasm import run

    monkeypatch.chdir(tmp_path)
    out, err = io.BytesIO(), io.BytesIO()
    assert run(wal_program, ["wal"], env={}, stdout=out, stderr=err) == 0, out.getvalue() + err.getvalue()
    assert out.getvalue().decode().splitlines() == [
        "journal_mode=wal", "rows: 1000 row 0999", "reopened journal_mode=wal", "integrity=ok"]
    assert (tmp_path / "test.db").stat().st_size > 0
    assert not (tmp_path / "test.db-wal").exists()          # checkpointed and removed at the last close
