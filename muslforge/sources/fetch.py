"""Download a musl release into the cache, verified by its pinned sha256 and, when found, its signature.

Policy, in the order fetch() applies it:

- A file in the cache whose sha256 matches is used as is: no network at all (its signature is checked
  again only if a copy is cached too, or if a signature is required). A cached file that does not match
  is deleted and fetched again.
- Mirrors are tried in order: MUSLFORGE_MIRRORS (whitespace-separated base URLs) first, then the ones
  in sources/musl.yaml. One requests Session; urllib3 retries connection errors and 5xx with backoff.
- The body streams into <cache>/<file>.part. A connection that drops mid-body is resumed with a Range
  request (206 appends, 200 starts over, 416 means the .part is complete or useless), a few times per
  mirror as long as bytes keep arriving. That .part is the ONLY thing a failed fetch may leave in the
  cache, so that the next run resumes; it is a prefix of a mirror's bytes and is hashed before use.
- The sha256 is checked before anything is renamed into the cache; a mismatch deletes the download and
  the next mirror is tried.
- The signature (<file>.asc) comes from the same mirrors. A bad signature is fatal and leaves nothing
  behind; a missing one is a warning (or fatal with require_signature). A good one is cached as well.

Every failure is one FetchError or VerifyError naming the file, each URL tried with its result, and
what to do next. requests is imported only when the network is actually needed.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Iterable, Iterator, Sequence, TextIO

from .. import lock, progress
from ..config.musl import MuslRelease
from ..errors import FetchError, VerifyError
from ..files import commit, sha256_file
from .signature import check_signature

if TYPE_CHECKING:
    import requests

ENV_MIRRORS = "MUSLFORGE_MIRRORS"
ENV_BACKOFF = "MUSLFORGE_FETCH_BACKOFF"
DEFAULT_BACKOFF = 0.5          # seconds; retries wait 0, 1, 2 s (urllib3 doubles it)
ENV_TIMEOUT = "MUSLFORGE_FETCH_TIMEOUT"
RETRIES = 3                    # per request, for connection errors and 5xx
READ_RETRIES = 1               # a mirror that accepts and then says nothing gets one more chance
RESUMES = 3                    # Range requests per mirror after a dropped connection
TIMEOUT = (5.0, 15.0)          # connect, read (seconds): a silent mirror costs ~30 s, not minutes
CHUNK = 1 << 16
MAX_SIGNATURE_BYTES = 64 << 10
_RETRY_STATUSES = (500, 502, 503, 504)




def _bases(mirrors_first: Iterable[str], configured: Iterable[str]) -> list[str]:
    bases: list[str] = []
    for url in [*mirrors_first, *configured]:
        if not re.match(r"https?://[^/\s]+", url):
            raise FetchError(f"mirror '{url}' is not an http:// or https:// base URL; fix {ENV_MIRRORS} "
                             f"(whitespace-separated base URLs such as https://musl.libc.org/releases/).")
        base = url if url.endswith("/") else url + "/"
        if base not in bases:
            bases.append(base)
    return bases


def _settings_timeout(default: tuple[float, float]) -> tuple[float, float]:
    """The fetch_timeout setting (MUSLFORGE_FETCH_TIMEOUT, seconds) bounds connect and read timeouts."""
    from ..settings import current
    seconds = current().fetch_timeout
    return default if seconds is None else (min(default[0], seconds), seconds)


def _saying_retry(**kwargs):
    """urllib3's Retry, printing a line each time it retries (so a slow mirror is never silent).
    Defined here, not at module level: urllib3 is imported only when the network is needed."""
    from urllib3.util.retry import Retry

    class SayingRetry(Retry):
        def increment(self, method=None, url=None, response=None, error=None, _pool=None,
                      _stacktrace=None):
            new = super().increment(method, url, response, error, _pool, _stacktrace)
            cause = _reason(error) if error is not None else (
                f"HTTP {response.status}" if response is not None else "no answer")
            where = f"{_pool.scheme}://{_pool.host}:{_pool.port}{url or ''}" if _pool else (url or "")
            progress.summary(progress.title("RETRY", f"{where}: {cause}; trying again"))
            return new

    return SayingRetry(**kwargs)


def _settings_backoff() -> float:
    from ..settings import current
    return current().fetch_backoff


class _Net:
    """One requests Session with retries, created on first use so a cache hit needs no requests at all."""

    def __init__(self, backoff: float | None, timeout: tuple[float, float]):
        self.backoff = _settings_backoff() if backoff is None else backoff
        self.timeout = _settings_timeout(timeout)
        self._session: requests.Session | None = None

    @property
    def session(self) -> "requests.Session":
        if self._session is None:
            import requests
            from requests.adapters import HTTPAdapter

            retry = _saying_retry(total=RETRIES, connect=RETRIES, read=READ_RETRIES, status=RETRIES,
                          backoff_factor=self.backoff, status_forcelist=_RETRY_STATUSES,
                          allowed_methods=frozenset({"GET"}), raise_on_status=False,
                          respect_retry_after_header=False)
            session = requests.Session()
            session.mount("http://", HTTPAdapter(max_retries=retry))
            session.mount("https://", HTTPAdapter(max_retries=retry))
            session.headers.update({"User-Agent": "muslforge", "Accept-Encoding": "identity"})
            self._session = session
        return self._session

    def get(self, url: str, headers: dict[str, str] | None = None) -> "requests.Response":
        return self.session.get(url, headers=headers or {}, stream=True, timeout=self.timeout,
                                allow_redirects=True)

    def close(self) -> None:
        if self._session is not None:
            self._session.close()


def fetch(release: MuslRelease, *, cache: Path, mirrors_first: Sequence[str] = (),
          require_signature: bool = False, keyring: Path | None = None, backoff: float | None = None,
          timeout: tuple[float, float] = TIMEOUT, stream: TextIO | None = None) -> Path:
    """Return <cache>/<release.file>, downloading and verifying it if it is not cached yet.

    keyring is the armored release key (default: release.signing_key); backoff the retry backoff factor
    in seconds (default: $MUSLFORGE_FETCH_BACKOFF or 0.5); stream receives the summary and warnings.
    """
    _make_dir(cache)
    bases = _bases(mirrors_first, release.mirrors)
    # One run at a time per file: another waits, then finds the verified file in the cache.
    with lock.held(cache / (release.file + ".lock"), release.file, stream=stream):
        return _fetch_locked(release, cache, bases, require_signature, keyring, backoff, timeout, stream)


def _fetch_locked(release: MuslRelease, cache: Path, bases: list[str], require_signature: bool,
                  keyring: Path | None, backoff: float | None, timeout: tuple[float, float],
                  stream: TextIO | None) -> Path:
    target = cache / release.file
    net = _Net(backoff, timeout)
    try:
        fresh = not _cache_hit(target, release, stream)
        if fresh:
            tarball, origin = _download_tarball(net, release, cache, bases, stream)
        else:
            tarball, origin = target, "from cache"
        try:
            signature = _signature(net, release, tarball, cache, bases, keyring, require_signature, fresh,
                                   stream)
        except VerifyError:
            if fresh:
                tarball.unlink(missing_ok=True)
            raise
        if fresh:
            commit(tarball, target)
    finally:
        net.close()
    size = progress.human_bytes(target.stat().st_size)
    progress.summary(progress.title("FETCH", f"{release.file} {size} {origin}, sha256 ok, {signature}"),
                     stream=stream)
    return target


def _make_dir(cache: Path) -> None:
    try:
        cache.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise FetchError(f"cannot create the download cache {cache} ({exc.strerror}); "
                         f"set MUSLFORGE_CACHE to a writable directory.") from None


def _cache_hit(target: Path, release: MuslRelease, stream: TextIO | None) -> bool:
    if not target.is_file():
        return False
    if sha256_file(target) == release.sha256:
        return True
    target.unlink()
    progress.warn(f"{target} does not match its pinned sha256; deleted it and fetching it again.",
                  stream=stream)
    return False


# --- the tarball -------------------------------------------------------------------------------------


def _download_tarball(net: _Net, release: MuslRelease, cache: Path, bases: list[str],
                      stream: TextIO | None) -> tuple[Path, str]:
    """A sha256-verified <cache>/<file>.part and where it came from, or FetchError/VerifyError."""
    part = cache / (release.file + ".part")
    attempts: list[tuple[str, str]] = []
    for base in bases:
        url = base + release.file
        resumed = part.is_file()
        if attempts:
            progress.summary(progress.title("FETCH", f"{attempts[-1][0]}: {attempts[-1][1]}; trying {url}"),
                             stream=stream)
        seconds, note = _try_mirror(net, url, part, release, stream)
        if seconds is None and resumed and note.startswith("sha256 mismatch"):
            seconds, note = _try_mirror(net, url, part, release, stream)  # the old .part was bad: from zero
        if seconds is not None:
            return part, f"from {url} in {seconds:.1f} s"
        attempts.append((url, note))
    raise _tarball_failure(release, cache, part, attempts)


def _try_mirror(net: _Net, url: str, part: Path, release: MuslRelease, stream: TextIO | None
                ) -> tuple[float | None, str]:
    """(seconds, '') once part holds the verified file from url, else (None, what went wrong)."""
    counter = progress.Counter(progress.title("FETCH", release.file), unit="bytes", stream=stream)
    failure = _download_from(net, url, part, counter)
    counter.done()
    if failure is not None:
        return None, failure
    digest = sha256_file(part)
    if digest == release.sha256:
        return counter.elapsed(), ""
    part.unlink()
    return None, f"sha256 mismatch: got {digest}, pinned {release.sha256}; download deleted"


@dataclass(frozen=True, slots=True)
class _Round:
    """One GET: done (the body is complete), or a failure note and whether another round could help."""

    done: bool
    note: str = ""
    again: bool = False


def _download_from(net: _Net, url: str, part: Path, counter: progress.Counter) -> str | None:
    """None once part holds the whole body from url; otherwise what went wrong."""
    note = ""
    for _ in range(1 + RESUMES):
        outcome = _get_once(net, url, part, counter)
        if outcome.done:
            return None
        note = outcome.note
        if not outcome.again:
            break
    return note


def _get_once(net: _Net, url: str, part: Path, counter: progress.Counter) -> _Round:
    import requests

    have = part.stat().st_size if part.is_file() else 0
    try:
        response = net.get(url, {"Range": f"bytes={have}-"} if have else None)
    except requests.exceptions.RequestException as exc:
        return _Round(False, _reason(exc))
    with response:
        if response.status_code == 416 and have:
            return _range_not_satisfiable(response, have, part)
        if response.status_code == 206 and have and _range_start(response) == have:
            mode = "ab"
        elif response.status_code == 200:
            mode = "wb"
        else:
            return _Round(False, _status(response))
        already = have if mode == "ab" else 0
        length = response.headers.get("Content-Length", "")
        counter.total = int(length) + already if length.isdigit() else None
        counter.count = already
        return _receive(response, part, mode, counter)


def _receive(response: "requests.Response", part: Path, mode: str, counter: progress.Counter) -> _Round:
    received = 0
    try:
        with open(part, mode) as handle:
            for chunk in _chunks(response):
                _write(handle, chunk, part)
                received += len(chunk)
                counter.step(len(chunk))
    except _Dropped as dropped:
        size = part.stat().st_size if part.is_file() else 0
        if size == 0:
            part.unlink(missing_ok=True)
            return _Round(False, f"connection lost before any data ({dropped})")
        return _Round(False, f"connection lost after {progress.human_bytes(size)} ({dropped}); "
                             f"kept {part.name} to resume", again=received > 0)
    return _Round(True)


class _Dropped(Exception):
    """The connection failed while the body was being read."""


def _chunks(response: "requests.Response") -> Iterator[bytes]:
    import requests
    import urllib3

    try:
        yield from response.raw.stream(CHUNK, decode_content=False)
    except (requests.exceptions.RequestException, urllib3.exceptions.HTTPError, OSError) as exc:
        raise _Dropped(_reason(exc)) from None


def _write(handle, chunk: bytes, part: Path) -> None:
    try:
        handle.write(chunk)
    except OSError as exc:
        raise FetchError(f"cannot write {part} ({exc.strerror}); free some space or set MUSLFORGE_CACHE "
                         f"to another directory.") from None


def _range_start(response: "requests.Response") -> int | None:
    match = re.match(r"bytes (\d+)-", response.headers.get("Content-Range", ""))
    return int(match.group(1)) if match else None


def _range_not_satisfiable(response: "requests.Response", have: int, part: Path) -> _Round:
    """416: the .part is already whole (same size as the file) or cannot be resumed (start over)."""
    match = re.fullmatch(r"bytes \*/(\d+)", response.headers.get("Content-Range", "").strip())
    if match and int(match.group(1)) == have:
        return _Round(True)
    part.unlink()
    return _Round(False, "HTTP 416: could not resume the partial download; discarded it", again=True)


def _status(response: "requests.Response") -> str:
    text = f"HTTP {response.status_code} {response.reason or ''}".rstrip()
    if response.status_code in _RETRY_STATUSES:
        text += f" (after {RETRIES} retries)"
    if response.status_code == 206:
        text += f" with an unexpected Content-Range '{response.headers.get('Content-Range', '')}'"
    return text


def _reason(exc: BaseException) -> str:
    """A short cause for a network exception: 'connection refused', 'timed out', 'TLS: ...'."""
    import requests

    if isinstance(exc, requests.exceptions.ConnectTimeout):
        return "connection timed out"
    if isinstance(exc, requests.exceptions.SSLError):
        return f"TLS error ({_innermost(exc)})"
    if "timed out" in str(exc).lower() or isinstance(exc, (requests.exceptions.Timeout, TimeoutError)):
        return "timed out waiting for data"
    cause = _innermost(exc)
    return f"connection failed: {cause}" if cause else f"connection failed ({type(exc).__name__})"


def _innermost(exc: BaseException) -> str:
    """The strerror of the deepest OSError behind requests' and urllib3's wrappers (or its text)."""
    seen: list[BaseException] = []
    todo: list[BaseException | None] = [exc]
    while todo:
        current = todo.pop()
        if current is None or current in seen:
            continue
        seen.append(current)
        strerror = getattr(current, "strerror", None)
        if isinstance(strerror, str) and strerror:
            return strerror.lower() if strerror[:1].isupper() and " " in strerror else strerror
        todo += [current.__cause__, current.__context__, getattr(current, "reason", None)]
        todo += [arg for arg in getattr(current, "args", ()) if isinstance(arg, BaseException)]
    last = seen[-1]
    return str(last).split(": ")[-1] if str(last) else type(last).__name__


def _tarball_failure(release: MuslRelease, cache: Path, part: Path,
                     attempts: list[tuple[str, str]]) -> Exception:
    tried = "\n".join(f"  {url}: {result}" for url, result in attempts) or "  (no mirrors configured)"
    kept = (f"\n{part} holds {progress.human_bytes(part.stat().st_size)} received so far; the next run "
            f"resumes it." if part.is_file() else "")
    advice = (f"\nWhat to do: put a mirror that serves {release.file} first with {ENV_MIRRORS}=\"<base URL> "
              f"...\" (whitespace-separated base URLs), or copy a file with sha256 {release.sha256} to "
              f"{cache / release.file}.")
    mismatch = any("sha256 mismatch" in result for _, result in attempts)
    if mismatch:
        return VerifyError(f"{release.file}: no mirror served the release pinned in sources/musl.yaml "
                           f"(a corrupt or tampered copy was refused and deleted):\n{tried}{kept}{advice}")
    return FetchError(f"{release.file}: could not be downloaded from any mirror:\n{tried}{kept}{advice}")


# --- the signature -----------------------------------------------------------------------------------


def _signature(net: _Net, release: MuslRelease, tarball: Path, cache: Path, bases: list[str],
               keyring: Path | None, require: bool, fresh: bool, stream: TextIO | None) -> str:
    """Check tarball against its detached signature; return the summary's word on it."""
    if not release.signature:
        if require:
            raise VerifyError(f"{release.file}: a signature is required but sources/musl.yaml names no "
                              f"signature file for {release.name}.")
        return "no signature listed"
    key = keyring or release.signing_key
    if key is None:
        raise VerifyError(f"{release.file}: no signing key given to check {release.signature} with.")
    cached = cache / release.signature
    if cached.is_file():
        if check_signature(tarball, cached, key, release.signer).ok:
            return "signature ok"
        cached.unlink()  # a stale or damaged copy: fetch it again below
    if not fresh and not require:
        return f"signature not checked (no {release.signature} in the cache)"
    return _download_signature(net, release, tarball, cached, bases, key, require, fresh, stream)


def _download_signature(net: _Net, release: MuslRelease, tarball: Path, cached: Path, bases: list[str],
                        key: Path, require: bool, fresh: bool, stream: TextIO | None) -> str:
    part = cached.with_name(cached.name + ".part")
    attempts: list[tuple[str, str]] = []
    for base in bases:
        url = base + release.signature  # type: ignore[operator]
        failure = _download_small(net, url, part)
        if failure is not None:
            attempts.append((url, failure))
            continue
        check = check_signature(tarball, part, key, release.signer)
        if check.ok:
            commit(part, cached)
            return "signature ok"
        part.unlink()
        raise _bad_signature(release, url, check.detail, fresh)
    tried = "; ".join(f"{url}: {result}" for url, result in attempts) or "no mirrors configured"
    if require:
        raise VerifyError(f"{release.file}: a signature is required but {release.signature} could not be "
                          f"downloaded:\n" + "\n".join(f"  {u}: {r}" for u, r in attempts)
                          + f"\nWhat to do: put a mirror that has it first with {ENV_MIRRORS}, or drop the "
                          f"requirement (MUSLFORGE_REQUIRE_SIGNATURE) to rely on the pinned sha256.")
    progress.warn(f"no signature for {release.file} ({tried}); relying on the sha256 pinned in "
                  f"sources/musl.yaml.", stream=stream)
    return "signature missing"


def _download_small(net: _Net, url: str, part: Path) -> str | None:
    """Fetch a small file (a signature) into part; None on success, else what went wrong."""
    import requests

    try:
        with net.get(url) as response:
            if response.status_code != 200:
                return _status(response)
            data = b""
            for chunk in _chunks(response):
                data += chunk
                if len(data) > MAX_SIGNATURE_BYTES:
                    return f"larger than {progress.human_bytes(MAX_SIGNATURE_BYTES)}; not a signature"
    except requests.exceptions.RequestException as exc:
        return _reason(exc)
    except _Dropped as dropped:
        return f"connection lost ({dropped})"
    part.write_bytes(data)
    return None


def _bad_signature(release: MuslRelease, url: str, detail: str, fresh: bool) -> VerifyError:
    kept = ("Neither file was kept in the cache." if fresh
            else "The cached tarball matches its pinned sha256; the signature was not kept.")
    return VerifyError(f"{release.file}: BAD signature: {url} does not verify against musl's release key "
                       f"{release.signer or ''} (gpgv: {detail}). {kept} Do not build from this mirror; "
                       f"report it, and put a trusted mirror first with {ENV_MIRRORS}.")
