"""`doit prune`: old toolchain images go, current ones and any a container uses stay. The test makes and
prunes its OWN throwaway images under a private repository prefix: other checkouts' muslforge/* images
on this daemon are never touched."""

from __future__ import annotations

import io
import tarfile
import uuid

import pytest

from muslforge import docker
from muslforge.toolchain import image

pytestmark = pytest.mark.docker


def _tiny_rootfs(path) -> None:
    with tarfile.open(path, "w") as tar:
        info = tarfile.TarInfo("hello.txt")
        data = b"throwaway\n"
        info.size = len(data)
        tar.addfile(info, io.BytesIO(data))


@pytest.fixture
def throwaway(tmp_path):
    prefix = f"muslforge-prune-test-{uuid.uuid4().hex[:8]}/"
    rootfs = tmp_path / "rootfs.tar"
    _tiny_rootfs(rootfs)
    made = []

    def make(tag: str, label: str) -> str:
        full = prefix + tag
        docker.import_rootfs(rootfs, full, {"test": label})  # a label apiece: distinct image ids
        made.append(full)
        return full

    yield prefix, make
    client = docker.client()
    for container in client.containers.list(all=True, filters={"label": f"prune-test={prefix}"}):
        container.remove(force=True)
    for tag in made:
        docker.remove_image(tag)


def test_prune_removes_old_images_and_keeps_current_and_used_ones(throwaway):
    prefix, make = throwaway
    current, old, used = make("llvm-22:current", "a"), make("llvm-22:old", "b"), make("llvm-19:used", "c")
    docker.client().containers.create(used, ["/hello.txt"], labels={"prune-test": prefix})
    removed, busy = image.prune_images({current}, prefix=prefix)
    assert (removed, busy) == ([old], [used])
    assert docker.image_exists(current) and docker.image_exists(used)
    assert not docker.image_exists(old)


def test_prune_removes_the_usr_copies_of_images_gone(throwaway, tmp_path, monkeypatch):
    prefix, make = throwaway
    monkeypatch.setenv("MUSLFORGE_CACHE", str(tmp_path / "cache"))
    current = docker.image_id(make("llvm-22:current", "a")).removeprefix("sha256:")[:16]
    kept, gone = (tmp_path / "cache" / "images" / f"llvm-22-usr-{n}" for n in (current, "0" * 16))
    for folder in (kept, gone):
        (folder / "bin").mkdir(parents=True)
    assert image.prune_usr_copies(prefix) == [gone]
    assert kept.is_dir() and not gone.exists()


def test_prune_task_is_wired_and_only_ever_asked_for():
    from muslforge.tasks import toolchain
    task = toolchain.prune_task()
    assert task["uptodate"] == [False]
    assert task["actions"][0][1][0] is toolchain.do_prune
