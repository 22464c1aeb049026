"""A hostile guest against sockets, polling and timers: every resource has a limit, every buffer is
clamped to guest memory before the host allocates anything."""

import errno
import io
import struct

import pytest

from muslforge.wasm import polling, sockets, timers
from muslforge.wasm.host import Instance
from muslforge.wasm.wat import syscall_module
from tests.unit.wasm_guest import call, instance

MODULE = syscall_module({
    "socket": 3, "getsockopt": 5, "recvfrom": 6, "sendto": 6, "connect": 3, "bind": 3, "socketpair": 4,
    "timer_create": 3, "setitimer": 3, "epoll_create1": 1, "epoll_ctl": 4, "epoll_pwait": 6,
    "pselect6_time64": 6, "sigaltstack": 2, "sendmsg": 3, "close": 1,
})
BUF = 4096
AF_INET, AF_UNIX, SOCK_STREAM, SOCK_DGRAM = 2, 1, 1, 2


@pytest.fixture
def inst(tmp_path):
    with instance(MODULE, tmp_path) as running:
        yield running


def test_sockets_are_limited(inst):
    fds = [call(inst, "socket", AF_UNIX, SOCK_DGRAM, 0) for _ in range(sockets.MAX_SOCKETS)]
    assert all(fd >= 0 for fd in fds)
    assert call(inst, "socket", AF_UNIX, SOCK_DGRAM, 0) == -errno.EMFILE
    assert call(inst, "close", fds[0]) == 0
    assert call(inst, "socket", AF_UNIX, SOCK_DGRAM, 0) >= 0


def test_posix_timers_are_limited(inst):
    for _ in range(timers.MAX_TIMERS):
        assert call(inst, "timer_create", 1, 0, BUF) == 0
    assert call(inst, "timer_create", 1, 0, BUF) == -errno.EAGAIN


def test_buffers_are_clamped_before_the_host_allocates(inst):
    a, b = struct.unpack("<ii", _pair(inst))
    mem_end = inst.proc.mem.size()
    # a 2 GiB receive into the last 16 bytes of memory reads at most 16 bytes
    assert call(inst, "sendto", a, BUF, 64, 0, 0, 0) == 64
    assert call(inst, "recvfrom", b, mem_end - 16, 0x7FFFFFFF, 0, 0, 0) == 16
    # an option length of 2 GiB is capped; a negative one is EINVAL
    inst.proc.mem.write(BUF, struct.pack("<I", 0x7FFFFFFF))
    assert call(inst, "getsockopt", a, 1, 3, BUF + 8, BUF) == 0        # SOL_SOCKET SO_TYPE
    assert struct.unpack("<I", inst.proc.mem.read(BUF, 4))[0] <= 256
    inst.proc.mem.write(BUF, struct.pack("<I", 0x80000000))
    assert call(inst, "getsockopt", a, 1, 3, BUF + 8, BUF) == -errno.EINVAL
    # a msghdr with a billion iovecs, and addresses outside memory
    inst.proc.mem.write(BUF, struct.pack("<IIIIIII", 0, 0, BUF + 64, 10**9, 0, 0, 0))
    assert call(inst, "sendmsg", a, BUF, 0) == -errno.EINVAL
    assert call(inst, "recvfrom", b, mem_end + 64, 16, 0x40, 0, 0) == -errno.EFAULT


def _pair(inst) -> bytes:
    assert call(inst, "socketpair", AF_UNIX, SOCK_DGRAM, 0, BUF + 512) == 0
    return inst.proc.mem.read(BUF + 512, 8)


def test_policy_refuses_network_and_abstract_names(inst):
    fd = call(inst, "socket", AF_INET, SOCK_STREAM, 0)
    inst.proc.mem.write(BUF, struct.pack("<H", AF_INET) + struct.pack(">H4s", 80, bytes([127, 0, 0, 1])) + bytes(8))
    assert call(inst, "connect", fd, BUF, 16) == -errno.EACCES
    assert call(inst, "bind", fd, BUF, 16) == -errno.EACCES
    unix = call(inst, "socket", AF_UNIX, SOCK_STREAM, 0)
    inst.proc.mem.write(BUF, struct.pack("<H", AF_UNIX) + b"\0abstract")
    assert call(inst, "bind", unix, BUF, 11) == -errno.EACCES
    assert call(inst, "connect", unix, BUF, 200) == -errno.EINVAL


def test_epoll_and_select_limits(inst):
    ep = call(inst, "epoll_create1", 0)
    a, _ = struct.unpack("<ii", _pair(inst))
    inst.proc.mem.write(BUF, struct.pack("<I4xQ", 1, 5))
    assert call(inst, "epoll_ctl", ep, 1, a, BUF) == 0
    assert call(inst, "epoll_ctl", ep, 1, a, BUF) == -errno.EEXIST
    assert call(inst, "epoll_ctl", ep, 1, ep, BUF) == -errno.EINVAL
    assert call(inst, "epoll_pwait", ep, BUF, polling.MAX_EPOLL_FDS + 1, 0, 0, 0) == -errno.EINVAL
    assert call(inst, "epoll_pwait", ep, inst.proc.mem.size() - 8, 4, 0, 0, 0) == -errno.EFAULT
    assert call(inst, "pselect6_time64", 5000, 0, 0, 0, 0, 0) == -errno.EINVAL


def test_sigaltstack_checks(inst):
    inst.proc.mem.write(BUF, struct.pack("<IiI", BUF, 0, 100))
    assert call(inst, "sigaltstack", BUF, 0) == -errno.ENOMEM
    inst.proc.mem.write(BUF, struct.pack("<IiI", inst.proc.mem.size() - 4096, 0, 8192))
    assert call(inst, "sigaltstack", BUF, 0) == -errno.EFAULT
    inst.proc.mem.write(BUF, struct.pack("<IiI", BUF, 7, 8192))
    assert call(inst, "sigaltstack", BUF, 0) == -errno.EINVAL


def test_net_policy_patterns():
    policy = sockets.NetPolicy.parse(["127.0.0.1:*", "[::1]:8080", "*:53"], ["127.0.0.1:0"])
    policy.check(policy.connect, ("127.0.0.1", 9))
    policy.check(policy.connect, ("::1", 8080))
    policy.check(policy.connect, ("10.0.0.1", 53))
    for address in (("::1", 8081), ("10.0.0.1", 80)):
        with pytest.raises(Exception) as refused:
            policy.check(policy.connect, address)
        assert getattr(refused.value, "errno", None) == errno.EACCES
    with pytest.raises(Exception, match=r"--allow-net 'localhost': give HOST:PORT"):
        sockets.NetPolicy.parse(["localhost"])
    with pytest.raises(Exception, match=r"--allow-listen '1.2.3.4:99999'"):
        sockets.NetPolicy.parse([], ["1.2.3.4:99999"])


def test_exec_arguments_are_bounded(tmp_path):
    """An argv of a million pointers to a long string is E2BIG before the host builds a command line."""
    from muslforge.wasm import children

    module = syscall_module({"execve": 3}, pages=40)
    inst = Instance(module, ["t"], root=tmp_path, stdout=io.BytesIO(), stderr=io.BytesIO())
    try:
        mem = inst.proc.mem
        text = 8192
        mem.write(text, b"x" * 4000 + b"\0")
        argv = 65536
        count = (mem.size() - argv) // 4 - 1
        mem.write(argv, struct.pack(f"<{count}I", *([text] * count)) + b"\0\0\0\0")
        mem.write(4096, b"./prog.wasm\0")
        assert inst.call("sys_execve", 4096, argv, 0) == -errno.E2BIG
        assert children.MAX_CHILDREN == 64
    finally:
        inst.close()


def test_unreaped_children_are_limited(tmp_path):
    from muslforge.wasm import children

    inst = Instance(MODULE, ["t"], root=tmp_path, stdout=io.BytesIO(), stderr=io.BytesIO())
    try:
        table = children.children(inst.proc)
        for pid in range(children.MAX_CHILDREN):
            table.add(children.Child(pid + 100, status=(1, 0)))
        with pytest.raises(Exception) as refused:
            table.add(children.Child(1000, status=(1, 0)))
        assert getattr(refused.value, "errno", None) == errno.EAGAIN
    finally:
        inst.close()
