"""The guest's layout: --dir HOST::GUEST, --ro-dir, --cwd, the private /tmp, /dev, ancestors."""

import errno
import io
import os

import pytest

from muslforge.wasm import EmbedderError, abi, main
from muslforge.wasm.host import Instance
from muslforge.wasm.mounts import MountSpec
from muslforge.wasm.wat import syscall_module
from tests.unit.test_wasm_escapes import BUF, FDCWD, MODULE, Guest


def make(**kw):
    instance = Instance(MODULE, ["t"], stdout=io.BytesIO(), stderr=io.BytesIO(), **kw)
    return instance, Guest(instance)


def cwd(g):
    count = g.getcwd(BUF, 4096)
    return g.mem.read(BUF, count - 1).decode()


def test_mounts_at_guest_paths_read_only_and_cwd(tmp_path):
    work, data = tmp_path / "work", tmp_path / "data"
    work.mkdir()
    data.mkdir()
    (data / "in.txt").write_text("data\n")
    instance, g = make(mounts=[MountSpec(host=work, guest="/work"),
                               MountSpec(host=data, guest="/srv/data", read_only=True)])
    try:
        assert cwd(g) == "/work"
        fd = g.open("/srv/data/in.txt")
        assert g.read_all(fd) == b"data\n"
        assert g.open("/srv/data/in.txt", abi.O_WRONLY) == -errno.EROFS
        assert g.open("/srv/data/new", abi.O_CREAT | abi.O_WRONLY) == -errno.EROFS
        assert g.unlinkat(FDCWD, g.path("/srv/data/in.txt"), 0) == -errno.EROFS
        assert g.open("../srv/data/in.txt") >= 0                  # .. at a mount root: the guest's /
        assert g.open("out.txt", abi.O_CREAT | abi.O_WRONLY) >= 0
        assert (work / "out.txt").exists()
        assert g.renameat2(FDCWD, g.path("out.txt"), FDCWD, g.path("/srv/data/x", 3072), 0) == -errno.EXDEV
        assert g.open("/srv") >= 0 and g.open(str(work)) == -errno.ENOENT
        assert g.mkdirat(FDCWD, g.path("/srv/new"), 0o755) == -errno.EACCES
    finally:
        instance.close()
    instance, g = make(mounts=[MountSpec(host=work, guest="/work")], cwd="/tmp")
    try:
        assert cwd(g) == "/tmp"
    finally:
        instance.close()


def test_private_tmp_is_empty_and_removed_at_exit_unless_given(tmp_path):
    instance, g = make(root=tmp_path)
    try:
        fd = g.open("/tmp", abi.O_DIRECTORY)
        assert g.getdents64(fd, BUF, 4096) > 0
        assert g.open("/tmp/scratch", abi.O_CREAT | abi.O_WRONLY) >= 0
        host_tmp = instance.proc.workdir
        assert os.path.exists(os.path.join(host_tmp, "tmp", "scratch"))
        assert g.open("/dev/shm/seg", abi.O_CREAT | abi.O_RDWR) >= 0
        assert g.open("/dev/urandom") >= 0 and g.open("/dev/zero") >= 0
        assert g.open("/dev/fd/1", abi.O_WRONLY) >= 0
    finally:
        instance.close()
    assert not os.path.exists(host_tmp)
    kept = tmp_path / "kept-tmp"
    kept.mkdir()
    instance, g = make(root=tmp_path / "kept-tmp", tmp=kept)
    try:
        assert g.open("/tmp/stays", abi.O_CREAT | abi.O_WRONLY) >= 0
    finally:
        instance.close()
    assert (kept / "stays").exists()


def test_mount_errors_are_one_clear_line(tmp_path):
    with pytest.raises(EmbedderError, match="cannot mount .*nope: not a directory"):
        make(mounts=[MountSpec(host=tmp_path / "nope")])
    with pytest.raises(EmbedderError, match="--cwd /elsewhere: no such directory"):
        make(root=tmp_path, cwd="/elsewhere")
    with pytest.raises(EmbedderError, match="must be HOST or HOST::/GUEST/PATH"):
        MountSpec.parse("a::relative")


def test_command_line_mounts(tmp_path, capfd):
    (tmp_path / "greeting").write_bytes(b"hi from the mount\n")
    cat = syscall_module({"openat": 4, "read": 3, "write": 3, "exit_group": 1}, """
        (local $fd i32) (local $n i32)
        (local.set $fd (call $openat (i32.const -100) (i32.const 32) (i32.const 0) (i32.const 0)))
        (local.set $n (call $read (local.get $fd) (i32.const 256) (i32.const 100)))
        (drop (call $write (i32.const 1) (i32.const 256) (local.get $n)))""",
        data={32: b"/mnt/greeting\0"})
    (tmp_path / "cat.wasm").write_bytes(cat)
    assert main(["--ro-dir", f"{tmp_path}::/mnt", str(tmp_path / "cat.wasm")]) == 0
    assert capfd.readouterr().out == "hi from the mount\n"


def test_removing_the_private_workdir_never_changes_a_host_directory_outside_it(tmp_path):
    """Cleanup of a guest's private /tmp ran chmod 0700 on the parent of whatever path rmtree failed on:
    when the workdir itself failed (already gone, or a child still writing into it), that parent was the
    host's /tmp, and every other user of /tmp (apt's _apt user, for one) lost access to it."""
    from muslforge.wasm.mounts import remove_workdir

    base = tmp_path / "host-tmp"
    base.mkdir()
    base.chmod(0o1777)
    outside = tmp_path / "outside"
    outside.mkdir()
    outside.chmod(0o755)
    remove_workdir(str(base / "muslforge-guest-gone"))  # rmtree fails on the workdir itself
    assert base.stat().st_mode & 0o7777 == 0o1777

    workdir = base / "muslforge-guest-x"
    (workdir / "tmp" / "locked").mkdir(parents=True)
    (workdir / "tmp" / "locked" / "f").write_text("x")
    (workdir / "tmp" / "out").symlink_to(outside)  # a guest-made link to a host directory
    (workdir / "tmp" / "locked").chmod(0o500)
    remove_workdir(str(workdir))
    assert not workdir.exists()
    assert base.stat().st_mode & 0o7777 == 0o1777
    assert outside.stat().st_mode & 0o7777 == 0o755
