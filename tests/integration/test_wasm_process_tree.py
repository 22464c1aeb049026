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
    done = subprocess.run(["prlimit", "--nproc=4000", "--as=8000000000", *command], cwd=CHECKOUT,
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
    # a script is executed by its fd, so it sees itself as /dev/fd/N (as with Linux's fexecve)
    out = re.sub(r"/dev/fd/\d+ ", "/dev/fd/N ", out)
    assert out == (f"host /bin/echo unmounted: No such file or directory\n"
                   f"symlink out: No such file or directory\n"
                   f"popen: from the guest\npopen: {tmp_path}\npclose: 0\nsystem exit 3: 3\n"
                   f"system killed: 1 15\nfds of a host shell:\n0\n1\n2\n"
                   f"spawn script: No error information\nscript on fd 5: args: /dev/fd/N an arg\n{tmp_path}\n"
                   f"script exit: 4\nkill host child: 0\nkilled: 1 9\n")


def test_execve_of_a_host_program_replaces_the_guest(compile_c, tmp_path):
    status, out, err = _run(compile_c("hostexec", HOST_EXEC_C), "exec", options=["--allow-host-exec"],
                            root=tmp_path)
    assert (status, out, err) == (5, "replaced\n", "")
