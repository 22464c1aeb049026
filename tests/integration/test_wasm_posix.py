"""The rest of POSIX on wasm32 (issue 11), as real C programs compiled against the wasm32 sysroot:
syscall() by number, asynchronous signals, and the syscalls each program meets."""

from __future__ import annotations

import pytest

from tests.integration.test_wasm_embedder import compile_c, run_program, sysroot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow

SYSCALL_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    printf("pid %ld\n", syscall(SYS_getpid));
    long n = syscall(SYS_write, 1, "by number\n", 10);
    fflush(stdout);
    printf("wrote %ld\n", n);
    errno = 0;
    printf("mount %ld %s\n", syscall(SYS_mount, "a", "b", "c", 0L, 0L), strerror(errno));
    errno = 0;
    printf("9999 %ld %s\n", syscall(9999), strerror(errno));
    int fd = open("f", O_RDWR | O_CREAT | O_TRUNC, 0600);
    write(fd, "0123456789", 10);
    char buf[4] = {0};
    /* pread64 with its 64-bit offset as two longs, low word first */
    long got = syscall(SYS_pread64, fd, buf, 3L, 4L, 0L);
    printf("pread %ld %s\n", got, buf);
    return 0;
}
'''


def test_syscall_by_number_reaches_the_named_imports(compile_c, tmp_path):
    wasm = compile_c("syscall", SYSCALL_C)
    status, out, err = run_program(wasm, tmp_path)
    assert (status, err) == (0, "")
    assert out == ("pid 1\nby number\nwrote 10\nmount -1 Operation not permitted\n"
                   "9999 -1 Function not implemented\npread 3 456\n")


def test_only_programs_that_call_syscall_import_every_syscall(compile_c):
    import wasmtime

    def imports(wasm):
        module = wasmtime.Module.from_file(wasmtime.Engine(), str(wasm))
        return {imp.name for imp in module.imports}
    hello = compile_c("hello", '#include <stdio.h>\nint main(void){puts("hi");return 0;}\n')
    assert "__syscall_mount" not in imports(hello)
    assert "__syscall_mount" in imports(compile_c("syscall", SYSCALL_C))


ASYNC_SIGNALS_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t alarms, ticks, timer_hits, on_alt;
static int pipefd[2];

static void on_alarm(int sig) { alarms++; }
static void on_tick(int sig) { ticks++; }
static void on_timer(int sig, siginfo_t *si, void *uc) { timer_hits++; }
static void writes_pipe(int sig) { write(pipefd[1], "x", 1); }
static void check_alt(int sig)
{
    stack_t now;
    sigaltstack(0, &now);
    on_alt = now.ss_flags == SS_ONSTACK;
}

int main(void)
{
    /* alarm() interrupts a loop that makes no syscall */
    signal(SIGALRM, on_alarm);
    alarm(1);
    unsigned long spins = 0;
    while (!alarms) spins++;
    printf("alarm in a compute loop: %d\n", alarms);

    /* setitimer: periodic ticks, then disarmed */
    struct sigaction sa = {.sa_handler = on_tick};
    sigaction(SIGALRM, &sa, 0);
    struct itimerval it = {{0, 10000}, {0, 10000}}, old;
    setitimer(ITIMER_REAL, &it, 0);
    while (ticks < 5) spins++;
    memset(&it, 0, sizeof it);
    setitimer(ITIMER_REAL, &it, &old);
    printf("itimer ticks >= 5: %d, interval was %ld us\n", ticks >= 5, (long)old.it_interval.tv_usec);

    /* timer_create with SIGEV_SIGNAL and an SA_SIGINFO handler */
    struct sigaction si = {.sa_sigaction = on_timer, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &si, 0);
    struct sigevent ev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    timer_t t;
    printf("timer_create %d\n", timer_create(CLOCK_MONOTONIC, &ev, &t));
    struct itimerspec ts = {{0, 0}, {0, 20000000}}, cur;
    timer_settime(t, 0, &ts, 0);
    timer_gettime(t, &cur);
    printf("armed: %d\n", cur.it_value.tv_nsec > 0 || cur.it_value.tv_sec > 0);
    while (!timer_hits) spins++;
    printf("timer fired: %d, delete %d\n", timer_hits, timer_delete(t));

    /* a blocking read: EINTR without SA_RESTART, restarted with it */
    pipe(pipefd);
    char c;
    sa.sa_handler = writes_pipe;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, 0);
    struct itimerval once = {{0, 0}, {0, 20000}};
    setitimer(ITIMER_REAL, &once, 0);
    ssize_t r = read(pipefd[0], &c, 1);
    printf("read without SA_RESTART: %zd %s\n", r, strerror(errno));
    read(pipefd[0], &c, 1);
    sa.sa_flags = SA_RESTART;
    sigaction(SIGALRM, &sa, 0);
    setitimer(ITIMER_REAL, &once, 0);
    r = read(pipefd[0], &c, 1);
    printf("read with SA_RESTART: %zd %c\n", r, c);

    /* nanosleep is interrupted whatever the flags */
    setitimer(ITIMER_REAL, &once, 0);
    struct timespec req = {5, 0}, rem = {0, 0};
    int n = nanosleep(&req, &rem);
    printf("nanosleep: %d %s, rem > 4 s: %d\n", n, strerror(errno), rem.tv_sec >= 4);
    read(pipefd[0], &c, 1);

    /* sigaltstack: recorded, reported as SS_ONSTACK inside an SA_ONSTACK handler */
    static char alt[8192];
    stack_t ss = {.ss_sp = alt, .ss_size = sizeof alt};
    printf("sigaltstack %d\n", sigaltstack(&ss, 0));
    ss.ss_size = 100;
    printf("too small: %d %s\n", sigaltstack(&ss, 0), strerror(errno));
    sa.sa_handler = check_alt;
    sa.sa_flags = SA_ONSTACK;
    sigaction(SIGUSR2, &sa, 0);
    raise(SIGUSR2);
    printf("on the alternate stack: %d\n", on_alt);

    /* sigsuspend and sigtimedwait */
    sigset_t block, none;
    sigemptyset(&block);
    sigaddset(&block, SIGALRM);
    sigprocmask(SIG_BLOCK, &block, 0);
    sa.sa_handler = on_alarm;
    sa.sa_flags = 0;
    sigaction(SIGALRM, &sa, 0);
    alarms = 0;
    setitimer(ITIMER_REAL, &once, 0);
    sigemptyset(&none);
    int s = sigsuspend(&none);
    printf("sigsuspend: %d %s, handled %d\n", s, strerror(errno), alarms);
    setitimer(ITIMER_REAL, &once, 0);
    siginfo_t info;
    printf("sigtimedwait: %d (SIGALRM %d), handled %d\n", sigwaitinfo(&block, &info), SIGALRM, alarms);
    struct timespec short_wait = {0, 1000000};
    printf("timed out: %d %s\n", sigtimedwait(&block, &info, &short_wait), strerror(errno));
    return 0;
}
'''


def test_asynchronous_signals(compile_c, tmp_path):
    wasm = compile_c("async_signals", ASYNC_SIGNALS_C)
    status, out, err = run_program(wasm, tmp_path)
    assert (status, err) == (0, "")
    assert out == (
        "alarm in a compute loop: 1\n"
        "itimer ticks >= 5: 1, interval was 10000 us\n"
        "timer_create 0\narmed: 1\ntimer fired: 1, delete 0\n"
        "read without SA_RESTART: -1 Interrupted system call\n"
        "read with SA_RESTART: 1 x\n"
        "nanosleep: -1 Interrupted system call, rem > 4 s: 1\n"
        "sigaltstack 0\ntoo small: -1 Out of memory\non the alternate stack: 1\n"
        "sigsuspend: -1 Interrupted system call, handled 1\n"
        "sigtimedwait: 14 (SIGALRM 14), handled 1\n"
        "timed out: -1 Resource temporarily unavailable\n")


HOST_SIGNAL_C = r'''
#include <signal.h>
#include <stdio.h>

static volatile sig_atomic_t got;
static void on_signal(int sig) { got = sig; }

int main(void)
{
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    printf("ready\n");
    fflush(stdout);
    unsigned long spins = 0;
    while (!got) spins++;
    printf("handled %d\n", got);
    fflush(stdout);
    signal(SIGINT, SIG_DFL);
    got = 0;
    printf("ready\n");
    fflush(stdout);
    while (!got) spins++;
    return 0;
}
'''


def test_sigint_to_the_embedder_reaches_a_guest_handler(compile_c, tmp_path):
    """A handled SIGINT/SIGTERM runs the guest's handler in a compute loop; unhandled, it stops it (130)."""
    import signal
    import subprocess
    import sys

    from tests.conftest import CHECKOUT

    wasm = compile_c("host_signal", HOST_SIGNAL_C)
    child = subprocess.Popen([sys.executable, "-m", "muslforge.wasm", "--dir", str(tmp_path), str(wasm)],
                             cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGTERM)
        assert child.stdout.readline() == "handled 15\n"
        assert child.stdout.readline() == "ready\n"
        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=30) == 130
    finally:
        child.kill()
        child.wait()
