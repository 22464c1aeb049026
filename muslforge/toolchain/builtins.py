"""compiler-rt builtins (libclang_rt.builtins.a) for an arch: one way, for every arch.

The toolchain file pins one compiler-rt source (compiler_rt: a Debian llvm-toolchain orig tarball and its
sha256). `obtain_source` fetches it once with apt through a private deb-src list (the system's apt
configuration is left alone), checks the sha256 and unpacks into the cache only what compiler-rt's
standalone builtins build reads. `provide` builds the builtins for one arch with compiler-rt's own CMake
(Ninja, only the `builtins` target) in the toolchain's backend (the image, or the host), against that
arch's musl headers, and keeps the archive in the cache under a key of everything that decides its bytes,
with a sha256 sidecar checked each time it is used.
"""

from __future__ import annotations

import hashlib
import json
import os
import re
import shutil
import tarfile
import tempfile
import time
from pathlib import Path
from typing import Callable

from .. import lock, proc
from ..config.toolchain import CompilerRtSource, Toolchain
from ..errors import CommandFailed, MuslforgeError
from ..files import atomic_target, files_sha256, sha256_file, write_atomically
from ..progress import title

ARCHIVE_NAME = "libclang_rt.builtins.a"
RECIPE = 2  # bump when the CMake invocation below changes what it builds
# What the standalone builtins build reads from the source tree (and the licence that goes with it):
# without LLVM's CMake package, compiler-rt's CMake mocks it from llvm/cmake/; aarch64 needs siphash.
KEEP = ("cmake/", "llvm/cmake/", "compiler-rt/cmake/", "compiler-rt/lib/builtins/", "compiler-rt/LICENSE.TXT",
        "third-party/siphash/")
DONE = ".muslforge-source.json"   # written last into an unpacked source: its orig sha256 and tree digest
# Fixed names the source and build folders are mapped to in the archive's bytes (__FILE__ strings).
SOURCE_PREFIX = "/usr/src/compiler-rt"
BUILD_PREFIX = "/usr/src/compiler-rt-build"
APT_HELPER = "/usr/lib/apt/apt-helper"
# musl ships no kernel headers; clear_cache.c includes <linux/unistd.h> on riscv only for
# __NR_riscv_flush_icache, which musl's <sys/syscall.h> defines. Written into the build folder.
KERNEL_SHIM = Path("kernel-headers/linux/unistd.h")
KERNEL_SHIM_TEXT = "/* muslforge: the syscall numbers, from musl */\n#include <sys/syscall.h>\n"

Run = Callable[..., None]
Output = Callable[..., str]


class BuiltinsError(MuslforgeError):
    """The compiler-rt source could not be fetched or used, or its builtins could not be built."""


def upstream_version(pin: CompilerRtSource) -> str:
    """22.1.8 from llvm-toolchain-22_22.1.8.orig.tar.xz."""
    match = re.fullmatch(r"[^_]+_(.+)\.orig\.tar\.\w+", pin.orig)
    return match.group(1) if match else pin.version


def provenance(toolchain: Toolchain, built_with: dict | None) -> str:
    """Where an arch's builtins come from, for the release manifest."""
    pin = toolchain.compiler_rt
    where = (built_with or {}).get("image") or "on the host"
    where = where if where == "on the host" else f"in {where}"
    return (f"compiler-rt {upstream_version(pin)} ({pin.package}={pin.version}, {pin.orig} sha256 "
            f"{pin.sha256}) built with its CMake {where}")


# ------------------------------------------------------------------------------------------- source

def source_dir(cache: Path, pin: CompilerRtSource) -> Path:
    """cache/compiler-rt/<orig tarball name without .orig.tar.*>: the unpacked parts of one source."""
    return cache / "compiler-rt" / re.sub(r"\.orig\.tar\.\w+$", "", pin.orig)


def obtain_source(cache: Path, pin: CompilerRtSource, *, run: Run = proc.run, output: Output = proc.output) -> Path:
    """The unpacked source (verified), fetched and unpacked first if missing or not what was recorded."""
    target = source_dir(cache, pin)
    if source_verified(target, pin):
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    with lock.held(target.parent / f"{target.name}.lock", f"the {pin.package} source"):  # one fetch at a time
        if not source_verified(target, pin):
            orig = _download(target.parent / f".{pin.orig}.{os.getpid()}", pin, run, output)
            try:
                _unpack(orig, target, pin)
            finally:
                orig.unlink(missing_ok=True)
    return target


def source_verified(target: Path, pin: CompilerRtSource) -> bool:
    """True when target holds the unpacked pin, unchanged since it was unpacked."""
    try:
        recorded = json.loads((target / DONE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return (recorded.get("orig_sha256") == pin.sha256 and recorded.get("keep") == list(KEEP)
            and recorded.get("tree") == files_sha256(target, skip=DONE))


def _download(dest: Path, pin: CompilerRtSource, run: Run, output: Output) -> Path:
    """apt finds the orig tarball's URL in the suite's deb-src index; apt-helper fetches it, checking the
    pinned sha256 (and apt checked the index's signature)."""
    options = _private_apt(dest.parent / "apt", pin.suite)
    print(title("SOURCE", f"{pin.orig}: apt deb-src index of {pin.suite}"), flush=True)
    try:
        run(["apt-get", *options, "-q", "update"])
        listing = output(["apt-get", *options, "source", "--print-uris", f"{pin.package}={pin.version}"])
    except CommandFailed as failed:
        raise BuiltinsError(_apt_failed(pin, failed)) from None
    url, indexed = _orig_uri(listing, pin)
    if indexed != pin.sha256:
        raise BuiltinsError(f"the {pin.suite} deb-src index lists {pin.orig} with sha256 {indexed}, but "
                            f"toolchains pin {pin.sha256}. The pin or the archive changed; check the "
                            f"tarball and update compiler_rt: sha256 in the toolchain file.")
    print(title("FETCH", f"{pin.orig}"), flush=True)
    try:
        run([APT_HELPER, "-o", "APT::Sandbox::User=root", "download-file", url, str(dest), f"SHA256:{pin.sha256}"])
    except CommandFailed as failed:
        dest.unlink(missing_ok=True)
        raise BuiltinsError(f"downloading {url} failed ({_last_line(failed)}). Check the network and that "
                            f"the {pin.suite} pool still carries {pin.orig}, then run again.") from None
    return dest


def _private_apt(apt_dir: Path, suite: str) -> list[str]:
    """apt -o options for a private list: one deb-src entry for `suite` on this machine's main archive,
    read from the same apt sources the toolchain image is built from (image.apt_sources)."""
    from .image import apt_sources, binary_sources
    parts, lists = apt_dir / "sources.list.d", apt_dir / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    sources = apt_sources()
    try:
        deb822, one_line = binary_sources(sources)
    except OSError as exc:
        raise BuiltinsError(f"cannot read the apt sources {', '.join(map(str, sources))} ({exc.strerror}); "
                            f"muslforge derives the deb-src entry for the compiler-rt source from them.") from None
    entry = deb_src_entry(deb822, one_line, suite, ", ".join(map(str, sources)))
    (parts / "deb-src.sources").write_text(entry, encoding="utf-8")
    return ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={lists}", "-o", "APT::Sandbox::User=root"]


def deb_src_entry(deb822: str, one_line: str, suite: str, where: str) -> str:
    """A deb-src stanza for `suite` on the archive of the first binary entry (image.binary_sources's
    deb822 stanzas first, then its one-line `deb [options] URI suite ...` entries), keeping Signed-By."""
    for stanza in re.split(r"\n\s*\n", deb822):
        fields = dict(re.findall(r"(?m)^([A-Za-z-]+):[ \t]*(.*?)\s*$", stanza))
        if fields.get("URIs"):
            signed = f"Signed-By: {fields['Signed-By']}\n" if fields.get("Signed-By") else ""
            return f"Types: deb-src\nURIs: {fields['URIs'].split()[0]}\nSuites: {suite}\nComponents: main\n{signed}"
    for match in re.finditer(r"^deb\s+(?:\[([^\]]*)\]\s+)?(\S+)\s", one_line, re.M):
        signed = re.search(r"signed-by=(\S+)", match.group(1) or "")
        return (f"Types: deb-src\nURIs: {match.group(2)}\nSuites: {suite}\nComponents: main\n"
                + (f"Signed-By: {signed.group(1)}\n" if signed else ""))
    raise BuiltinsError(f"the apt sources ({where}) have no binary `deb` entry with a URI to derive the "
                        f"deb-src entry for the compiler-rt source from; configure apt, or name sources "
                        f"files with MUSLFORGE_APT_SOURCES.")


def _orig_uri(listing: str, pin: CompilerRtSource) -> tuple[str, str]:
    """(url, sha256) of the orig tarball in `apt-get source --print-uris` output."""
    for url, name, _size, checksum in re.findall(r"^'([^']+)' (\S+) (\d+) (\S+)$", listing, re.M):
        if name == pin.orig:
            return url, checksum.removeprefix("SHA256:").lower()
    raise BuiltinsError(f"apt-get source {pin.package}={pin.version} (suite {pin.suite}) lists no {pin.orig}. "
                        f"Update compiler_rt: in the toolchain file to a version the suite carries "
                        f"(apt-cache showsrc {pin.package}).")


def _apt_failed(pin: CompilerRtSource, failed: CommandFailed) -> str:
    return (f"apt could not find {pin.package}={pin.version} in the {pin.suite} deb-src index "
            f"({_last_line(failed)}). Check the network and that the suite still carries this version "
            f"(compiler_rt: in the toolchain file).")


def _last_line(failed: CommandFailed) -> str:
    text = str(failed).strip()
    return text.splitlines()[-1] if text else "no output"


def _unpack(orig: Path, target: Path, pin: CompilerRtSource) -> None:
    """Extract only KEEP from the orig tarball, safely (filter="data"), then rename into place."""
    if sha256_file(orig) != pin.sha256:  # checked again at use, not only at download
        raise BuiltinsError(f"{orig} does not have the pinned sha256 {pin.sha256}; it was removed, run again.")
    print(title("UNPACK", f"{pin.orig}: {', '.join(KEEP)}"), flush=True)
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        try:
            with tarfile.open(orig) as tar:
                for member in tar:
                    rel = _kept(member.name)
                    if rel is not None and (member.isfile() or member.isdir()):
                        member.name = rel
                        tar.extract(member, work, filter="data")
        except (tarfile.TarError, OSError, EOFError) as exc:
            raise BuiltinsError(f"{orig} ({pin.orig}) could not be unpacked: {exc}.") from None
        if not (work / "compiler-rt/lib/builtins/CMakeLists.txt").is_file():
            raise BuiltinsError(f"{pin.orig} has no compiler-rt/lib/builtins/CMakeLists.txt; is it an "
                                f"llvm-toolchain orig tarball? Fix compiler_rt: in the toolchain file.")
        record = {"orig": pin.orig, "orig_sha256": pin.sha256, "keep": list(KEEP), "tree": files_sha256(work, skip=DONE)}
        (work / DONE).write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
        os.chmod(work, 0o755)  # mkdtemp made it private; the container runs as the host's uid anyway
        shutil.rmtree(target, ignore_errors=True)
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _kept(name: str) -> str | None:
    """The member's path below the tarball's top folder if it is one of KEEP, else None."""
    _top, _, rest = name.partition("/")
    if ".." in rest.split("/") or not any(rest == k.rstrip("/") or rest.startswith(k) for k in KEEP):
        return None
    return rest.rstrip("/")


# -------------------------------------------------------------------------------------------- build

def cmake_argv(arch, toolchain: Toolchain, source: Path, build: Path, include: Path,
               programs: dict[str, str]) -> list[str]:
    """compiler-rt's CMake, standalone on lib/builtins, for `arch` only, against musl's headers.

    Linux arches get the hosted Linux build (as a distribution's libclang-rt); wasm32 the bare-metal one
    (no emutls, execute-stack or eprintf, which need a Linux kernel). PIC where the arch has libc.so.
    programs: the toolchain's ar, ranlib and nm by full path (CMake takes a bare name as a file in -B).
    """
    flags = " ".join([*arch.cflags, "-nostdlibinc", "-isystem", str(include),
                      "-isystem", str(build / KERNEL_SHIM.parent.parent),
                      f"-ffile-prefix-map={source}={SOURCE_PREFIX}", f"-ffile-prefix-map={build}={BUILD_PREFIX}"])
    defs = {"CMAKE_BUILD_TYPE": "Release", "CMAKE_SYSTEM_NAME": "Linux",
            "CMAKE_C_COMPILER": toolchain.cc, "CMAKE_CXX_COMPILER": toolchain.cxx,
            "CMAKE_ASM_COMPILER": toolchain.cc, "CMAKE_AR": programs[toolchain.ar],
            "CMAKE_RANLIB": programs[toolchain.ranlib], "CMAKE_NM": programs[toolchain.nm]}
    for language in ("C", "CXX", "ASM"):
        defs[f"CMAKE_{language}_COMPILER_TARGET"] = arch.triple
        defs[f"CMAKE_{language}_FLAGS"] = flags
    defs.update({"COMPILER_RT_DEFAULT_TARGET_ONLY": "ON", "COMPILER_RT_BUILD_CRT": "OFF",
                 "COMPILER_RT_INCLUDE_TESTS": "OFF",
                 "COMPILER_RT_BAREMETAL_BUILD": "ON" if arch.triple.startswith("wasm") else "OFF",
                 "COMPILER_RT_BUILTINS_ENABLE_PIC": "ON" if arch.shared else "OFF",
                 "CMAKE_DISABLE_FIND_PACKAGE_LLVM": "ON"})  # the same configure in the image and on a host
    return ["cmake", "-G", "Ninja", "-S", str(source / "compiler-rt" / "lib" / "builtins"), "-B", str(build),
            *(f"-D{key}={value}" for key, value in defs.items())]


def headers_argv(arch, tree: Path, dest: Path) -> list[str]:
    """musl's install-headers for `arch` without configure (it needs only ARCH and srcdir)."""
    return ["make", "-f", str(tree / "Makefile"), f"srcdir={tree}", f"ARCH={arch.musl_target}", "prefix=/",
            "includedir=/include", f"DESTDIR={dest}", "install-headers"]


def cache_key(arch, toolchain: Toolchain, backend: str, musl: str) -> str:
    """Everything that decides the archive's bytes: the recipe, the arch, the toolchain (its compiler-rt
    pin included), where it is built, and the musl tree whose headers it is compiled against."""
    values = [RECIPE, arch.fingerprint(), toolchain.fingerprint(), backend, musl]
    return hashlib.sha256(json.dumps(values).encode()).hexdigest()


def cached_path(cache: Path, toolchain: Toolchain, arch, key: str) -> Path:
    return cache / "builtins" / toolchain.name / f"{arch.name}-{key[:16]}.a"


def sidecar(archive: Path) -> Path:
    return archive.with_name(archive.name + ".sha256")


def cache_hit(archive: Path) -> bool:
    """The cached archive exists and still has the sha256 recorded when it was stored."""
    try:
        return sidecar(archive).read_text(encoding="utf-8").strip() == sha256_file(archive)
    except OSError:
        return False


def provide(arch, backend, *, tree: Path, musl: str, work: Path, out: Path, cache: Path,
            log: Path | None = None, jobs: int = 2) -> Path:
    """`out` gets the builtins for `arch`: from the cache when they are there and intact (no process
    runs), else built in `work`. musl names the patched tree (tarball sha256 and series digest)."""
    started = time.monotonic()
    toolchain = backend.toolchain
    cached = cached_path(cache, toolchain, arch, cache_key(arch, toolchain, backend.name, musl))
    how = "cached"
    if not cache_hit(cached):
        cached.parent.mkdir(parents=True, exist_ok=True)
        with lock.held(cached.with_name(cached.name + ".lock"), f"the {arch.name} builtins"):
            if not cache_hit(cached):  # another run may have built them while this one waited
                _build_into(cached, arch, backend, tree, work, cache, log, jobs)
                how = "built"
    _copy(cached, out)
    print(title("BUILTINS", f"{arch.name}: {how} {out} ({out.stat().st_size // 1024} KiB, "
                            f"{time.monotonic() - started:.1f} s, {backend.name} backend)"), flush=True)
    return out


def _build_into(cached: Path, arch, backend, tree: Path, work: Path, cache: Path, log: Path | None,
                jobs: int) -> None:
    """musl's headers, compiler-rt's CMake configure and build in work/ (one session), then the archive
    and its sha256 sidecar into the cache."""
    toolchain = backend.toolchain
    source = obtain_source(cache, toolchain.compiler_rt).resolve()  # a container mounts the real path
    shutil.rmtree(work, ignore_errors=True)
    build, include = work / "build", work / "sysroot" / "include"
    (work / "musl-obj").mkdir(parents=True)
    (build / KERNEL_SHIM).parent.mkdir(parents=True)
    (build / KERNEL_SHIM).write_text(KERNEL_SHIM_TEXT, encoding="utf-8")
    env = {"LC_ALL": "C"}
    with backend.session({tree: "ro", work: "rw", source: "ro"}) as session:
        session.run(headers_argv(arch, tree, work / "sysroot"), cwd=work / "musl-obj", log=log, env=env,
                    on_line=lambda line: None)
        programs = _full_paths(session, [toolchain.ar, toolchain.ranlib, toolchain.nm], build)
        step = "configure"
        try:
            session.run(cmake_argv(arch, toolchain, source, build, include, programs), cwd=build, log=log,
                        env=env, on_line=lambda line: None)
            step = "build"
            session.run(["ninja", f"-j{max(1, jobs)}", "builtins"], cwd=build, log=log, env=env,
                        on_line=lambda line: None)
        except CommandFailed as failed:
            raise BuiltinsError(_build_failed(step, arch, build, log, failed)) from None
    built = sorted(build.glob("lib/*/libclang_rt.builtins-*.a"))
    if len(built) != 1:
        raise BuiltinsError(f"compiler-rt's build for {arch.name} left {len(built)} builtins archives in "
                            f"{build}/lib (expected one); see {log}.")
    _copy(built[0], cached)
    write_atomically(sidecar(cached), sha256_file(cached) + "\n")
    shutil.rmtree(work, ignore_errors=True)


def _full_paths(session, names: list[str], cwd: Path) -> dict[str, str]:
    """{name: full path} where the session runs, from the shell's `command -v`."""
    status, out, _ = session.capture(["sh", "-c", 'for p; do command -v "$p" || echo "?$p"; done', "sh", *names],
                                     cwd=cwd)
    found = dict(zip(names, out.decode().split()))
    missing = [name for name, path in found.items() if not path.startswith("/")]
    if status != 0 or missing or len(found) != len(names):
        raise BuiltinsError(f"{', '.join(missing or names)} not found on PATH where the builtins are built; "
                            f"install the toolchain's LLVM tools (./setup.sh, or the toolchain image).")
    return found


def _build_failed(step: str, arch, build: Path, log: Path | None, failed: CommandFailed) -> str:
    where = f"{log} and {build}/CMakeFiles/" if step == "configure" else f"{log}"
    first = _first_error(log) or _last_line(failed)
    return (f"compiler-rt's CMake {step} of the builtins for {arch.name} ({arch.triple}) failed: {first}. "
            f"Full output: {where}. A flag in {arch.path or f'arches/{arch.name}.yaml'} (cflags) or the "
            f"toolchain's compiler may not suit compiler-rt; fix it and run again.")


def _first_error(log: Path | None) -> str:
    """The first compiler error line of the log, else its first CMake error line, else ""."""
    try:
        lines = log.read_text(encoding="utf-8", errors="replace").splitlines() if log else []
    except OSError:
        return ""
    found = next((line.strip() for line in lines if "error:" in line), "")  # the compiler's own words first
    found = found or next((line.strip() for line in lines if line.startswith("CMake Error")), "")
    return found[:300].rstrip(".:")


def _copy(source: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    with atomic_target(dest) as tmp:
        shutil.copyfile(source, tmp)
