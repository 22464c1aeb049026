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


NET_C = r'''
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/select.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static struct sockaddr_in loopback(int port)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    return a;
}

static int serve(void)        /* TCP echo server: one client, then exit */
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1;
    setsockopt(s, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = loopback(0);
    if (bind(s, (void *)&a, sizeof a) || listen(s, 4)) { perror("bind/listen"); return 1; }
    socklen_t len = sizeof a;
    getsockname(s, (void *)&a, &len);
    printf("port %d\n", ntohs(a.sin_port));
    fflush(stdout);
    struct sockaddr_in peer;
    len = sizeof peer;
    int c = accept(s, (void *)&peer, &len);
    char buf[64];
    ssize_t n;
    while ((n = recv(c, buf, sizeof buf, 0)) > 0) send(c, buf, n, 0);
    printf("peer %s\n", inet_ntoa(peer.sin_addr));
    close(c);
    return 0;
}

static int client(int port, const char *text)
{
    int s = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(port);
    if (connect(s, (void *)&a, sizeof a)) { printf("connect: %s\n", strerror(errno)); return 1; }
    send(s, text, strlen(text), 0);
    shutdown(s, SHUT_WR);
    char buf[64] = {0};
    size_t got = 0;
    ssize_t n;
    while ((n = read(s, buf + got, sizeof buf - 1 - got)) > 0) got += n;
    printf("echo: %s\n", buf);
    return 0;
}

static int udp(void)
{
    int a = socket(AF_INET, SOCK_DGRAM, 0), b = socket(AF_INET, SOCK_DGRAM, 0);
    struct sockaddr_in sa = loopback(0), sb = loopback(0);
    socklen_t len = sizeof sa;
    bind(a, (void *)&sa, sizeof sa);
    bind(b, (void *)&sb, sizeof sb);
    getsockname(a, (void *)&sa, &len);
    len = sizeof sb;
    getsockname(b, (void *)&sb, &len);
    sendto(a, "ping", 4, 0, (void *)&sb, sizeof sb);
    char buf[16] = {0};
    struct sockaddr_in from;
    len = sizeof from;
    ssize_t n = recvfrom(b, buf, sizeof buf, 0, (void *)&from, &len);
    printf("udp %zd %s from a: %d\n", n, buf, from.sin_port == sa.sin_port);
    struct iovec iov = {.iov_base = "pong", .iov_len = 4};
    struct msghdr msg = {.msg_name = &from, .msg_namelen = len, .msg_iov = &iov, .msg_iovlen = 1};
    sendmsg(b, &msg, 0);
    char back[16] = {0};
    struct iovec riov = {.iov_base = back, .iov_len = sizeof back};
    struct msghdr rmsg = {.msg_iov = &riov, .msg_iovlen = 1};
    printf("recvmsg %zd %s\n", recvmsg(a, &rmsg, 0), back);
    struct iovec two[2] = {{"one", 3}, {"two", 3}};
    struct mmsghdr out[2] = {{.msg_hdr = {.msg_name = &sb, .msg_namelen = sizeof sb, .msg_iov = &two[0],
                                          .msg_iovlen = 1}},
                             {.msg_hdr = {.msg_name = &sb, .msg_namelen = sizeof sb, .msg_iov = &two[1],
                                          .msg_iovlen = 1}}};
    printf("sendmmsg %d\n", sendmmsg(a, out, 2, 0));
    char r1[8] = {0}, r2[8] = {0};
    struct iovec rv[2] = {{r1, sizeof r1}, {r2, sizeof r2}};
    struct mmsghdr in[2] = {{.msg_hdr = {.msg_iov = &rv[0], .msg_iovlen = 1}},
                            {.msg_hdr = {.msg_iov = &rv[1], .msg_iovlen = 1}}};
    int got = recvmmsg(b, in, 2, MSG_WAITFORONE, 0);
    if (got == 1) got += recvmmsg(b, in + 1, 1, 0, 0);
    printf("recvmmsg %d %s %s %u\n", got, r1, r2, in[1].msg_len);
    return 0;
}

static int local(void)       /* AF_UNIX: a pair, a named socket, and poll/select/epoll across kinds */
{
    int sv[2];
    socketpair(AF_UNIX, SOCK_STREAM, 0, sv);
    write(sv[0], "pair", 4);
    char buf[16] = {0};
    read(sv[1], buf, sizeof buf);
    printf("socketpair: %s\n", buf);

    int srv = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un un = {.sun_family = AF_UNIX, .sun_path = "sock"};
    if (bind(srv, (void *)&un, sizeof un) || listen(srv, 1)) { perror("unix bind"); return 1; }
    int cl = socket(AF_UNIX, SOCK_STREAM, 0);
    printf("connect named: %d\n", connect(cl, (void *)&un, sizeof un));
    int conn = accept(srv, 0, 0);
    struct sockaddr_un got = {0};
    socklen_t len = sizeof got;
    getsockname(srv, (void *)&got, &len);
    printf("bound as %s\n", got.sun_path);
    len = sizeof got;
    memset(&got, 0, sizeof got);
    getpeername(cl, (void *)&got, &len);
    printf("peer %s\n", got.sun_path);

    int p[2];
    pipe(p);
    int file = open("plain", O_RDWR | O_CREAT, 0600);
    write(p[1], "x", 1);
    write(cl, "y", 1);
    struct pollfd fds[3] = {{conn, POLLIN}, {p[0], POLLIN}, {file, POLLIN}};
    printf("poll: %d\n", poll(fds, 3, 1000));
    fd_set rd;
    FD_ZERO(&rd);
    FD_SET(conn, &rd);
    FD_SET(p[0], &rd);
    FD_SET(sv[1], &rd);
    struct timeval tv = {1, 0};
    int n = select(conn > p[0] ? conn + 1 : p[0] + 1 > sv[1] ? p[0] + 1 : sv[1] + 1, &rd, 0, 0, &tv);
    printf("select: %d conn %d pipe %d pair %d\n", n, FD_ISSET(conn, &rd), FD_ISSET(p[0], &rd),
           FD_ISSET(sv[1], &rd));
    int ep = epoll_create1(EPOLL_CLOEXEC);
    struct epoll_event ev = {.events = EPOLLIN, .data.u64 = 0x1122334455667788ULL};
    epoll_ctl(ep, EPOLL_CTL_ADD, conn, &ev);
    ev.data.u64 = 7;
    epoll_ctl(ep, EPOLL_CTL_ADD, p[0], &ev);
    ev.data.u64 = 9;
    printf("epoll regular file: %d %s\n", epoll_ctl(ep, EPOLL_CTL_ADD, file, &ev), strerror(errno));
    struct epoll_event out[4];
    n = epoll_wait(ep, out, 4, 1000);
    unsigned long long sum = 0;
    for (int i = 0; i < n; i++) sum += out[i].data.u64;
    printf("epoll: %d %llx\n", n, sum);
    read(p[0], buf, 1);
    read(conn, buf, 1);
    printf("epoll drained: %d\n", epoll_wait(ep, out, 4, 10));

    /* the policy: no network unless allowed, no abstract names, nothing outside the mounts */
    int t = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = loopback(9);
    printf("connect refused: %d %s\n", connect(t, (void *)&a, sizeof a), strerror(errno));
    printf("bind refused: %d %s\n", bind(t, (void *)&a, sizeof a), strerror(errno));
    int ab = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un abstract = {.sun_family = AF_UNIX};
    memcpy(abstract.sun_path, "\0hidden", 7);
    printf("abstract: %d %s\n", bind(ab, (void *)&abstract, sizeof abstract.sun_family + 7), strerror(errno));
    struct sockaddr_un outside = {.sun_family = AF_UNIX, .sun_path = "/run/systemd/notify"};
    printf("outside: %d %s\n", connect(ab, (void *)&outside, sizeof outside), strerror(errno));
    struct addrinfo *res;
    int r = getaddrinfo("sandbox-host", "80", 0, &res);
    printf("getaddrinfo from /etc/hosts: %d %s\n", r,
           r ? "-" : inet_ntoa(((struct sockaddr_in *)res->ai_addr)->sin_addr));
    return 0;
}

int main(int argc, char **argv)
{
    if (!strcmp(argv[1], "serve")) return serve();
    if (!strcmp(argv[1], "client")) return client(atoi(argv[2]), argv[3]);
    if (!strcmp(argv[1], "udp")) return udp();
    return local();
}
'''


def _embedder(wasm, *args, policy=(), root):
    import subprocess
    import sys

    from tests.conftest import CHECKOUT
    return subprocess.Popen([sys.executable, "-m", "muslforge.wasm", "--dir", str(root), *policy, str(wasm),
                             *args], cwd=CHECKOUT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def test_tcp_echo_server_and_client_both_in_wasm(compile_c, tmp_path):
    wasm = compile_c("net", NET_C)
    server = _embedder(wasm, "serve", policy=["--allow-listen", "127.0.0.1:*"], root=tmp_path)
    try:
        line = server.stdout.readline()
        assert line.startswith("port "), server.stderr.read()
        port = line.split()[1]
        client = _embedder(wasm, "client", port, "hello wasm", policy=["--allow-net", f"127.0.0.1:{port}"],
                           root=tmp_path)
        out, err = client.communicate(timeout=60)
        assert (client.returncode, out, err) == (0, "echo: hello wasm\n", "")
        assert server.wait(timeout=30) == 0
        assert server.stdout.read() == "peer 127.0.0.1\n"
    finally:
        server.kill()
        server.wait()


def test_wasm_client_of_a_python_server(compile_c, tmp_path):
    import socket
    import threading

    wasm = compile_c("net", NET_C)
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]

    def echo_upper():
        conn, _ = listener.accept()
        with conn:
            data = b""
            while chunk := conn.recv(64):
                data += chunk
            conn.sendall(data.upper())
    server = threading.Thread(target=echo_upper, daemon=True)
    server.start()
    from muslforge.wasm.sockets import NetPolicy
    import io
    from muslforge.wasm import run
    out, err = io.BytesIO(), io.BytesIO()
    status = run(wasm, ["net", "client", str(port), "from wasm"], root=tmp_path, env={},
                 stdout=out, stderr=err, net=NetPolicy.parse([f"127.0.0.1:{port}"]))
    listener.close()
    assert (status, out.getvalue(), err.getvalue()) == (0, b"echo: FROM WASM\n", b"")
    # without the policy the same connect is refused
    out = io.BytesIO()
    assert run(wasm, ["net", "client", str(port), "x"], root=tmp_path, env={}, stdout=out) == 1
    assert out.getvalue() == b"connect: Permission denied\n"


def test_udp_round_trip(compile_c, tmp_path):
    import io

    from muslforge.wasm import run
    from muslforge.wasm.sockets import NetPolicy
    wasm = compile_c("net", NET_C)
    out, err = io.BytesIO(), io.BytesIO()
    status = run(wasm, ["net", "udp"], root=tmp_path, env={}, stdout=out, stderr=err,
                 net=NetPolicy.parse(["127.0.0.1:*"], ["127.0.0.1:0"]))
    assert (status, err.getvalue()) == (0, b"")
    assert out.getvalue() == b"udp 4 ping from a: 1\nrecvmsg 4 pong\nsendmmsg 2\nrecvmmsg 2 one two 3\n"


def test_unix_sockets_polling_and_the_policy(compile_c, tmp_path):
    import io

    from muslforge.wasm import run
    from muslforge.wasm.mounts import MountSpec
    wasm = compile_c("net", NET_C)
    etc = tmp_path / "etc"
    etc.mkdir()
    (etc / "hosts").write_text("127.0.0.7 sandbox-host\n")
    work = tmp_path / "work"
    work.mkdir()
    out, err = io.BytesIO(), io.BytesIO()
    status = run(wasm, ["net", "local"], env={}, stdout=out, stderr=err,
                 mounts=[MountSpec.parse(f"{work}::/work"), MountSpec.parse(f"{etc}::/etc", read_only=True)])
    assert (status, err.getvalue().decode()) == (0, "")
    assert out.getvalue().decode() == (
        "socketpair: pair\nconnect named: 0\nbound as sock\npeer sock\n"
        "poll: 3\nselect: 2 conn 1 pipe 1 pair 0\n"
        "epoll regular file: -1 Operation not permitted\nepoll: 2 112233445566778f\nepoll drained: 0\n"
        "connect refused: -1 Permission denied\nbind refused: -1 Permission denied\n"
        "abstract: -1 Permission denied\noutside: -1 No such file or directory\n"
        "getaddrinfo from /etc/hosts: 0 127.0.0.7\n")
    assert (work / "sock").exists()


SYSTEM_C = r'''
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <stdio.h>
#include <string.h>
#include <sys/ipc.h>
#include <sys/mman.h>
#include <sys/resource.h>
#include <sys/shm.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysinfo.h>
#include <sys/times.h>
#include <sys/uio.h>
#include <unistd.h>

int main(void)
{
    struct statvfs vfs, root;
    int fd = open("big", O_RDWR | O_CREAT | O_TRUNC, 0600);
    printf("statvfs: %d %d, fstatvfs %d, / %d ro %d\n", statvfs(".", &vfs), vfs.f_bsize > 0,
           fstatvfs(fd, &vfs), statvfs("/", &root), !!(root.f_flag & ST_RDONLY));

    /* 64-bit offsets beyond 4 GiB on a sparse file */
    off_t five = 5LL << 30;
    printf("lseek: %d\n", lseek(fd, five, SEEK_SET) == five);
    write(fd, "far", 3);
    char buf[8] = {0};
    printf("pread at 5 GiB: %zd %s\n", pread(fd, buf, 3, five), buf);
    pwrite(fd, "FAR", 3, five + 1);
    pread(fd, buf, 4, five);
    printf("pwrite: %s, size ok %d\n", buf, lseek(fd, 0, SEEK_END) == five + 4);

    struct sysinfo si;
    printf("sysinfo: %d units %d total>0 %d procs %d\n", sysinfo(&si), si.mem_unit > 0, si.totalram > 0,
           si.procs);
    struct tms t;
    printf("times: %d\n", times(&t) != (clock_t)-1);
    struct rusage ru;
    printf("getrusage: %d\n", getrusage(RUSAGE_SELF, &ru));

    uid_t r, e, s;
    getresuid(&r, &e, &s);
    printf("ids: %d %d, to another uid: %d %s\n", r == getuid(), setuid(getuid()), setuid(getuid() + 1),
           strerror(errno));
    printf("nice: %d, lower: %d %s\n", nice(5), setpriority(PRIO_PROCESS, 0, 0), strerror(errno));
    struct sched_param sp = {.sched_priority = 10};
    /* musl's sched_setscheduler is a stub (ENOSYS everywhere): ask the embedder by number */
    printf("sched: %ld fifo %ld %s max %d\n", syscall(SYS_sched_getscheduler, 0),
           syscall(SYS_sched_setscheduler, 0, SCHED_FIFO, &sp), strerror(errno),
           sched_get_priority_max(SCHED_FIFO));
    printf("setsid: %d %s, setpgid %d\n", setsid(), strerror(errno), setpgid(0, 0));

    int mfd = memfd_create("scratch", MFD_CLOEXEC);
    write(mfd, "memfd", 5);
    memset(buf, 0, sizeof buf);
    struct iovec iov = {buf, 5};
    printf("memfd + preadv2: %zd %s\n", preadv2(mfd, &iov, 1, 0, 0), buf);
    printf("mlockall: %d\n", mlockall(MCL_CURRENT));
    printf("shmget: %d %s\n", shmget(IPC_PRIVATE, 4096, 0600), strerror(errno));
    return 0;
}
'''


def test_statfs_large_offsets_and_the_rest(compile_c, tmp_path):
    wasm = compile_c("system", SYSTEM_C)
    status, out, err = run_program(wasm, tmp_path)
    assert (status, err) == (0, "")
    assert out == (
        "statvfs: 0 1, fstatvfs 0, / 0 ro 1\nlseek: 1\npread at 5 GiB: 3 far\npwrite: fFAR, size ok 1\n"
        "sysinfo: 0 units 1 total>0 1 procs 1\ntimes: 1\ngetrusage: 0\n"
        "ids: 1 0, to another uid: -1 Operation not permitted\n"
        "nice: 5, lower: -1 Permission denied\n"
        "sched: 0 fifo -1 Operation not permitted max 99\n"
        "setsid: -1 Operation not permitted, setpgid 0\n"
        "memfd + preadv2: 5 memfd\nmlockall: 0\n"
        "shmget: -1 Function not implemented\n")


SPAWN_C = r'''
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
static volatile sig_atomic_t chld;
static void on_chld(int sig) { chld++; }

static pid_t spawn(const char *mode, posix_spawn_file_actions_t *fa)
{
    pid_t pid;
    char *argv[] = {"spawn.wasm", (char *)mode, 0};
    int e = posix_spawn(&pid, "./spawn.wasm", fa, 0, argv, environ);
    if (e) { printf("posix_spawn %s: %s\n", mode, strerror(e)); return -1; }
    return pid;
}

static int child(const char *mode)
{
    if (!strcmp(mode, "exit7")) {
        printf("child: ppid %d, SPAWN_TEST=%s\n", getppid(), getenv("SPAWN_TEST"));
        return 7;
    }
    if (!strcmp(mode, "usr1")) raise(SIGUSR1);
    if (!strcmp(mode, "sleep")) { printf("sleeping\n"); fflush(stdout); sleep(30); return 0; }
    if (!strcmp(mode, "cat")) {
        char buf[64];
        ssize_t n = read(0, buf, sizeof buf);
        printf("child read %zd: %.*s\n", n, (int)n, buf);
        return 0;
    }
    return 99;
}

int main(int argc, char **argv)
{
    if (argc > 1 && strcmp(argv[1], "parent") && strcmp(argv[1], "exec")) return child(argv[1]);
    if (argc > 1 && !strcmp(argv[1], "exec")) {
        char *args[] = {"spawn.wasm", "exit7", 0};
        execve("./spawn.wasm", args, environ);
        return 1;
    }
    setvbuf(stdout, 0, _IONBF, 0);
    signal(SIGCHLD, on_chld);
    setenv("SPAWN_TEST", "inherited", 1);
    int status;
    pid_t pid = spawn("exit7", 0);
    printf("waitpid: %d exited %d status %d\n", waitpid(pid, &status, 0) == pid, WIFEXITED(status),
           WEXITSTATUS(status));
    printf("SIGCHLD: %d\n", chld > 0);

    pid = spawn("usr1", 0);
    waitpid(pid, &status, 0);
    printf("signal death: %d %d\n", WIFSIGNALED(status), WTERMSIG(status));

    /* file actions: the child's stdin from a pipe the parent writes */
    int p[2];
    pipe2(p, O_CLOEXEC);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, p[0], 0);
    pid = spawn("cat", &fa);
    close(p[0]);
    write(p[1], "via pipe", 8);
    close(p[1]);
    waitpid(pid, &status, 0);
    printf("cat: exited %d\n", WEXITSTATUS(status));

    /* kill between guests */
    int out[2];
    pipe2(out, O_CLOEXEC);
    posix_spawn_file_actions_t fo;
    posix_spawn_file_actions_init(&fo);
    posix_spawn_file_actions_adddup2(&fo, out[1], 1);
    pid = spawn("sleep", &fo);
    close(out[1]);
    char line[32] = {0};
    read(out[0], line, sizeof line - 1);
    printf("child says %s", line);
    printf("kill: %d\n", kill(pid, SIGTERM));
    waitpid(pid, &status, 0);
    printf("killed: %d %d\n", WIFSIGNALED(status), WTERMSIG(status));
    printf("no more children: %d %s\n", waitpid(-1, &status, WNOHANG), strerror(errno));

    /* what cannot be executed */
    char *args[] = {"x", 0};
    int fd = open("notwasm", O_WRONLY | O_CREAT, 0755);
    write(fd, "#!/bin/sh\n", 10);
    close(fd);
    printf("not wasm: %s\n", strerror(posix_spawn(&pid, "./notwasm", 0, 0, args, environ)));
    printf("missing: %s\n", strerror(posix_spawn(&pid, "./missing.wasm", 0, 0, args, environ)));
    printf("host /bin/sh: %s\n", strerror(posix_spawn(&pid, "/bin/sh", 0, 0, args, environ)));
    printf("fork: %d %s\n", fork(), strerror(errno));
    return 0;
}
'''


def test_processes_spawn_wait_kill(compile_c, tmp_path):
    import shutil

    wasm = compile_c("spawn", SPAWN_C)
    shutil.copy(wasm, tmp_path / "spawn.wasm")
    child = _embedder(tmp_path / "spawn.wasm", "parent", root=tmp_path)
    out, err = child.communicate(timeout=120)
    assert (child.returncode, err) == (0, "")
    assert out == (
        "child: ppid 1, SPAWN_TEST=inherited\nwaitpid: 1 exited 1 status 7\nSIGCHLD: 1\n"
        "signal death: 1 10\nchild read 8: via pipe\ncat: exited 0\n"
        "child says sleeping\nkill: 0\nkilled: 1 15\nno more children: -1 No child process\n"
        "not wasm: Permission denied\nmissing: No such file or directory\n"
        "host /bin/sh: No such file or directory\nfork: -1 Function not implemented\n")


def test_execve_replaces_the_program(compile_c, tmp_path):
    import shutil

    wasm = compile_c("spawn", SPAWN_C)
    shutil.copy(wasm, tmp_path / "spawn.wasm")
    child = _embedder(tmp_path / "spawn.wasm", "exec", root=tmp_path)
    out, err = child.communicate(timeout=60)
    # the new program is the same process: the first one, whose parent is 0
    assert (child.returncode, out, err) == (7, "child: ppid 0, SPAWN_TEST=(null)\n", "")


SHELL_C = r'''
/* A minimal wasm "shell" for tests: sh -c "PROGRAM ARGS..." splits on spaces and execs PROGRAM. */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

extern char **environ;

int main(int argc, char **argv)
{
    if (argc < 3 || strcmp(argv[1], "-c")) return 2;
    char *words[16];
    int n = 0;
    for (char *w = strtok(argv[2], " "); w && n < 15; w = strtok(0, " ")) words[n++] = w;
    words[n] = 0;
    execve(words[0], words, environ);
    perror(words[0]);
    return 127;
}
'''

POPEN_C = r'''
#include <stdio.h>
#include <stdlib.h>
#include <sys/wait.h>

int main(void)
{
    setvbuf(stdout, 0, _IONBF, 0);
    FILE *f = popen("./spawn.wasm exit7", "r");
    char line[128] = {0};
    fgets(line, sizeof line, f);
    int status = pclose(f);
    printf("popen: %s", line);
    printf("pclose: %d\n", WEXITSTATUS(status));
    status = system("./spawn.wasm exit7");
    printf("system: %d\n", WEXITSTATUS(status));
    status = system("./missing.wasm");
    printf("system missing: %d\n", WEXITSTATUS(status));
    return 0;
}
'''


def test_popen_and_system_with_a_wasm_shell(compile_c, tmp_path):
    import shutil

    shutil.copy(compile_c("spawn", SPAWN_C), tmp_path / "spawn.wasm")
    shell = compile_c("sh", SHELL_C)
    popen = compile_c("popen", POPEN_C)
    child = _embedder(popen, policy=["--shell", str(shell), "--cwd", str(tmp_path)], root=tmp_path)
    out, err = child.communicate(timeout=120)
    assert child.returncode == 0, err
    assert out == ("popen: child: ppid 1, SPAWN_TEST=(null)\npclose: 7\n"
                   "child: ppid 1, SPAWN_TEST=(null)\nsystem: 7\nsystem missing: 127\n")
    assert "./missing.wasm: No such file or directory" in err


def test_hello_is_small_and_stdout_still_seeks_and_closes(compile_c, sysroot, tmp_path):
    """hello world imports only what it calls; fseek/ftell/fclose on stdout link what they need."""
    import io

    import wasmtime

    from muslforge.wasm import run

    def imports(wasm):
        return sorted(i.name.removeprefix("__syscall_")
                      for i in wasmtime.Module.from_file(wasmtime.Engine(), str(wasm)).imports)
    from muslforge import paths, proc
    from muslforge.sysroot.cc import cc_argv
    from muslforge.config.arch import load_arch
    from muslforge.config.toolchain import load_toolchain

    source, hello = tmp_path / "hello.c", tmp_path / "hello.wasm"     # as bench/hello_size.py builds it
    source.write_text('#include <stdio.h>\nint main(void){puts("hello");return 0;}\n')
    proc.output(cc_argv(load_toolchain(paths.TOOLCHAINS_DIR, "llvm-22"), load_arch(paths.ARCHES_DIR, "wasm32"),
                        sysroot, ["-O2", "-s", str(source), "-o", str(hello)]))
    assert imports(hello) == ["exit_group", "ioctl", "writev"]
    assert hello.stat().st_size <= 4000
    closes = compile_c("closes", r'''
#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void)
{
    printf("ftell %ld\n", ftell(stdout));
    fflush(stdout);
    fprintf(stderr, "fseek %d %s\n", fseek(stdout, 0, SEEK_SET), strerror(errno));
    int r = fclose(stdout);
    fprintf(stderr, "fclose %d, write after: %zd %s\n", r, write(1, "x", 1), strerror(errno));
    return 0;
}
''')
    assert "close" in imports(closes) and "_llseek" in imports(closes)
    out, err = io.BytesIO(), io.BytesIO()
    assert run(closes, ["closes"], root=tmp_path, env={}, stdout=out, stderr=err) == 0
    assert out.getvalue() == b"ftell -1\n"
    assert err.getvalue() == (b"fseek -1 Invalid seek\n"
                              b"fclose 0, write after: -1 Bad file descriptor\n")
