"""Shared fixtures: the real musl tarballs, and a loopback HTTP mirror that can be told to misbehave.

`mirror` serves a temporary folder on 127.0.0.1 (port chosen by the OS). Per file it can be scripted:

    mirror.add(path_to_file)                  # copy a file into the served folder
    mirror.script("musl-1.2.6.tar.gz", "500", "500")   # the next two GETs fail, then normal service
    mirror.script(name, "truncate")           # send the headers and half the body, then hang up
    mirror.always(name, "corrupt")            # every GET serves the file with one byte flipped
    mirror.requests                           # [(path, Range header or None), ...] seen so far

Actions: ok, 500, 404, truncate, corrupt, norange (200 with the whole file even when a Range was asked),
slow (the body in 20 pieces, 0.1 s apart), hang (accept, read the request, never answer).
Range requests (bytes=N-) are honoured with 206, or 416 when N is past the end.
"""

from __future__ import annotations

import http.server
import os
import shutil
import socket
import threading
import time
from collections import deque
from pathlib import Path

import pytest

CHECKOUT = Path(__file__).resolve().parent.parent
MUSL_FILES = ("musl-1.2.6.tar.gz", "musl-1.2.5.tar.gz", "musl-1.2.5.tar.gz.asc", "musl-signing-key.asc")


def pytest_configure(config) -> None:
    config.addinivalue_line("markers", "integration: real HTTP on loopback, gpgv and other real tools "
                                       "(fast; no Docker, no internet)")


@pytest.fixture(scope="session")
def musl_tarballs() -> Path:
    """Upstream's musl tarballs: $MUSLFORGE_TEST_TARBALLS, build/test-tarballs (./setup.sh --tests fills
    it from Debian's source packages), or ../shared/musl on the project's own machines."""
    named = os.environ.get("MUSLFORGE_TEST_TARBALLS")
    candidates = [Path(named)] if named else []
    candidates += [CHECKOUT / "build" / "test-tarballs", CHECKOUT.parent / "shared" / "musl"]
    for folder in candidates:
        if all((folder / name).is_file() for name in MUSL_FILES):
            return folder
    pytest.fail(f"the real musl tarballs ({', '.join(MUSL_FILES)}) were not found in "
                f"{' or '.join(str(c) for c in candidates)}; set MUSLFORGE_TEST_TARBALLS to a folder that "
                f"holds them (./setup.sh --tests fetches them into build/test-tarballs).", pytrace=False)


class MirrorServer:
    """A scripted static file server; see the module docstring."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[tuple[str, str | None]] = []
        self._scripts: dict[str, deque[str]] = {}
        self._always: dict[str, str] = {}
        self._lock = threading.Lock()
        self.hung = threading.Event()  # set to release requests held by the 'hang' action
        self._httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _handler_for(self))
        self._httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._httpd.server_address[1]}/"
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.02,), daemon=True)
        self._thread.start()

    def add(self, source: Path, name: str | None = None) -> Path:
        target = self.root / (name or source.name)
        shutil.copyfile(source, target)
        return target

    def script(self, name: str, *actions: str) -> None:
        with self._lock:
            self._scripts.setdefault(name, deque()).extend(actions)

    def always(self, name: str, action: str) -> None:
        self._always[name] = action

    def hits(self, name: str) -> list[str | None]:
        """The Range header of each request for name (None when there was none)."""
        return [rng for path, rng in self.requests if path == "/" + name]

    def next_action(self, name: str) -> str:
        with self._lock:
            queue = self._scripts.get(name)
            if queue:
                return queue.popleft()
        return self._always.get(name, "ok")

    def close(self) -> None:
        self.hung.set()
        self._httpd.shutdown()
        self._httpd.server_close()


def _handler_for(server: MirrorServer):
    class Handler(http.server.BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args) -> None:  # keep test output clean
            pass

        def do_GET(self) -> None:  # noqa: N802 (http.server's naming)
            rng = self.headers.get("Range")
            server.requests.append((self.path, rng))
            name = self.path.lstrip("/")
            action = server.next_action(name)
            path = server.root / name
            if action == "hang":
                return server.hung.wait(60)
            if action in ("500", "404") or not path.is_file():
                return self._empty(500 if action == "500" else 404)
            data = path.read_bytes()
            if action == "corrupt":
                data = data[:100] + bytes([data[100] ^ 0xFF]) + data[101:]
            start = _range_start(rng) if action != "norange" else None
            if start is not None and start >= len(data):
                return self._empty(416, {"Content-Range": f"bytes */{len(data)}"})
            if start is not None:
                body = data[start:]
                self._send(206, body, {"Content-Range": f"bytes {start}-{len(data) - 1}/{len(data)}"},
                           truncate=action == "truncate")
            else:
                self._send(200, data, {}, truncate=action == "truncate", slow=action == "slow")

        def _empty(self, code: int, headers: dict[str, str] | None = None) -> None:
            self.send_response(code)
            for key, value in (headers or {}).items():
                self.send_header(key, value)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def _send(self, code: int, body: bytes, headers: dict[str, str], truncate: bool,
                  slow: bool = False) -> None:
            self.send_response(code)
            for key, value in headers.items():
                self.send_header(key, value)
            self.send_header("Content-Type", "application/octet-stream")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if truncate:
                self.wfile.write(body[: len(body) // 2])
                self.wfile.flush()
                self.close_connection = True
                self.connection.shutdown(socket.SHUT_RDWR)
                return
            if slow:
                piece = len(body) // 20 + 1
                for start in range(0, len(body), piece):
                    self.wfile.write(body[start:start + piece])
                    self.wfile.flush()
                    time.sleep(0.1)
                return
            self.wfile.write(body)

    return Handler


def _range_start(header: str | None) -> int | None:
    if not header or not header.startswith("bytes=") or not header.endswith("-"):
        return None
    return int(header[len("bytes="):-1])


@pytest.fixture
def mirror(tmp_path_factory):
    """A fresh loopback mirror serving an empty temporary folder."""
    server = MirrorServer(tmp_path_factory.mktemp("mirror"))
    yield server
    server.close()


@pytest.fixture
def closed_port_url() -> str:
    """A loopback base URL on which nothing listens (connections are refused)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}/"
