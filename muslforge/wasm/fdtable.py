"""The guest's file descriptor table.

Guest fds are virtual: each maps to an OpenFile (an open file description) that wraps either a host fd
(files, directories, pipes, opened through the sandbox) or a Python binary stream (fds 0/1/2). dup()
shares the OpenFile, so offsets and status flags are shared as on Linux; the host fd closes with the last
guest fd that refers to it. Streams are never closed: closing guest fd 1 does not close sys.stdout.
"""

from __future__ import annotations

import contextlib
import errno
import os
from typing import IO, Any

from . import abi
from .errors import Errno
from .namespace import Dir

MAX_FDS = 1024


class OpenFile:
    """One open file description: a host fd or a stream, its guest status flags, a directory cursor."""

    def __init__(self, *, flags: int, hostfd: int | None = None, stream: Any = None,
                 dir: Dir | None = None):
        self.flags = flags
        self.hostfd = hostfd
        self.stream = stream
        self.dir = dir              # a directory: where *at() calls on this fd start
        self.refs = 0
        self.dir_entries: list[tuple[int, int, bytes]] | None = None   # (ino, d_type, name)
        self.dir_pos = 0

    @property
    def is_dir(self) -> bool:
        return self.dir is not None

    def readinto(self, buffers: list[memoryview]) -> int:
        """Read straight into guest memory (readv semantics); nothing larger is allocated on the host."""
        if self._mode() == abi.O_WRONLY:
            raise Errno(errno.EBADF)
        if self.hostfd is not None:
            return os.readv(self.hostfd, buffers) if buffers else 0
        total = 0
        for buffer in buffers:
            count = self._stream_readinto(buffer)
            total += count
            if count < len(buffer):
                break
        return total

    def _stream_readinto(self, buffer: memoryview) -> int:
        reader = getattr(self.stream, "readinto1", None) or getattr(self.stream, "readinto", None)
        if reader is not None:
            return reader(buffer) or 0
        data = self.stream.read(len(buffer)) or b""
        buffer[:len(data)] = data
        return len(data)

    def writefrom(self, buffers: list[memoryview]) -> int:
        """Write guest memory in place (writev semantics)."""
        if self._mode() == abi.O_RDONLY:
            raise Errno(errno.EBADF)
        if self.hostfd is not None:
            return os.writev(self.hostfd, buffers) if buffers else 0
        data = b"".join(buffers)
        self.stream.write(data)
        self.stream.flush()
        return len(data)

    def isatty(self) -> bool:
        if self.hostfd is not None:
            return os.isatty(self.hostfd)
        try:
            return bool(self.stream.isatty())
        except (AttributeError, ValueError, OSError):
            return False

    def host_fileno(self) -> int | None:
        """The host fd behind this file, when there is one (streams with a real fileno() included)."""
        if self.hostfd is not None:
            return self.hostfd
        try:
            return self.stream.fileno()
        except (AttributeError, ValueError, OSError):
            return None

    def _mode(self) -> int:
        return self.flags & abi.O_ACCMODE

    def release(self) -> None:
        self.refs -= 1
        if self.refs == 0 and self.hostfd is not None:
            os.close(self.hostfd)
            self.hostfd = None
            self.dir = None


def binary_stream(stream: Any, fallback: IO[bytes]) -> Any:
    """The byte-level object behind a stream argument: a text stream's .buffer, or the stream itself."""
    if stream is None:
        stream = fallback
    if stream is not None and hasattr(stream, "buffer"):
        with contextlib.suppress(OSError, ValueError):    # stdin, or a closed stream
            stream.flush()                # text the host already printed comes first
        return stream.buffer
    return stream


class FdTable:
    """Guest fd -> OpenFile, plus the per-fd close-on-exec flag."""

    def __init__(self, stdin: Any, stdout: Any, stderr: Any):
        self.files: dict[int, OpenFile] = {}
        self.cloexec: set[int] = set()
        self.limit = MAX_FDS              # RLIMIT_NOFILE's soft limit (process.sys_prlimit64)
        for fd, stream, flags in ((0, stdin, 0), (1, stdout, abi.O_WRONLY), (2, stderr, abi.O_WRONLY)):
            if stream is not None:        # a daemon's missing sys.stdin: the fd is simply closed
                self.install(OpenFile(flags=flags, stream=stream), fd)

    def get(self, fd: int) -> OpenFile:
        try:
            return self.files[fd]
        except KeyError:
            raise Errno(errno.EBADF) from None

    def lowest_free(self, start: int = 0) -> int:
        if start >= self.limit:
            raise Errno(errno.EINVAL)
        fd = max(start, 0)
        while fd in self.files:
            fd += 1
        if fd >= self.limit:
            raise Errno(errno.EMFILE)
        return fd

    def install(self, file: OpenFile, fd: int, *, cloexec: bool = False) -> int:
        if fd in self.files:
            self.close(fd)
        file.refs += 1
        self.files[fd] = file
        (self.cloexec.add if cloexec else self.cloexec.discard)(fd)
        return fd

    def add(self, file: OpenFile, *, cloexec: bool = False, start: int = 0) -> int:
        return self.install(file, self.lowest_free(start), cloexec=cloexec)

    def close(self, fd: int) -> None:
        file = self.files.pop(fd, None)
        if file is None:
            raise Errno(errno.EBADF)
        self.cloexec.discard(fd)
        file.release()

    def close_all(self) -> None:
        for fd in list(self.files):
            self.close(fd)

    def flush(self) -> None:
        for file in self.files.values():
            if file.stream is not None:
                with contextlib.suppress(OSError, ValueError):
                    file.stream.flush()
