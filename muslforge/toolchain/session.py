"""One long-lived toolchain container per user and image: `muslforge cc` with the Docker backend runs in it.

A container per compiler call costs ~0.3 s (create, start, wait, remove) and `docker exec` ~0.1 s; a
configure script makes hundreds of calls. So the first call starts a container whose only process is a
small server (Perl, which the image has as part of Debian's base) listening on a unix socket in a folder
the host shares with it; every call then connects, sends argv, working directory and environment, and
the server forks the command in the container and relays its stdout, stderr and exit status. Per call
that is a connect and a fork: the overhead of a host process, not of a container.

What the container sees: every top-level folder of this machine except the system ones the image
provides itself (SYSTEM_DIRS: /usr, /etc, /opt, ...), each bound read-write at the same path, as the
user's uid:gid, with no network. So sources, -I and -L folders, outputs and response files named by
absolute or ../ paths resolve as on the host. A path under a system folder means the image's file (a
cross build should not read the host's /usr/include anyway); a working directory there is refused.

The server exits after the session_idle setting's seconds (MUSLFORGE_SESSION_IDLE, default 600) without a call, and the container is
removed with it. `python -m muslforge.toolchain.session stop` removes them at once.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import socket
import struct
import sys
import threading
import time
from pathlib import Path

from ..errors import BackendError, MuslforgeError, report

LABEL = "muslforge.toolchain.session"
SYSTEM_DIRS = frozenset({"bin", "boot", "dev", "etc", "lib", "lib32", "lib64", "libx32", "opt", "proc",
                         "run", "sbin", "sys", "usr", "var"})
IMAGE_PATH = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
# Host variables that must not reach the container: its own PATH, nothing that loads host libraries, and
# the host's choice of clang (the image has the toolchain's own).
_HOST_ONLY_ENV = ("PATH", "LD_LIBRARY_PATH", "LD_PRELOAD", "PYTHONPATH", "PYTHONHOME", "HOSTNAME",
                  "MUSLFORGE_CLANG", "MUSLFORGE_AR", "MUSLFORGE_RANLIB", "MUSLFORGE_NM", "MUSLFORGE_STRIP",
                  "MUSLFORGE_OBJDUMP", "MUSLFORGE_OBJCOPY", "MUSLFORGE_READELF", "MUSLFORGE_SIZE",
                  "MUSLFORGE_STRINGS")
OUT, ERR, EXIT = 1, 2, 3

# The server. Request: 4-byte length, then NUL-separated: cwd, env count, KEY=VALUE..., argv count,
# argv..., stdin flag ("1": the client streams its stdin after the request, then shuts down writing).
# Reply: frames of 1-byte kind (1 stdout, 2 stderr, 3 exit), 4-byte length, payload; exit carries a
# 4-byte status (128 + signal when the command was killed).
SERVER = r'''
use strict; use warnings; use Socket; use IO::Socket::UNIX; use IO::Select; use POSIX ();
my ($path, $idle) = @ARGV;
unlink $path;
my $srv = IO::Socket::UNIX->new(Type => SOCK_STREAM, Local => $path, Listen => 128) or die "listen $path: $!";
my $busy = 0; my $last = time;
$SIG{CHLD} = sub { while ((my $k = waitpid(-1, POSIX::WNOHANG())) > 0) { $busy--; $last = time; } };
my $sel = IO::Select->new($srv);
while (1) {
    if ($sel->can_read(5)) {
        my $c = $srv->accept or next;
        $last = time;
        my $pid = fork;
        if (defined $pid && $pid == 0) { $SIG{CHLD} = 'DEFAULT'; close $srv; serve($c); POSIX::_exit(0); }
        $busy++ if defined $pid;
        close $c;
    } elsif ($busy <= 0 && time - $last >= $idle) { unlink $path; exit 0; }
}
sub readn { my ($fh, $n) = @_; my $b = '';
    while (length($b) < $n) { my $r = sysread($fh, $b, $n - length($b), length($b)); return undef unless $r; }
    return $b; }
sub frame { my ($c, $kind, $data) = @_; my $m = pack('CN', $kind, length $data) . $data;
    while (length $m) { my $w = syswrite($c, $m); return unless $w; substr($m, 0, $w) = ''; } }
sub serve {
    my ($c) = @_;
    my $len = readn($c, 4) // return; my $req = readn($c, unpack('N', $len)) // return;
    my @f = split /\0/, $req, -1;
    my $cwd = shift @f; my $ne = shift @f; my @env = splice(@f, 0, $ne);
    my $na = shift @f; my @argv = splice(@f, 0, $na); my $stdin = shift @f;
    pipe(my $or, my $ow); pipe(my $er, my $ew); my ($ir, $iw);
    pipe($ir, $iw) if $stdin eq '1';
    my $kid = fork;
    if ($kid == 0) {
        open(STDOUT, '>&', $ow); open(STDERR, '>&', $ew);
        if ($stdin eq '1') { open(STDIN, '<&', $ir); } else { open(STDIN, '<', '/dev/null'); }
        close $c;
        %ENV = map { split /=/, $_, 2 } @env;
        chdir $cwd or do { print STDERR "muslforge session: cannot enter $cwd: $!\n"; POSIX::_exit(126); };
        exec { $argv[0] } @argv;
        print STDERR "muslforge session: cannot run $argv[0]: $!\n"; POSIX::_exit(127);
    }
    close $ow; close $ew;
    my $s = IO::Select->new($or, $er);
    if ($stdin eq '1') { close $ir; $s->add($c); }
    while ($s->count) {
        for my $h ($s->can_read) {
            my $n = sysread($h, my $buf, 65536);
            if ($h == $c) {
                if ($n) { syswrite($iw, $buf); } else { close $iw; $s->remove($c); }
                next;
            }
            if ($n) { frame($c, $h == $or ? 1 : 2, $buf); } else { $s->remove($h); close $h; }
        }
    }
    close $iw if $stdin eq '1' && defined fileno($iw);
    waitpid($kid, 0);
    my $st = $? & 127 ? 128 + ($? & 127) : $? >> 8;
    frame($c, 3, pack('N', $st));
}
'''


def mounts() -> dict[Path, str]:
    """Every top-level folder of this machine the image does not provide itself, read-write."""
    found = {}
    for entry in sorted(Path("/").iterdir()):
        if entry.name not in SYSTEM_DIRS and entry.is_dir() and not entry.is_symlink():
            found[entry] = "rw"
    return found


def visible(path: Path) -> bool:
    """True when path (absolute) is one of the host's own files inside the session container."""
    parts = path.parts
    return len(parts) > 1 and parts[1] not in SYSTEM_DIRS


def session_key(image: str, binds: dict[Path, str]) -> str:
    text = "\n".join([image, f"{os.getuid()}:{os.getgid()}", *(f"{p}:{m}" for p, m in sorted(binds.items()))])
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def runtime_dir() -> Path:
    """Where session sockets live: a folder of /tmp (shared with the container), private to the user."""
    from .. import settings

    folder = settings.current().session_dir
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    return folder


class Session:
    """The session container for one image; run() runs a command in it with this process's stdio."""

    def __init__(self, image: str, extra: dict[Path, str] | None = None):
        self.image = image
        self.binds = {**mounts(), **(extra or {})}
        folder = runtime_dir()
        if not visible(folder) and folder not in self.binds:
            self.binds[folder] = "rw"
        self.key = session_key(image, self.binds)
        self.name = f"muslforge-session-{self.key}"
        self.socket_path = folder / f"{self.key}.sock"

    def run(self, argv: list[str], *, cwd: Path, env: dict[str, str], stdin: bool = False) -> int:
        if not visible(cwd) and not any(_within(cwd, p) for p in self.binds):
            raise MuslforgeError(
                f"muslforge cc (Docker backend): the working directory {cwd} is under /{cwd.parts[1]}, which "
                f"the toolchain container takes from its image, not from this machine. Work in another "
                f"folder, or use the host's clang: MUSLFORGE_BACKEND=host.")
        request = _request(argv, cwd, env, stdin)
        for attempt in range(2):
            conn = self._connect()
            status = _exchange(conn, request, stdin)
            if status is not None:
                return status
            # The server went away between accept and reply (idle exit racing this call): start anew.
            with contextlib.suppress(OSError):
                self.socket_path.unlink()
        raise BackendError(f"The muslforge session container {self.name} closed the connection twice "
                           f"without an exit status; see `docker logs {self.name}`.")

    def _connect(self) -> socket.socket:
        with contextlib.suppress(OSError):
            return _dial(self.socket_path)
        lock = self.socket_path.with_suffix(".lock")
        with open(lock, "w") as held:
            import fcntl
            fcntl.flock(held, fcntl.LOCK_EX)  # one starter; the others wait here, then connect
            with contextlib.suppress(OSError):
                return _dial(self.socket_path)
            self._start()
            return self._wait_for_server()

    def _start(self) -> None:
        from .. import docker
        if not docker.docker_host().startswith("unix://"):
            raise BackendError(f"muslforge cc with the Docker backend shares this machine's folders with a "
                               f"local daemon; DOCKER_HOST is {docker.docker_host()}, which cannot see them. "
                               f"Use the host's clang (MUSLFORGE_BACKEND=host) or a local daemon.")
        with contextlib.suppress(FileNotFoundError):
            self.socket_path.unlink()
        from .. import settings

        idle = f"{settings.current().session_idle:g}"
        from .image import usr_copy

        docker.start_service(self.name, self.image, ["perl", "-e", SERVER, str(self.socket_path), idle],
                             binds=self.binds, labels={LABEL: self.key}, usr=usr_copy(self.image))

    def _wait_for_server(self, timeout: float = 30) -> socket.socket:
        deadline = time.monotonic() + timeout
        while True:
            try:
                return _dial(self.socket_path)
            except OSError as error:
                if time.monotonic() > deadline:
                    raise BackendError(f"The muslforge session container {self.name} did not open "
                                       f"{self.socket_path} within {timeout:g} s ({error.strerror}); see "
                                       f"`docker logs {self.name}`.") from None
                time.sleep(0.005)


def _within(child: Path, parent: Path) -> bool:
    return child == parent or parent in child.parents


def _dial(path: Path) -> socket.socket:
    conn = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        conn.connect(str(path))
    except OSError:
        conn.close()
        raise
    return conn


def container_env(env: dict[str, str]) -> dict[str, str]:
    """The caller's environment as the container should see it: its own PATH, no host library paths."""
    passed = {k: v for k, v in env.items() if k not in _HOST_ONLY_ENV and "\0" not in k + v}
    return {**passed, "PATH": IMAGE_PATH}


def _request(argv: list[str], cwd: Path, env: dict[str, str], stdin: bool) -> bytes:
    fields = [str(cwd), str(len(env)), *(f"{k}={v}" for k, v in env.items()),
              str(len(argv)), *map(str, argv), "1" if stdin else "0"]
    if any("\0" in field for field in fields):
        raise MuslforgeError("muslforge cc: an argument contains a NUL byte.")
    body = "\0".join(fields).encode("utf-8", "surrogateescape")
    return struct.pack(">I", len(body)) + body


def _exchange(conn: socket.socket, request: bytes, stdin: bool) -> int | None:
    """Send the request, relay the replies to our stdout/stderr; the exit status (None: no reply)."""
    with conn:
        try:
            conn.sendall(request)
        except OSError:
            return None
        if stdin:
            threading.Thread(target=_feed_stdin, args=(conn,), daemon=True).start()
        streams = {OUT: sys.stdout.buffer, ERR: sys.stderr.buffer}
        reader = conn.makefile("rb")
        while True:
            header = reader.read(5)
            if len(header) < 5:
                return None
            kind, length = struct.unpack(">BI", header)
            payload = reader.read(length)
            if kind == EXIT:
                return struct.unpack(">I", payload)[0]
            streams[kind].write(payload)
            streams[kind].flush()


def _feed_stdin(conn: socket.socket) -> None:
    with contextlib.suppress(OSError):
        while chunk := os.read(0, 65536):
            conn.sendall(chunk)
        conn.shutdown(socket.SHUT_WR)


def stop_all() -> int:
    """Remove every session container; returns how many there were."""
    from .. import docker
    names = docker.services(LABEL)
    for name in names:
        docker.stop_service(name)
    return len(names)


def main(argv: list[str]) -> int:
    if argv != ["stop"]:
        print("usage: python -m muslforge.toolchain.session stop    (remove every muslforge session container)",
              file=sys.stderr)
        return 2
    try:
        print(f"removed {stop_all()} session container(s)")
    except (OSError, MuslforgeError, KeyboardInterrupt) as error:
        return report("muslforge", error)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
