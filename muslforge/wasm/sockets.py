"""Sockets: AF_INET, AF_INET6 and AF_UNIX, TCP and UDP, on host sockets, under a network policy.

A guest socket is a host socket fd in the fd table (read/write/poll/fcntl work on it as on any host
fd). The network is off by default: `--allow-net HOST:PORT` lets the guest connect (or send datagrams)
to matching addresses, `--allow-listen HOST:PORT` lets it bind to them; HOST is an IP address (IPv6 in
brackets) or `*`, PORT a number or `*`. Anything else fails with EACCES, as a Linux process denied by
its security policy does. Creating a socket is always allowed (it reaches nothing by itself).

AF_UNIX paths are guest paths resolved beneath the held directory fds like every other path: bind
creates the socket in the held parent directory through `/proc/self/fd/<dir fd>/<name>` (the kernel
resolves it from that fd, not from a path string), connect opens the socket file beneath the sandbox
with O_PATH|O_NOFOLLOW and connects through `/proc/self/fd/<that fd>`, so a symlink swapped in cannot
lead out. Abstract names (a leading NUL) live in the host's shared namespace: EACCES. getsockname and
getpeername report the guest paths. Ancillary data (SCM_RIGHTS) is not passed: sendmsg with control
data is EOPNOTSUPP, recvmsg reports none.

(`socket` and `ipaddress` are imported when the guest first uses a socket: start-up stays fast.)

Limits: at most MAX_SOCKETS sockets open at once (then EMFILE); every buffer is clamped to guest memory
before the host touches it.
"""

from __future__ import annotations

import contextlib
import errno
import os
import select
import struct
from typing import TYPE_CHECKING

from . import abi
from ._registry import syscall
from .errors import EmbedderError, Errno
from .fdtable import OpenFile
from .files import _clamp, _iovecs, base_dir
from .guest import u32
from .process import SIGPIPE, send_self

if TYPE_CHECKING:
    import socket

AF_UNIX, AF_INET, AF_INET6 = 1, 2, 10
SOCK_STREAM, SOCK_DGRAM = 1, 2
SOCK_NONBLOCK, SOCK_CLOEXEC = 0o4000, 0o2000000
MSG_NOSIGNAL = 0x4000
MAX_SOCKETS = 256
_UNIX_PATH_MAX = 108
_MSGHDR = struct.Struct("<IIIIIII")       # name, namelen, iov, iovlen, control, controllen, flags


# ---- policy --------------------------------------------------------------------------------------

class AddressPattern:
    """One HOST:PORT pattern (a plain class: no dataclasses import on the start path)."""

    __slots__ = ("host", "port")

    def __init__(self, host: str, port: int | None):
        self.host = host            # a normalized IP address, or "*"
        self.port = port            # None: any port

    def __eq__(self, other: object) -> bool:
        return isinstance(other, AddressPattern) and (self.host, self.port) == (other.host, other.port)

    def __repr__(self) -> str:
        return f"{self.host}:{'*' if self.port is None else self.port}"

    @classmethod
    def parse(cls, text: str, option: str) -> AddressPattern:
        import ipaddress
        host, sep, port = text.rpartition(":")
        host = host[1:-1] if host.startswith("[") and host.endswith("]") else host
        try:
            if not sep or not host:
                raise ValueError
            host = host if host == "*" else str(ipaddress.ip_address(host))
            number = None if port == "*" else int(port)
            if number is not None and not 0 <= number <= 65535:
                raise ValueError
        except ValueError:
            raise EmbedderError(f"{option} {text!r}: give HOST:PORT, HOST an IP address ([::1] for IPv6) "
                                "or *, PORT a number or * (e.g. 127.0.0.1:8080 or 127.0.0.1:*)") from None
        return cls(host, number)

    def matches(self, host: str, port: int) -> bool:
        return (self.host in ("*", host)) and (self.port is None or self.port == port)


class NetPolicy:
    """What the guest may reach: connect/send-to addresses, and addresses it may bind to."""

    __slots__ = ("connect", "listen")

    def __init__(self, connect: tuple[AddressPattern, ...] = (), listen: tuple[AddressPattern, ...] = ()):
        self.connect = tuple(connect)
        self.listen = tuple(listen)

    @classmethod
    def parse(cls, allow_net: list[str] = (), allow_listen: list[str] = ()) -> NetPolicy:
        return cls(tuple(AddressPattern.parse(t, "--allow-net") for t in allow_net),
                   tuple(AddressPattern.parse(t, "--allow-listen") for t in allow_listen))

    def check(self, patterns: tuple[AddressPattern, ...], address: tuple) -> None:
        import ipaddress
        host, port = str(ipaddress.ip_address(address[0].split("%")[0])), address[1]
        if not any(p.matches(host, port) for p in patterns):
            raise Errno(errno.EACCES)


# ---- socket files --------------------------------------------------------------------------------

class SocketFile(OpenFile):
    """An open socket: a host socket fd, its family and type, the guest paths of AF_UNIX ends."""

    def __init__(self, *, flags: int, hostfd: int, family: int, kind: int):
        super().__init__(flags=flags, hostfd=hostfd)
        self.family, self.kind = family, kind
        self.local_path: bytes | None = None
        self.peer_path: bytes | None = None


@contextlib.contextmanager
def _host(file: SocketFile):
    """A Python socket object on the file's host fd, detached (not closed) afterwards."""
    import socket
    sock = socket.socket(fileno=file.hostfd)
    try:
        yield sock
    finally:
        sock.detach()


def _socket_file(proc, fd: int) -> SocketFile:
    file = proc.fds.get(fd)
    if not isinstance(file, SocketFile):
        raise Errno(errno.ENOTSOCK)
    return file


def _count(proc) -> int:
    return sum(1 for f in proc.fds.files.values() if isinstance(f, SocketFile))


def _install(proc, sock: socket.socket, family: int, kind: int, flags: int) -> int:
    if _count(proc) >= MAX_SOCKETS:
        sock.close()
        raise Errno(errno.EMFILE)
    sock.setblocking(not flags & SOCK_NONBLOCK)
    file = SocketFile(flags=abi.O_RDWR | (abi.O_NONBLOCK if flags & SOCK_NONBLOCK else 0),
                      hostfd=sock.detach(), family=family, kind=kind)
    try:
        return proc.fds.add(file, cloexec=bool(flags & SOCK_CLOEXEC))
    except BaseException:
        os.close(file.hostfd)
        raise


def _wait(proc, file: SocketFile, events: int) -> None:
    """Block interruptibly (a signal ends the wait with EINTR) before a blocking host call."""
    if not file.flags & abi.O_NONBLOCK:
        proc.threads.wait_fd(file.hostfd, events)


# ---- addresses -----------------------------------------------------------------------------------

def _read_address(proc, file: SocketFile, addr: int, length: int):
    """A guest sockaddr as a Python address: (host, port) or (host, port, flow, scope) or a path."""
    import socket
    length = u32(length)
    if length < 2 or length > 128:
        raise Errno(errno.EINVAL)
    raw = proc.mem.read(addr, length)
    family = struct.unpack_from("<H", raw)[0]
    if family != file.family:
        raise Errno(errno.EAFNOSUPPORT)
    if family == AF_INET and length >= 16:
        port, host = struct.unpack_from(">H4s", raw, 2)
        return (socket.inet_ntop(socket.AF_INET, host), port)
    if family == AF_INET6 and length >= 28:
        port, flow, host, scope = struct.unpack_from(">HI16sI", raw, 2)
        return (socket.inet_ntop(socket.AF_INET6, host), port, flow, scope)
    if family == AF_UNIX:
        path = raw[2:].split(b"\0", 1)[0] if raw[2:3] != b"\0" else raw[2:]
        if not path:
            raise Errno(errno.EINVAL)
        if path[:1] == b"\0":
            raise Errno(errno.EACCES)           # the abstract namespace is the host's, shared
        return path
    raise Errno(errno.EINVAL)


def _encode(family: int, address, guest_path: bytes | None = None) -> bytes:
    import socket
    if family == AF_INET:
        host, port = address[:2]
        return struct.pack("<H", AF_INET) + struct.pack(">H4s", port, socket.inet_pton(socket.AF_INET, host)) \
            + bytes(8)
    if family == AF_INET6:
        host, port, flow, scope = address
        return struct.pack("<H", AF_INET6) + struct.pack(">HI16sI", port, flow,
                                                         socket.inet_pton(socket.AF_INET6, host), scope)
    path = guest_path or b""
    return struct.pack("<H", AF_UNIX) + (path + b"\0" if path else b"")


def _write_address(proc, addr: int, len_ptr: int, data: bytes) -> None:
    """Store a sockaddr the way the kernel does: truncated to *len_ptr, *len_ptr set to its size."""
    if not addr or not len_ptr:
        return
    room = proc.mem.load_u32(len_ptr)
    if room >> 31:
        raise Errno(errno.EINVAL)
    proc.mem.write(addr, data[:room])
    proc.mem.write(len_ptr, len(data).to_bytes(4, "little"))


def _host_name(file: SocketFile, address) -> bytes:
    if file.family == AF_UNIX:
        return _encode(AF_UNIX, None, file.local_path)
    return _encode(file.family, address)


@contextlib.contextmanager
def _unix_target(proc, path: bytes, *, create: bool):
    """The host path (through a held fd) that reaches guest `path` beneath the sandbox (module doc)."""
    with proc.ns.locate(base_dir(proc, abi.AT_FDCWD), path, follow=not create) as place:
        if place.device is not None or place.name is None:
            raise Errno(errno.EADDRINUSE if create else errno.ECONNREFUSED)
        if create:
            place.writable()
            host = f"/proc/self/fd/{place.dir.fd}/{place.name}"
            if len(host) >= _UNIX_PATH_MAX:
                raise Errno(errno.ENAMETOOLONG)
            yield host
            return
        if place.dir.virtual:
            raise Errno(errno.ENOENT)
        fd = os.open(place.name, os.O_PATH | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=place.dir.fd)
        try:
            yield f"/proc/self/fd/{fd}"
        finally:
            os.close(fd)


# ---- syscalls ------------------------------------------------------------------------------------

@syscall("socket")
def sys_socket(proc, domain, type_, protocol):
    import socket
    kind = type_ & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    if domain not in (AF_UNIX, AF_INET, AF_INET6):
        raise Errno(errno.EAFNOSUPPORT)
    if kind not in (SOCK_STREAM, SOCK_DGRAM, 5):           # SOCK_SEQPACKET (5) for AF_UNIX
        raise Errno(errno.EINVAL if kind > 10 else errno.ESOCKTNOSUPPORT)
    sock = socket.socket(domain, kind, protocol)
    return _install(proc, sock, domain, kind, type_)


@syscall("socketpair")
def sys_socketpair(proc, domain, type_, protocol, fds):
    import socket
    if domain != AF_UNIX:
        raise Errno(errno.EOPNOTSUPP)
    kind = type_ & ~(SOCK_NONBLOCK | SOCK_CLOEXEC)
    proc.mem.view(fds, 8)
    a, b = socket.socketpair(socket.AF_UNIX, kind, protocol)
    first = _install(proc, a, AF_UNIX, kind, type_)
    try:
        second = _install(proc, b, AF_UNIX, kind, type_)
    except BaseException:
        proc.fds.close(first)
        raise
    proc.mem.write(fds, struct.pack("<ii", first, second))
    return 0


@syscall("bind")
def sys_bind(proc, fd, addr, addrlen):
    return _attach(proc, fd, addr, addrlen, connect=False)


def _attach(proc, fd: int, addr: int, addrlen: int, *, connect: bool) -> int:
    """bind or connect: an AF_UNIX path beneath the held directory fds (created by bind), any other
    address only where the policy allows it (--allow-listen for bind, --allow-net for connect)."""
    file = _socket_file(proc, fd)
    address = _read_address(proc, file, addr, addrlen)
    with _host(file) as sock:
        act = sock.connect if connect else sock.bind
        if file.family == AF_UNIX:
            with _unix_target(proc, address, create=not connect) as host:
                act(host)
            if connect:
                file.peer_path = address
            else:
                file.local_path = address
            return 0
        proc.net.check(proc.net.connect if connect else proc.net.listen, address)
        act(address)
    return 0


@syscall("listen")
def sys_listen(proc, fd, backlog):
    file = _socket_file(proc, fd)
    with _host(file) as sock:
        sock.listen(max(0, min(backlog, 4096)))
    return 0


@syscall("accept4")
def sys_accept4(proc, fd, addr, len_ptr, flags):
    file = _socket_file(proc, fd)
    if flags & ~(SOCK_NONBLOCK | SOCK_CLOEXEC):
        raise Errno(errno.EINVAL)
    _wait(proc, file, select.POLLIN)
    with _host(file) as sock:
        conn, address = sock.accept()
    child_fd = _install(proc, conn, file.family, file.kind, flags)
    child = proc.fds.get(child_fd)
    child.local_path = file.local_path
    if addr:
        _write_address(proc, addr, len_ptr, _encode(file.family, address) if file.family != AF_UNIX
                       else _encode(AF_UNIX, None))
    return child_fd


@syscall("accept")
def sys_accept(proc, fd, addr, len_ptr):
    return sys_accept4(proc, fd, addr, len_ptr, 0)


@syscall("connect")
def sys_connect(proc, fd, addr, addrlen):
    return _attach(proc, fd, addr, addrlen, connect=True)


@syscall("getsockname")
def sys_getsockname(proc, fd, addr, len_ptr):
    file = _socket_file(proc, fd)
    with _host(file) as sock:
        name = sock.getsockname()
    _write_address(proc, addr, len_ptr, _host_name(file, name))
    return 0


@syscall("getpeername")
def sys_getpeername(proc, fd, addr, len_ptr):
    file = _socket_file(proc, fd)
    with _host(file) as sock:
        name = sock.getpeername()
    data = _encode(AF_UNIX, None, file.peer_path) if file.family == AF_UNIX else _encode(file.family, name)
    _write_address(proc, addr, len_ptr, data)
    return 0


def _send(proc, file: SocketFile, buffers: list, flags: int, address=None) -> int:
    if address is not None and file.family != AF_UNIX:
        proc.net.check(proc.net.connect, address)
    _wait(proc, file, select.POLLOUT)
    try:
        with _host(file) as sock:
            if address is None:
                return sock.sendmsg(buffers, [], flags | MSG_NOSIGNAL)
            if file.family == AF_UNIX:
                with _unix_target(proc, address, create=False) as host:
                    return sock.sendmsg(buffers, [], flags | MSG_NOSIGNAL, host)
            return sock.sendmsg(buffers, [], flags | MSG_NOSIGNAL, address)
    except BrokenPipeError:
        if not flags & MSG_NOSIGNAL:
            send_self(proc, SIGPIPE)
        raise


@syscall("sendto")
def sys_sendto(proc, fd, buf, length, flags, addr, addrlen):
    file = _socket_file(proc, fd)
    address = _read_address(proc, file, addr, addrlen) if addr else None
    return _send(proc, file, [_clamp(proc, buf, length)], flags, address)


@syscall("recvfrom")
def sys_recvfrom(proc, fd, buf, length, flags, addr, len_ptr):
    file = _socket_file(proc, fd)
    if not flags & 0x40:                       # MSG_DONTWAIT
        _wait(proc, file, select.POLLIN)
    view = _clamp(proc, buf, length)
    with _host(file) as sock:
        count, address = sock.recvfrom_into(view, len(view), flags)
    if addr:
        _write_address(proc, addr, len_ptr, _peer(file, address))
    return count


def _peer(file: SocketFile, address) -> bytes:
    if file.family == AF_UNIX or not address:
        return _encode(AF_UNIX, None, file.peer_path) if file.family == AF_UNIX else b""
    return _encode(file.family, address)


@syscall("sendmsg")
def sys_sendmsg(proc, fd, msg, flags):
    file = _socket_file(proc, fd)
    name, namelen, iov, iovlen, _control, controllen, _ = _MSGHDR.unpack(proc.mem.read(msg, _MSGHDR.size))
    if controllen:
        raise Errno(errno.EOPNOTSUPP)
    address = _read_address(proc, file, name, namelen) if name else None
    return _send(proc, file, _iovecs(proc, iov, iovlen), flags, address)


@syscall("recvmsg")
def sys_recvmsg(proc, fd, msg, flags):
    file = _socket_file(proc, fd)
    name, namelen, iov, iovlen, _, _, _ = _MSGHDR.unpack(proc.mem.read(msg, _MSGHDR.size))
    buffers = _iovecs(proc, iov, iovlen)
    if not flags & 0x40:
        _wait(proc, file, select.POLLIN)
    with _host(file) as sock:
        count, _, msg_flags, address = sock.recvmsg_into(buffers, 0, flags)
    if name:
        data = _peer(file, address)[:namelen]
        proc.mem.write(name, data)
    out_namelen = len(_peer(file, address)) if name else 0
    proc.mem.write(msg + 4, out_namelen.to_bytes(4, "little"))
    proc.mem.write(msg + 20, bytes(4))                     # no control data
    proc.mem.write(msg + 24, (msg_flags & 0xFFFFFFFF).to_bytes(4, "little"))
    return count


@syscall("shutdown")
def sys_shutdown(proc, fd, how):
    file = _socket_file(proc, fd)
    if how not in (0, 1, 2):
        raise Errno(errno.EINVAL)
    with _host(file) as sock:
        sock.shutdown(how)
    return 0


_OPT_MAX = 256


@syscall("setsockopt")
def sys_setsockopt(proc, fd, level, name, value, length):
    file = _socket_file(proc, fd)
    if not 0 <= length <= _OPT_MAX:
        raise Errno(errno.EINVAL)
    data = proc.mem.read(value, length) if length else b""
    with _host(file) as sock:
        sock.setsockopt(level, name, data) if length else sock.setsockopt(level, name, None, 0)
    return 0


@syscall("getsockopt")
def sys_getsockopt(proc, fd, level, name, value, len_ptr):
    file = _socket_file(proc, fd)
    room = proc.mem.load_u32(len_ptr)
    if room >> 31:
        raise Errno(errno.EINVAL)
    with _host(file) as sock:
        data = sock.getsockopt(level, name, max(1, min(room, _OPT_MAX)))
    data = data[:room]
    proc.mem.write(value, data)
    proc.mem.write(len_ptr, len(data).to_bytes(4, "little"))
    return 0


_MMSGHDR = _MSGHDR.size + 4           # struct mmsghdr: msg_hdr, msg_len
_UIO_MAXIOV = 1024
_MSG_WAITFORONE, _MSG_DONTWAIT = 0x10000, 0x40


def _each_message(proc, msgvec: int, vlen: int, one) -> int:
    """Run `one(address of msghdr, index)` per message, storing each msg_len; the count done, or the
    first error when none was."""
    count = min(u32(vlen), _UIO_MAXIOV)
    proc.mem.view(msgvec, _MMSGHDR * count)
    done = 0
    for index in range(count):
        header = u32(msgvec) + _MMSGHDR * index
        try:
            length = one(header, index)
        except (Errno, OSError):
            if done:
                return done
            raise
        proc.mem.write(header + _MSGHDR.size, length.to_bytes(4, "little"))
        done += 1
    return done


@syscall("sendmmsg")
def sys_sendmmsg(proc, fd, msgvec, vlen, flags):
    return _each_message(proc, msgvec, vlen, lambda header, _: sys_sendmsg(proc, fd, header, flags))


@syscall("recvmmsg_time64")
def sys_recvmmsg(proc, fd, msgvec, vlen, flags, timeout):
    """recvmsg per message; with MSG_WAITFORONE only the first waits. The timeout is not applied (as
    on Linux, it is only checked between messages)."""
    def one(header: int, index: int) -> int:
        wait = flags & ~_MSG_WAITFORONE | (_MSG_DONTWAIT if index and flags & _MSG_WAITFORONE else 0)
        return sys_recvmsg(proc, fd, header, wait)
    return _each_message(proc, msgvec, vlen, one)
