"""Real musl programs on the embedder: C sources compiled with clang-22 against the wasm32 sysroot.

The sysroot comes from a real `doit build:wasm32` in the session's build directory, or from
$MUSLFORGE_WASM32_SYSROOT. Programs are linked with the arch's flags, with -Wl,--export-table (so signal
handlers can be called) unless a test asks otherwise.
"""

from __future__ import annotations

import dataclasses
import io
import os
from pathlib import Path

import pytest

from muslforge import paths, proc
from muslforge.sysroot.cc import cc_argv
from muslforge.config.arch import load_arch
from muslforge.config.toolchain import load_toolchain

pytestmark = pytest.mark.slow
TABLE_FLAG = "-Wl,--export-table"


@pytest.fixture(scope="module")
def sysroot(request) -> Path:
    """$MUSLFORGE_WASM32_SYSROOT when set (quick iteration), else a real `doit build:wasm32`."""
    override = os.environ.get("MUSLFORGE_WASM32_SYSROOT")
    if override:
        return Path(override)
    return request.getfixturevalue("wasm32_sysroot")


@pytest.fixture(scope="module")
def compile_c(sysroot, tmp_path_factory):
    arch = load_arch(paths.ARCHES_DIR, "wasm32")
    toolchain = load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22")
    out = tmp_path_factory.mktemp("wasm-progs")

    def build(name: str, source: str, *, export_table: bool = True) -> Path:
        c_file, wasm = out / f"{name}.c", out / f"{name}.wasm"
        c_file.write_text(source)
        flags = [f for f in arch.ldflags if f != TABLE_FLAG] + ([TABLE_FLAG] if export_table else [])
        program_arch = dataclasses.replace(arch, ldflags=tuple(flags))
        proc.output(cc_argv(toolchain, program_arch, sysroot, ["-O2", "-Wall", str(c_file), "-o", str(wasm)]))
        return wasm
    return build


def run_program(wasm: Path, root: Path, *args: str, stdin: bytes = b"", env=None):
    out, err = io.BytesIO(), io.BytesIO()
    from muslforge.wasm import run
    status = run(wasm, [wasm.name, *args], root=root, env=env or {"HOME": "/nowhere"},
                 stdin=io.BytesIO(stdin), stdout=out, stderr=err)
    return status, out.getvalue().decode(), err.getvalue().decode()


FILES_C = r'''
#define _GNU_SOURCE
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#define CHECK(x) do { if (!(x)) printf("FAIL %d %s errno=%d\n", __LINE__, #x, errno); } while (0)

static int cmp(const void *a, const void *b) { return strcmp(*(char **)a, *(char **)b); }

int main(void)
{
    char buf[256];
    int fd = open("data.txt", O_RDWR | O_CREAT | O_TRUNC, 0644);
    CHECK(fd >= 3);
    CHECK(write(fd, "hello, world\n", 13) == 13);
    CHECK(lseek(fd, 7, SEEK_SET) == 7);
    CHECK(read(fd, buf, 5) == 5 && !memcmp(buf, "world", 5));
    CHECK(pwrite(fd, "HELLO", 5, 0) == 5);
    CHECK(pread(fd, buf, 5, 0) == 5 && !memcmp(buf, "HELLO", 5));
    struct iovec iov[2] = {{"ab", 2}, {"cd\n", 3}};
    CHECK(lseek(fd, 0, SEEK_END) == 13);
    CHECK(writev(fd, iov, 2) == 5);
    CHECK(lseek(fd, 1LL << 33, SEEK_SET) == 1LL << 33);   /* 64-bit offsets survive */
    CHECK(ftruncate(fd, 18) == 0);
    CHECK(fsync(fd) == 0);
    struct stat st;
    CHECK(fstat(fd, &st) == 0 && st.st_size == 18 && S_ISREG(st.st_mode));
    CHECK(stat("data.txt", &st) == 0 && st.st_size == 18 && st.st_mtime > 1600000000);
    CHECK(fcntl(fd, F_GETFL) & O_RDWR);
    int fd2 = dup(fd);
    CHECK(fd2 > fd && lseek(fd2, 0, SEEK_CUR) == lseek(fd, 0, SEEK_CUR));
    CHECK(dup2(fd, 10) == 10);
    CHECK(close(fd2) == 0 && close(10) == 0 && close(fd) == 0);
    CHECK(close(fd) == -1 && errno == EBADF);

    FILE *f = fopen("data.txt", "r");
    CHECK(f != NULL);
    while (fgets(buf, sizeof buf, f)) fputs(buf, stdout);
    fclose(f);

    CHECK(mkdir("dir", 0755) == 0);
    CHECK(mkdir("dir", 0755) == -1 && errno == EEXIST);
    CHECK(close(open("dir/b", O_CREAT | O_WRONLY, 0644)) == 0);
    CHECK(close(open("dir/a", O_CREAT | O_WRONLY, 0644)) == 0);
    CHECK(rename("dir/a", "dir/c") == 0);
    CHECK(symlink("c", "dir/link") == 0);
    ssize_t n = readlink("dir/link", buf, sizeof buf);
    CHECK(n == 1 && buf[0] == 'c');
    CHECK(lstat("dir/link", &st) == 0 && S_ISLNK(st.st_mode));
    CHECK(access("dir/c", R_OK | W_OK) == 0);
    CHECK(access("dir/zz", F_OK) == -1 && errno == ENOENT);
    DIR *d = opendir("dir");
    CHECK(d != NULL);
    char *names[16]; int count = 0;
    struct dirent *e;
    while ((e = readdir(d))) if (e->d_name[0] != '.') names[count++] = strdup(e->d_name);
    closedir(d);
    qsort(names, count, sizeof *names, cmp);
    printf("dir:");
    for (int i = 0; i < count; i++) printf(" %s", names[i]);
    printf("\n");
    CHECK(chdir("dir") == 0);
    CHECK(getcwd(buf, sizeof buf) && !strcmp(strrchr(buf, '/'), "/dir"));
    CHECK(unlink("link") == 0 && unlink("b") == 0 && unlink("c") == 0);
    CHECK(chdir("..") == 0);
    CHECK(rmdir("dir") == 0);

    int p[2];
    CHECK(pipe(p) == 0);
    CHECK(write(p[1], "piped", 5) == 5 && read(p[0], buf, 5) == 5 && !memcmp(buf, "piped", 5));
    close(p[0]); close(p[1]);

    CHECK(open("/etc/passwd", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(open("../escape", O_CREAT | O_WRONLY, 0644) == -1 && errno == EACCES);
    CHECK(isatty(1) == 0 && errno == ENOTTY);
    int null = open("/dev/null", O_WRONLY);
    CHECK(null >= 0 && write(null, "x", 1) == 1);

    CHECK(chmod("data.txt", 0600) == 0 && stat("data.txt", &st) == 0 && (st.st_mode & 0777) == 0600);
    struct timespec times[2] = {{1000000000, 0}, {1200000000, 500}};
    CHECK(utimensat(AT_FDCWD, "data.txt", times, 0) == 0);
    CHECK(stat("data.txt", &st) == 0 && st.st_mtim.tv_sec == 1200000000 && st.st_atim.tv_sec == 1000000000);
    fd = open("data.txt", O_RDONLY);
    CHECK(fchmod(fd, 0644) == 0 && futimens(fd, NULL) == 0);
    CHECK(fstat(fd, &st) == 0 && st.st_mtim.tv_sec > 1600000000);
    close(fd);
    char *real = realpath("./data.txt", NULL);
    CHECK(real && !strcmp(strrchr(real, '/'), "/data.txt"));
    CHECK(symlink("/etc/passwd", "out") == 0);
    CHECK(open("out", O_RDONLY) == -1 && errno == ENOENT);
    CHECK(unlink("out") == 0);
    int dfd = open(".", O_RDONLY | O_DIRECTORY);
    CHECK(dfd >= 0 && faccessat(dfd, "data.txt", R_OK, 0) == 0);
    CHECK(fstatat(dfd, "data.txt", &st, 0) == 0 && st.st_size == 18);
    close(dfd);
    printf("done\n");
    return 0;
}
'''


def test_file_syscalls(compile_c, tmp_path):
    wasm = compile_c("files", FILES_C)
    status, out, err = run_program(wasm, tmp_path)
    assert (status, err) == (0, "")
    assert out == "HELLO, world\nabcd\ndir: b c link\ndone\n"
    assert (tmp_path / "data.txt").read_bytes() == b"HELLO, world\nabcd\n"


MEMORY_C = r'''
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>

int main(void)
{
    void *small[1000];
    for (int i = 0; i < 1000; i++) { small[i] = malloc(16 + i); memset(small[i], i, 16 + i); }
    for (int i = 0; i < 1000; i += 2) free(small[i]);
    char *big = malloc(8 << 20);
    memset(big, 7, 8 << 20);
    big = realloc(big, 32 << 20);
    if (big[(8 << 20) - 1] != 7) { puts("realloc lost data"); return 1; }
    free(big);
    char *m = mmap(0, 200000, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED || m[199999] != 0) { puts("mmap"); return 1; }
    m[0] = 1;
    m = mremap(m, 200000, 400000, MREMAP_MAYMOVE);
    if (m == MAP_FAILED || m[0] != 1) { puts("mremap"); return 1; }
    if (munmap(m, 400000)) { puts("munmap"); return 1; }
    for (int i = 1; i < 1000; i += 2) free(small[i]);
    puts("memory ok");
    return 0;
}
'''


def test_memory_syscalls(compile_c, tmp_path):
    status, out, err = run_program(compile_c("memory", MEMORY_C), tmp_path)
    assert (status, out, err) == (0, "memory ok\n", "")


PROCESS_C = r'''
#define _GNU_SOURCE
#include <setjmp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <sys/utsname.h>
#include <sched.h>
#include <time.h>
#include <unistd.h>

static volatile int caught;
static void on_usr1(int sig) { caught = sig; }
static jmp_buf jb;
static void jump(void) { longjmp(jb, 5); }

int main(int argc, char **argv)
{
    struct timespec a, b, req = {0, 20000000};
    clock_gettime(CLOCK_MONOTONIC, &a);
    nanosleep(&req, 0);
    clock_gettime(CLOCK_MONOTONIC, &b);
    long ms = (b.tv_sec - a.tv_sec) * 1000 + (b.tv_nsec - a.tv_nsec) / 1000000;
    printf("slept: %s\n", ms >= 20 ? "yes" : "no");
    time_t now = time(0);
    printf("realtime sane: %s\n", now > 1600000000 ? "yes" : "no");
    printf("pid %d ppid %d\n", (int)getpid(), (int)getppid());
    printf("uid matches: %s\n", getuid() == geteuid() ? "yes" : "no");
    unsigned char rnd[16] = {0}, zero[16] = {0};
    printf("getrandom: %d %s\n", (int)getrandom(rnd, 16, 0), memcmp(rnd, zero, 16) ? "nonzero" : "zero");
    struct utsname u;
    uname(&u);
    printf("uname: %s %s\n", u.sysname, u.machine);
    printf("sched_yield: %d\n", sched_yield());
    signal(SIGUSR1, on_usr1);
    printf("raise: %d caught %d\n", raise(SIGUSR1), caught);
    sigset_t set;
    sigemptyset(&set);
    sigaddset(&set, SIGUSR1);
    caught = 0;
    sigprocmask(SIG_BLOCK, &set, 0);
    raise(SIGUSR1);
    printf("blocked: caught %d\n", caught);
    sigprocmask(SIG_UNBLOCK, &set, 0);
    printf("unblocked: caught %d\n", caught);
    int r = setjmp(jb);
    if (!r) jump();
    printf("longjmp: %d\n", r);
    printf("env: %s argv1: %s\n", getenv("GREETING"), argc > 1 ? argv[1] : "-");
    fflush(stdout);
    if (argc > 2) abort();
    return 9;
}
'''


def test_process_time_signal_syscalls(compile_c, tmp_path):
    wasm = compile_c("process", PROCESS_C)
    status, out, err = run_program(wasm, tmp_path, "one", env={"GREETING": "hi"})
    assert (status, err) == (9, "")
    assert out == ("slept: yes\nrealtime sane: yes\npid 1 ppid 0\nuid matches: yes\n"
                   "getrandom: 16 nonzero\nuname: Linux wasm32\nsched_yield: 0\nraise: 0 caught 10\n"
                   "blocked: caught 0\nunblocked: caught 10\nlongjmp: 5\nenv: hi argv1: one\n")
    status, out, _ = run_program(wasm, tmp_path, "one", "abort")
    assert status == 134 and out.endswith("argv1: one\n")


STDIN_C = r'''
#include <stdio.h>
int main(void)
{
    char line[100]; int n = 0;
    while (fgets(line, sizeof line, stdin)) printf("%d: %s", ++n, line);
    return n;
}
'''


def test_stdin(compile_c, tmp_path):
    status, out, _ = run_program(compile_c("stdin", STDIN_C), tmp_path, stdin=b"a\nb\n")
    assert (status, out) == (2, "1: a\n2: b\n")


TRAP_C = r'''
#include <stdio.h>
__attribute__((noinline)) static void crash(void) { __builtin_trap(); }
int main(void) { puts("before"); fflush(stdout); crash(); return 0; }
'''


def test_trap_reports_backtrace(compile_c, tmp_path):
    status, out, err = run_program(compile_c("trap", TRAP_C), tmp_path)
    assert status == 134 and out == "before\n"
    assert "wasm trap" in err and "unreachable" in err and "backtrace" in err


def test_trace_shows_syscalls(compile_c, tmp_path):
    wasm = compile_c("hello", '#include <stdio.h>\nint main(void) { puts("hi"); return 0; }\n')
    from muslforge.wasm import run
    out_io, err_io = io.BytesIO(), io.BytesIO()
    assert run(wasm, ["hello"], root=tmp_path, trace=True, stdout=out_io, stderr=err_io) == 0
    trace = err_io.getvalue().decode()
    assert "[wasm] writev(1, " in trace and "[wasm] exit_group(0) = ?" in trace


def test_every_syscall_the_libc_can_import_links(sysroot):
    """Each env.__syscall_* in libc.a (the sysroot's manifest) has a handler or the -ENOSYS stub."""
    from muslforge.sysroot.wasm_imports import generate
    from muslforge.wasm.host import PREFIX, syscall_handler
    manifest = generate(sysroot / "lib" / "libc.a")
    assert manifest["count"] > 100
    problems = []
    for name, entry in manifest["syscalls"].items():
        handler, reason = syscall_handler(name[len(PREFIX):], entry["params"])
        if entry["module"] != "env" or handler is None:
            problems.append(f"{name}: {reason}")
    assert problems == []


HANDLER_EXIT_C = r'''
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
static void bye(int sig) { printf("handler %d\n", sig); exit(40 + sig); }
int main(void) { signal(SIGTERM, bye); raise(SIGTERM); puts("not reached"); return 0; }
'''


def test_signal_handler_may_exit(compile_c, tmp_path):
    status, out, _ = run_program(compile_c("sigexit", HANDLER_EXIT_C), tmp_path)
    assert (status, out) == (55, "handler 15\n")


def test_handler_without_exported_table_gets_the_default_action(compile_c, tmp_path):
    wasm = compile_c("sigexit-notable", HANDLER_EXIT_C, export_table=False)
    assert run_program(wasm, tmp_path) == (128 + 15, "", "")


ESCAPES_C = r'''
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    const char *outside = argv[1];
    char buf[128];
    /* 1: through the cwd */
    mkdir("c", 0755);
    chdir("c");
    rename("../c", "../x");
    symlink(outside, "../c");
    FILE *f = fopen("passwd", "r");
    printf("cwd escape: %s\n", f && fgets(buf, sizeof buf, f) ? buf : strerror(errno));
    /* 2: through a directory fd */
    chdir("..");
    mkdir("d", 0755);
    int dfd = open("d", O_DIRECTORY | O_RDONLY);
    rename("d", "d2");
    symlink(outside, "d");
    int fd = openat(dfd, "planted", O_CREAT | O_WRONLY, 0644);
    printf("dirfd create: %s\n", fd >= 0 ? "made inside" : strerror(errno));
    printf("dirfd unlink: %s\n", unlinkat(dfd, "victim", 0) ? strerror(errno) : "deleted!");
    return 0;
}
'''


def test_the_two_escapes_of_issue_9_stay_inside(compile_c, tmp_path):
    wasm = compile_c("escapes", ESCAPES_C)
    root, outside = tmp_path / "root", tmp_path / "outside"
    root.mkdir()
    outside.mkdir()
    (outside / "passwd").write_text("root:x:0:0:SECRET\n")
    (outside / "victim").write_text("keep me\n")
    status, out, err = run_program(wasm, root, str(outside))
    assert status == 0, err
    assert out.splitlines() == ["cwd escape: No such file or directory", "dirfd create: made inside",
                                "dirfd unlink: No such file or directory"]
    assert (root / "d2" / "planted").exists() and not (outside / "planted").exists()
    assert (outside / "victim").read_text() == "keep me\n"


MALLOC_ALL_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static char *kept[4096];

int main(void)
{
    int chunks = 0;
    while (chunks < 4096 && (kept[chunks] = malloc(1 << 20))) {
        memset(kept[chunks], 1, 1 << 20);
        chunks++;
    }
    long sum = 0;
    for (int i = 0; i < chunks; i++) sum += kept[i][i];
    printf("%d %ld\n", chunks, sum);
    return 0;
}
'''


def test_max_memory_makes_malloc_return_null(compile_c, tmp_path):
    from muslforge.wasm import run
    wasm = compile_c("malloc_all", MALLOC_ALL_C)
    out = io.BytesIO()
    assert run(wasm, ["m"], root=tmp_path, stdout=out, stderr=io.BytesIO(), max_memory=32 << 20) == 0
    chunks, total = map(int, out.getvalue().split())
    assert 20 <= chunks < 32 and total == chunks


POSIX_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/file.h>
#include <sys/resource.h>
#include <unistd.h>

int main(int argc, char **argv)
{
    if (!strcmp(argv[1], "sigpipe")) {
        int p[2];
        pipe(p);
        close(p[0]);
        if (argc > 2) signal(SIGPIPE, SIG_IGN);
        long n = write(p[1], "x", 1);
        printf("write: %ld %s\n", n, strerror(errno));
        return 0;
    }
    int fd = open("lockfile", O_RDWR | O_CREAT, 0644);
    struct flock fl = {.l_type = F_WRLCK, .l_whence = SEEK_SET, .l_start = 0, .l_len = 10};
    fcntl(fd, F_GETLK, &fl);
    printf("getlk: %s\n", fl.l_type == F_UNLCK ? "unlocked" : fl.l_pid > 1 ? "held by another process" : "?");
    fl.l_type = F_WRLCK;
    printf("setlk: %s\n", fcntl(fd, F_SETLK, &fl) ? strerror(errno) : "granted");
    struct flock ofd = {.l_type = F_RDLCK, .l_whence = SEEK_SET, .l_start = 20, .l_len = 1};
    printf("ofd: %s\n", fcntl(fd, F_OFD_SETLK, &ofd) ? strerror(errno) : "granted");
    printf("flock: %s\n", flock(fd, LOCK_EX | LOCK_NB) ? strerror(errno) : "granted");

    struct rlimit rl = {10, 10};
    setrlimit(RLIMIT_NOFILE, &rl);
    getrlimit(RLIMIT_NOFILE, &rl);
    int opened = 0;
    while (open("lockfile", O_RDONLY) >= 0) opened++;
    printf("nofile %ld: %d more, then %s\n", (long)rl.rlim_cur, opened, strerror(errno));
    volatile unsigned spin = 0;
    for (unsigned i = 0; i < 50000000; i++) spin += i;
    struct rusage ru;
    getrusage(RUSAGE_SELF, &ru);
    printf("cpu: %s\n", ru.ru_utime.tv_sec + ru.ru_utime.tv_usec > 0 ? "counted" : "zero");
    return 0;
}
'''

HOLDER = """
import fcntl, sys
f = open(sys.argv[1], "r+")
fcntl.lockf(f, fcntl.LOCK_EX, 100, 0)
g = open(sys.argv[1], "r+")
fcntl.flock(g, fcntl.LOCK_EX)
print("locked", flush=True)
sys.stdin.read()
"""


def test_locks_sigpipe_rlimits_rusage(compile_c, tmp_path):
    import subprocess
    import sys
    wasm = compile_c("posix_bits", POSIX_C)
    assert run_program(wasm, tmp_path, "locks")[1].splitlines() == [
        "getlk: unlocked", "setlk: granted", "ofd: granted", "flock: granted",
        "nofile 10: 6 more, then No file descriptors available", "cpu: counted"]
    holder = subprocess.Popen([sys.executable, "-c", HOLDER, str(tmp_path / "lockfile")], text=True,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE)
    try:
        assert holder.stdout.readline() == "locked\n"
        out = run_program(wasm, tmp_path, "locks")[1].splitlines()
    finally:
        holder.stdin.close()
        holder.wait()
    assert out[:4] == ["getlk: held by another process", "setlk: Resource temporarily unavailable",
                       "ofd: Resource temporarily unavailable", "flock: Resource temporarily unavailable"]
    assert run_program(wasm, tmp_path, "sigpipe")[:2] == (141, "")
    assert run_program(wasm, tmp_path, "sigpipe", "ignored")[:2] == (0, "write: -1 Broken pipe\n")
