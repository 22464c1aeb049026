"""Issue 11, the rest: host programs under --allow-host-exec (and refused without it), signals across
the process tree and process groups, signal masks of ppoll/pselect/epoll_pwait, vfork, as real C
programs compiled against the wasm32 sysroot and run in child embedders."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys

import pytest

from tests.conftest import CHECKOUT
from tests.integration.test_wasm_embedder import compile_c, sysroot  # noqa: F401  (fixtures)

pytestmark = pytest.mark.slow


def _run(wasm, *args, options=(), root, timeout=60):
    """The program in an embedder process of its own (children need one), bounded in time and memory."""
    command = [sys.executable, "-m", "muslforge.wasm", "--dir", str(root), "--cwd", str(root),
               "--timeout", str(timeout), "--max-memory", "256M", *options, str(wasm), *args]
    done = subprocess.run(["prlimit", f"--as={16 << 30}", *command], cwd=CHECKOUT,
                          capture_output=True, text=True, timeout=timeout + 30)
    return done.returncode, done.stdout, done.stderr


HOST_EXEC_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static const char *spawn_error(const char *path)
{
    pid_t pid;
    char *argv[] = {(char *)path, 0};
    int e = posix_spawn(&pid, path, 0, 0, argv, environ);
    if (!e) { int st; waitpid(pid, &st, 0); return "ran"; }
    return strerror(e);
}

static int refused(void)
{
    /* without --allow-host-exec: nothing on the host runs */
    printf("host /bin/sh: %s\n", spawn_error("/bin/sh"));
    printf("host /bin/echo: %s\n", spawn_error("/bin/echo"));
    printf("ELF in the mounts: %s\n", spawn_error("./true"));
    printf("script in the mounts: %s\n", spawn_error("./touch.sh"));
    printf("garbage: %s\n", spawn_error("./garbage"));
    char *args[] = {"sh", "-c", "touch marker", 0};
    printf("execve /bin/sh: %d %s\n", execve("/bin/sh", args, environ), strerror(errno));
    printf("system: %d\n", system("touch marker"));
    printf("marker: %s\n", access("marker", F_OK) ? "absent" : "PRESENT");
    return 0;
}

static int allowed(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    /* outside the mounts stays outside, symlinks are read in the guest's namespace */
    printf("host /bin/echo unmounted: %s\n", spawn_error("/bin/echo"));
    printf("symlink out: %s\n", spawn_error("./evil"));
    /* popen/system through the host's /bin/sh, with the guest's environment */
    setenv("GREETING", "from the guest", 1);
    FILE *f = popen("echo \"$GREETING\"; pwd", "r");
    char line[256];
    while (fgets(line, sizeof line, f)) printf("popen: %s", line);
    printf("pclose: %d\n", WEXITSTATUS(pclose(f)));
    printf("system exit 3: %d\n", WEXITSTATUS(system("exit 3")));
    int st = system("kill -TERM $$");
    printf("system killed: %d %d\n", WIFSIGNALED(st), WTERMSIG(st));
    /* exactly the guest's fds, at the guest's numbers */
    printf("fds of a host shell:\n");
    system("ls /proc/$$/fd");
    int p[2];
    pipe2(p, O_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[1], 5);
    pid_t pid;
    char *argv[] = {"script.sh", "an arg", 0};
    int e = posix_spawn(&pid, "./script.sh", &fa, 0, argv, environ);
    close(p[1]);
    printf("spawn script: %s\n", strerror(e));
    char buf[256] = {0};
    for (int n, got = 0; (n = read(p[0], buf + got, sizeof buf - 1 - got)) > 0; got += n) ;
    waitpid(pid, &st, 0);
    printf("script on fd 5: %sscript exit: %d\n", buf, WEXITSTATUS(st));
    /* a host program killed by the guest */
    char *sleeper[] = {"sh", "-c", "exec sleep 30", 0};
    posix_spawn(&pid, "/bin/sh", 0, 0, sleeper, environ);
    printf("kill host child: %d\n", kill(pid, SIGKILL));
    waitpid(pid, &st, 0);
    printf("killed: %d %d\n", WIFSIGNALED(st), WTERMSIG(st));
    return 0;
}

int main(int argc, char **argv)
{
    if (!strcmp(argv[1], "refused")) return refused();
    if (!strcmp(argv[1], "allowed")) return allowed();
    char *args[] = {"sh", "-c", "echo replaced; exit 5", 0};
    execve("/bin/sh", args, environ);
    return 1;
}
'''


def _host_exec_world(root):
    shutil.copy("/bin/true", root / "true")
    (root / "touch.sh").write_text("#!/bin/sh\ntouch marker\n")
    (root / "script.sh").write_text('#!/bin/sh\necho "args: $0 $1" >&5\npwd >&5\nexit 4\n')
    (root / "garbage").write_bytes(b"\x01\x02\x03\x04 not a program")
    for name in ("touch.sh", "script.sh", "garbage"):
        os.chmod(root / name, 0o755)
    os.symlink("/bin/echo", root / "evil")


def test_host_programs_never_run_without_allow_host_exec(compile_c, tmp_path):
    _host_exec_world(tmp_path)
    status, out, err = _run(compile_c("hostexec", HOST_EXEC_C), "refused", root=tmp_path)
    assert (status, err) == (0, "")
    assert out == ("host /bin/sh: No such file or directory\nhost /bin/echo: No such file or directory\n"
                   "ELF in the mounts: Permission denied\nscript in the mounts: Permission denied\n"
                   "garbage: Exec format error\nexecve /bin/sh: -1 No such file or directory\n"
                   "system: -1\nmarker: absent\n")
    assert not (tmp_path / "marker").exists()


def test_allow_host_exec_runs_host_programs_with_the_guests_fds_env_and_cwd(compile_c, tmp_path):
    _host_exec_world(tmp_path)
    status, out, err = _run(compile_c("hostexec", HOST_EXEC_C), "allowed", options=["--allow-host-exec"],
                            root=tmp_path)
    assert (status, err) == (0, "")
    # a script is executed by its fd, so it sees itself as /proc/self/fd/N (as with Linux's fexecve)
    out = re.sub(r"/proc/self/fd/\d+ ", "/proc/self/fd/N ", out)
    assert out == (f"host /bin/echo unmounted: No such file or directory\n"
                   f"symlink out: No such file or directory\n"
                   f"popen: from the guest\npopen: {tmp_path}\npclose: 0\nsystem exit 3: 3\n"
                   f"system killed: 1 15\nfds of a host shell:\n0\n1\n2\n"
                   f"spawn script: No error information\nscript on fd 5: args: /proc/self/fd/N an arg\n{tmp_path}\n"
                   f"script exit: 4\nkill host child: 0\nkilled: 1 9\n")


def test_execve_of_a_host_program_replaces_the_guest(compile_c, tmp_path):
    status, out, err = _run(compile_c("hostexec", HOST_EXEC_C), "exec", options=["--allow-host-exec"],
                            root=tmp_path)
    assert (status, out, err) == (5, "replaced\n", "")


TREE_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;
static volatile sig_atomic_t usr1, usr2, queued_value, queued_code, last_code = 99;

static void on_usr1(int sig, siginfo_t *si, void *uc)
{
    usr1++;
    last_code = si->si_code;
    if (si->si_code == SI_QUEUE) { queued_value = si->si_value.sival_int; queued_code = 1; }
}
static void on_usr2(int sig) { usr2++; }

static void handlers(void)
{
    struct sigaction a = {.sa_sigaction = on_usr1, .sa_flags = SA_SIGINFO};
    sigaction(SIGUSR1, &a, 0);
    signal(SIGUSR2, on_usr2);
}

/* wait for a signal without a syscall loop: sigsuspend until the flag is set */
static void await(volatile sig_atomic_t *flag)
{
    sigset_t none;
    sigemptyset(&none);
    while (!*flag) sigsuspend(&none);
}

static pid_t spawn(const char *mode, int out_fd, int setpgroup)
{
    pid_t pid;
    char *argv[] = {"tree.wasm", (char *)mode, 0};
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    if (out_fd >= 0) posix_spawn_file_actions_adddup2(&fa, out_fd, 1);
    posix_spawnattr_t at;
    posix_spawnattr_init(&at);
    if (setpgroup) { posix_spawnattr_setflags(&at, POSIX_SPAWN_SETPGROUP); posix_spawnattr_setpgroup(&at, 0); }
    int e = posix_spawn(&pid, "./tree.wasm", &fa, &at, argv, environ);
    if (e) { printf("spawn %s: %s\n", mode, strerror(e)); exit(1); }
    return pid;
}

static void ready_line(int fd)
{
    char c;
    while (read(fd, &c, 1) == 1 && c != '\n') ;
}

static int wait_status(pid_t pid)
{
    int st;
    if (waitpid(pid, &st, 0) != pid) return -1;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

static int child(const char *mode)
{
    handlers();
    if (!strcmp(mode, "to-parent")) {
        printf("child: pid is mine %d, ppid %d, pgid %d, sid %d\n", getpid() > 1, getppid(), getpgid(0),
               getsid(0));
        return kill(getppid(), SIGUSR2) ? 1 : 0;
    }
    if (!strcmp(mode, "wait-usr1")) {
        printf("ready\n");
        fflush(stdout);
        await(&usr1);
        return last_code == SI_USER ? 33 : 32;     /* sent by another process */
    }
    if (!strcmp(mode, "leader")) {          /* its own group, with a grandchild in it */
        int p[2];
        pipe(p);
        pid_t gc = spawn("wait-usr1", p[1], 0);
        close(p[1]);
        ready_line(p[0]);
        printf("leader: pgid is pid %d, grandchild's %d\n", getpgid(0) == getpid(), getpgid(gc) == getpid());
        printf("ready\n");
        fflush(stdout);
        await(&usr1);
        return wait_status(gc) + 1;
    }
    if (!strncmp(mode, "exec-", 5)) {       /* the same process, another program */
        char *args[] = {"tree.wasm", (char *)mode + 5, 0};
        execve("./tree.wasm", args, environ);
        return 98;
    }
    if (!strcmp(mode, "session")) {
        pid_t sid = setsid();
        printf("session: setsid %d, getsid %d, setsid again %d %s\n", sid == getpid(), getsid(0) == getpid(),
               setsid(), strerror(errno));
        return 0;
    }
    return 99;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "root")) return child(argv[1]);
    setvbuf(stdout, 0, _IONBF, 0);
    handlers();
    printf("root: pid %d ppid %d pgid %d sid %d, setsid %d %s, setpgid %d\n", getpid(), getppid(),
           getpgid(0), getsid(0), setsid(), strerror(errno), setpgid(0, 0));

    /* sigqueue to itself: the value reaches the SA_SIGINFO handler */
    sigqueue(getpid(), SIGUSR1, (union sigval){.sival_int = 42});
    printf("sigqueue: %d handled, SI_QUEUE %d, value %d\n", usr1, queued_code, queued_value);

    /* child -> parent */
    pid_t pid = spawn("to-parent", -1, 0);
    await(&usr2);
    printf("child signalled its parent: %d, child exit %d\n", usr2, wait_status(pid));

    /* parent -> child, a handler in a child blocked in sigsuspend */
    int p[2];
    pipe(p);
    pid = spawn("wait-usr1", p[1], 0);
    ready_line(p[0]);
    printf("kill child: %d, exit %d\n", kill(pid, SIGUSR1), wait_status(pid));

    /* after execve the pid, the parent and signals to it are the same */
    usr2 = 0;
    pid = spawn("exec-to-parent", -1, 0);
    await(&usr2);
    printf("exec'd child signalled its parent: %d, exit %d\n", usr2, wait_status(pid));
    pid = spawn("exec-wait-usr1", p[1], 0);
    ready_line(p[0]);
    printf("kill exec'd child: %d, exit %d\n", kill(pid, SIGUSR1), wait_status(pid));

    /* kill(0): the caller's group (1) holds the caller and its child */
    usr1 = 0;
    pid = spawn("wait-usr1", p[1], 0);
    ready_line(p[0]);
    printf("kill(0): %d, child exit %d, root got it %d\n", kill(0, SIGUSR1), wait_status(pid), usr1);

    /* kill(-pgid) to a group the child made: its grandchild is in it too */
    pid = spawn("leader", p[1], 1);
    char line[128] = {0};
    for (int i = 0; i < (int)sizeof line - 1 && read(p[0], line + i, 1) == 1 && line[i] != '\n'; i++) ;
    printf("%s", line);
    ready_line(p[0]);
    printf("getpgid(child) %d, kill(-pgid): %d, leader exit %d\n", getpgid(pid) == pid, kill(-pid, SIGUSR1),
           wait_status(pid));

    pid = spawn("session", -1, 0);
    printf("session child exit %d\n", wait_status(pid));

    /* nothing outside the tree: the test runner's pid and group, a made-up pid */
    pid_t runner = atoi(argv[2]), runner_group = atoi(argv[3]);
    printf("kill runner: %d %s\n", kill(runner, SIGTERM), strerror(errno));
    errno = 0;
    printf("kill runner's group: %d %s\n", kill(-runner_group, SIGTERM), strerror(errno));
    errno = 0;
    printf("getpgid runner: %d %s\n", getpgid(runner), strerror(errno));
    errno = 0;
    printf("setpgid into the runner's group: %d %s\n", setpgid(0, runner_group), strerror(errno));
    usr2 = 0;
    printf("kill(-1): %d, root untouched %d\n", kill(-1, SIGUSR2), usr2 == 0);
    return 0;
}
'''


def test_signals_across_the_process_tree_and_groups(compile_c, tmp_path):
    shutil.copy(compile_c("tree", TREE_C), tmp_path / "tree.wasm")
    os.chmod(tmp_path / "tree.wasm", 0o755)
    status, out, err = _run(tmp_path / "tree.wasm", "root", str(os.getpid()), str(os.getpgid(0)), root=tmp_path)
    assert (status, err) == (0, "")
    assert out == (
        "root: pid 1 ppid 0 pgid 1 sid 1, setsid -1 Operation not permitted, setpgid 0\n"
        "sigqueue: 1 handled, SI_QUEUE 1, value 42\n"
        "child: pid is mine 1, ppid 1, pgid 1, sid 1\n"
        "child signalled its parent: 1, child exit 0\n"
        "kill child: 0, exit 33\n"
        "child: pid is mine 1, ppid 1, pgid 1, sid 1\n"
        "exec'd child signalled its parent: 1, exit 0\n"
        "kill exec'd child: 0, exit 33\n"
        "kill(0): 0, child exit 33, root got it 1\n"
        "leader: pgid is pid 1, grandchild's 1\n"
        "getpgid(child) 1, kill(-pgid): 0, leader exit 34\n"
        "session: setsid 1, getsid 1, setsid again -1 Operation not permitted\n"
        "session child exit 0\n"
        "kill runner: -1 No such process\nkill runner's group: -1 No such process\n"
        "getpgid runner: -1 No such process\n"
        "setpgid into the runner's group: -1 Operation not permitted\n"
        "kill(-1): 0, root untouched 1\n")


WAIT_MASKS_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

static volatile sig_atomic_t hits;
static void on_usr1(int sig) { hits++; }
static int pipefd[2], ep;
static timer_t timer;

static void arm(long ms)
{
    struct itimerspec ts = {{0, 0}, {0, ms * 1000000}};
    timer_settime(timer, 0, &ts, 0);
}

static long now_ms(void)
{
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1000 + t.tv_nsec / 1000000;
}

/* one wait of 300 ms on a pipe nobody writes, with `mask` in force */
static int wait_with(const char *how, const sigset_t *mask)
{
    struct timespec ts = {0, 300000000};
    if (!strcmp(how, "ppoll")) {
        struct pollfd p = {.fd = pipefd[0], .events = POLLIN};
        return ppoll(&p, 1, &ts, mask);
    }
    if (!strcmp(how, "pselect")) {
        fd_set r;
        FD_ZERO(&r);
        FD_SET(pipefd[0], &r);
        return pselect(pipefd[0] + 1, &r, 0, 0, &ts, mask);
    }
    struct epoll_event ev;
    return epoll_pwait(ep, &ev, 1, 300, mask);
}

static void check(const char *how)
{
    sigset_t usr1, none, now;
    sigemptyset(&usr1);
    sigaddset(&usr1, SIGUSR1);
    sigemptyset(&none);

    /* blocked outside, let through by the call's mask: EINTR, the handler runs, the mask is back */
    sigprocmask(SIG_SETMASK, &usr1, 0);
    hits = 0;
    arm(50);
    errno = 0;
    int r = wait_with(how, &none);
    int e = errno;
    sigprocmask(SIG_SETMASK, 0, &now);
    printf("%s unblocked by its mask: %d %s, handled %d, still blocked after %d\n", how, r, strerror(e), hits,
           sigismember(&now, SIGUSR1));

    /* let through outside, blocked by the call's mask: the wait runs out, the handler runs after */
    sigprocmask(SIG_SETMASK, &none, 0);
    hits = 0;
    arm(50);
    long t0 = now_ms();
    r = wait_with(how, &usr1);
    long waited = now_ms() - t0;
    printf("%s blocked by its mask: %d after >= 250 ms %d, handled after the call %d\n", how, r, waited >= 250,
           hits);
}

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGUSR1, on_usr1);
    struct sigevent sev = {.sigev_notify = SIGEV_SIGNAL, .sigev_signo = SIGUSR1};
    timer_create(CLOCK_MONOTONIC, &sev, &timer);
    pipe(pipefd);
    ep = epoll_create1(0);
    struct epoll_event ev = {.events = EPOLLIN};
    epoll_ctl(ep, EPOLL_CTL_ADD, pipefd[0], &ev);
    check("ppoll");
    check("pselect");
    check("epoll_pwait");
    return 0;
}
'''


def test_wait_masks_of_ppoll_pselect_and_epoll_pwait(compile_c, tmp_path):
    status, out, err = _run(compile_c("masks", WAIT_MASKS_C), root=tmp_path)
    assert (status, err) == (0, "")
    assert out == "".join(
        f"{how} unblocked by its mask: -1 Interrupted system call, handled 1, still blocked after 1\n"
        f"{how} blocked by its mask: 0 after >= 250 ms 1, handled after the call 1\n"
        for how in ("ppoll", "pselect", "epoll_pwait"))


VFORK_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static int status_of(pid_t pid)
{
    int st;
    return waitpid(pid, &st, 0) == pid && WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

int main(int argc, char **argv)
{
    pid_t pid;
    if (argc > 1 && !strcmp(argv[1], "exit-in-child")) {
        if ((pid = vfork()) == 0)
            exit(3);                    /* not _exit: the parent cannot resume */
        printf("resumed\n");
        return 0;
    }
    if (argc > 1) {
        printf("child %s: fd 5 %s\n", argv[1], fcntl(5, F_GETFD) < 0 ? "closed" : "open");
        return atoi(argv[1]);
    }
    setvbuf(stdout, 0, _IONBF, 0);
    /* the common pattern */
    if ((pid = vfork()) == 0) {
        char *args[] = {"vfork.wasm", "7", 0};
        execve("./vfork.wasm", args, environ);
        _exit(127);
    }
    printf("vfork+execve: pid > 1 %d, exit %d\n", pid > 1, status_of(pid));
    /* _exit without an exec */
    if ((pid = vfork()) == 0)
        _exit(42);
    printf("vfork+_exit: %d\n", status_of(pid));
    /* an exec that fails returns to the child */
    if ((pid = vfork()) == 0) {
        char *args[] = {"missing", 0};
        execv("./missing.wasm", args);
        _exit(errno == ENOENT ? 126 : 1);
    }
    printf("failed exec: %d\n", status_of(pid));
    /* the child's fd table is its own */
    int fd = open("f", O_CREAT | O_RDWR, 0644);
    dup2(fd, 5);
    if ((pid = vfork()) == 0) {
        close(5);
        char *args[] = {"vfork.wasm", "3", 0};
        execv("./vfork.wasm", args);
        _exit(127);
    }
    printf("fd 5 closed in the child: exit %d, still open in the parent %d\n", status_of(pid),
           fcntl(5, F_GETFD) >= 0);
    /* memory is shared, as on Linux */
    volatile int written = 0;
    if ((pid = vfork()) == 0) {
        written = 5;
        _exit(0);
    }
    printf("written by the child: %d (exit %d)\n", written, status_of(pid));
    /* no vfork inside the child; none through a pointer */
    if ((pid = vfork()) == 0) {
        pid_t inner = vfork();
        _exit(inner == -1 && errno == EAGAIN ? 9 : 1);
    }
    printf("vfork in the child: %d\n", status_of(pid));
    pid_t (*through)(void) = vfork;
    errno = 0;
    printf("through a pointer: %d %s\n", through(), strerror(errno));
    return 0;
}
'''


def test_vfork_then_execve_or_exit(compile_c, tmp_path):
    shutil.copy(compile_c("vfork", VFORK_C), tmp_path / "vfork.wasm")
    os.chmod(tmp_path / "vfork.wasm", 0o755)
    status, out, err = _run(tmp_path / "vfork.wasm", root=tmp_path)
    assert (status, err) == (0, "")
    assert out == ("child 7: fd 5 closed\nvfork+execve: pid > 1 1, exit 7\nvfork+_exit: 42\nfailed exec: 126\n"
                   "child 3: fd 5 closed\nfd 5 closed in the child: exit 3, still open in the parent 1\n"
                   "written by the child: 5 (exit 0)\nvfork in the child: 9\n"
                   "through a pointer: -1 Function not implemented\n")
    status, out, err = _run(tmp_path / "vfork.wasm", "exit-in-child", root=tmp_path)
    assert (status, out) == (134, "")
    assert "a vfork() child ended with exit(): only _exit or an exec can end it" in err


RUNAWAY_C = r'''
#include <spawn.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc > 2) {                          /* the child: its own session, out of every group signal */
        setsid();
        for (;;) ;
    }
    pid_t pid;
    char *args[] = {"runaway.wasm", argv[1], "child", 0};
    posix_spawn(&pid, "./runaway.wasm", 0, 0, args, environ);
    for (;;) ;
}
'''


def test_timeout_bounds_children_that_left_every_group(compile_c, tmp_path):
    """A hostile guest's child in a session of its own still ends with the --timeout of the first."""
    import time

    shutil.copy(compile_c("runaway", RUNAWAY_C), tmp_path / "runaway.wasm")
    os.chmod(tmp_path / "runaway.wasm", 0o755)
    marker = f"runaway-{os.getpid()}-{time.monotonic_ns()}"
    start = time.monotonic()
    status, out, err = _run(tmp_path / "runaway.wasm", marker, root=tmp_path, timeout=4)
    assert status == 124 and time.monotonic() - start < 30, err
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and _running(marker):
        time.sleep(0.2)
    assert not _running(marker)


def _running(marker: str) -> list[int]:
    """Host processes whose command line names `marker`."""
    found = []
    for entry in os.listdir("/proc"):
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as cmdline:
                if marker.encode() in cmdline.read():
                    found.append(int(entry))
        except (OSError, ValueError):
            continue
    return found
