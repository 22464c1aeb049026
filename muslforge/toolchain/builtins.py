"""compiler-rt builtins (libclang_rt.builtins) for an arch: host-installed, from a Debian package, or built.

Debian's libclang-rt-NN-dev packages are not co-installable across arches, so for a foreign arch the
package is downloaded with `apt-get download` and unpacked into the cache with `dpkg-deb -x` (never
installed). Where Debian ships no builtins for an arch (riscv64, loong64: no package in bookworm;
s390x, mips64el: the package leaves the builtins out) the toolchain maps the arch to `source`, and
`doit build:<arch>` compiles them from Debian's llvm-toolchain source package (build_from_source).
"""

from __future__ import annotations

import os
import re
import shutil
import tarfile
import tempfile
from pathlib import Path
from typing import Callable

from .. import lock, proc
from ..errors import CommandFailed, MuslforgeError
from ..files import commit

SOURCE = "source"  # a builtins_debs value: no usable package, build from compiler-rt source

# The source package compiled for arches mapped to `source`. LLVM 22's orig tarball is not on the
# mirror (404), LLVM 19's is; its builtins link fine with clang-22 objects.
COMPILER_RT_PACKAGE = "llvm-toolchain-19"
COMPILER_RT_VERSION = "1:19.1.7-3~deb12u1"
BUILTINS_SUBDIR = "compiler-rt/lib/builtins"
ARCHIVE_NAME = "libclang_rt.builtins.a"

Run = Callable[..., None]
Output = Callable[..., str]


class BuiltinsMissing(MuslforgeError):
    """No compiler-rt builtins archive could be found or fetched for an arch."""


# ---------------------------------------------------------------------------------------------- locate

def locate(toolchain, arch, cache: Path, *, run: Run = proc.run, output: Output = proc.output) -> Path:
    """The builtins archive for `arch`: builtins_dirs first, then the toolchain's package for the arch."""
    found = toolchain.builtins_path(arch.builtins)
    if found is not None:
        return found
    package = toolchain.builtins_deb(arch.debian_arch) if arch.debian_arch else None
    if package is None:
        raise BuiltinsMissing(_not_mapped_message(toolchain, arch))
    if package == SOURCE:
        raise BuiltinsMissing(
            f"{arch.builtins} for {arch.name} is compiled from compiler-rt source (Debian ships no builtins "
            f"for {arch.debian_arch}) inside `doit build:{arch.name}`; there is no file to locate first.")
    return _from_package(package, arch, cache, run=run, output=output)


def provenance(toolchain, arch) -> str:
    """Where an arch's builtins come from, for the release manifest and the image labels."""
    package = toolchain.builtins_deb(arch.debian_arch) if arch.debian_arch else None
    if package == SOURCE:
        return f"compiled from {COMPILER_RT_PACKAGE}={COMPILER_RT_VERSION} {BUILTINS_SUBDIR} at build time"
    if package:
        name, _, version = package.partition("=")
        return f"{name}:{arch.debian_arch}={version}" if version else f"{name}:{arch.debian_arch}"
    return f"{arch.builtins} from the toolchain's builtins_dirs ({', '.join(toolchain.builtins_dirs)})"


def package_dir(cache: Path, package: str, debian_arch: str) -> Path:
    """cache/builtins/<package>[_<version>]_<debian_arch>: one unpacked .deb."""
    name, _, version = package.partition("=")
    stem = f"{name}_{version.replace(':', '%3a')}" if version else name
    return cache / "builtins" / f"{stem}_{debian_arch}"


def _from_package(package: str, arch, cache: Path, *, run: Run, output: Output) -> Path:
    target = package_dir(cache, package, arch.debian_arch)
    if not target.is_dir():
        _check_dpkg_arch(arch, output)
        _download_and_unpack(package, arch, target, run)
    found = _find_file(target, arch.builtins)
    if found is None:
        raise BuiltinsMissing(
            f"{package} for {arch.debian_arch} (unpacked in {target}) holds no {arch.builtins}; the "
            f"toolchain should map {arch.debian_arch} to another package or to 'source' in builtins_debs, "
            f"then run: rm -rf {target}"
        )
    return found


def _check_dpkg_arch(arch, output: Output) -> None:
    native = output(["dpkg", "--print-architecture"]).split()
    foreign = output(["dpkg", "--print-foreign-architectures"]).split()
    if arch.debian_arch not in native + foreign:
        raise BuiltinsMissing(
            f"the builtins for {arch.name} come from a Debian {arch.debian_arch} package, but dpkg does "
            f"not know the {arch.debian_arch} architecture. Enable it (this installs nothing) with: "
            f"dpkg --add-architecture {arch.debian_arch} && apt-get update"
        )


def _download_and_unpack(package: str, arch, target: Path, run: Run) -> None:
    """apt-get download into a temp dir, dpkg-deb -x, then rename the whole dir into place."""
    name, _, version = package.partition("=")
    spec = f"{name}:{arch.debian_arch}" + (f"={version}" if version else "")
    target.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        download = work / "download"
        download.mkdir()
        os.chmod(work, 0o755)
        os.chmod(download, 0o777)  # apt-get download hands the file to the _apt user
        try:
            run(["apt-get", "download", spec], cwd=download)
        except CommandFailed as failed:
            raise BuiltinsMissing(_download_failed_message(spec, arch, failed)) from None
        debs = sorted(download.glob("*.deb"))
        if len(debs) != 1:
            raise BuiltinsMissing(f"apt-get download {spec} left {len(debs)} .deb files in {download}; "
                                  f"expected exactly one. Run it by hand to see why.")
        unpacked = work / "root"
        run(["dpkg-deb", "-x", debs[0], unpacked])
        shutil.rmtree(download)
        os.replace(unpacked, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _download_failed_message(spec: str, arch, failed: CommandFailed) -> str:
    last = str(failed).strip().splitlines()[-1] if str(failed).strip() else ""
    return (f"apt-get download {spec} failed ({last}). The package index for {arch.debian_arch} is "
            f"probably missing or stale; refresh it with: dpkg --add-architecture {arch.debian_arch} && "
            f"apt-get update  (then check it exists: apt-cache policy {spec.split('=')[0]}).")


def _find_file(root: Path, file_name: str) -> Path | None:
    matches = sorted(p for p in root.rglob(file_name) if p.is_file())
    return matches[0] if matches else None


def _not_mapped_message(toolchain, arch) -> str:
    dirs = ", ".join(toolchain.builtins_dirs) or "(none)"
    where = (f"builtins_debs names no package for Debian arch '{arch.debian_arch}'"
             if arch.debian_arch else f"arches/{arch.name}.yaml sets no debian_arch")
    return (f"{arch.builtins} for {arch.name} is not in the toolchain's builtins_dirs ({dirs}) and "
            f"{where}. Add `{arch.debian_arch or '<debian arch>'}: <package>` (or `: source`) under "
            f"builtins_debs in toolchains/{toolchain.name}.yaml, or install the file into one of "
            f"builtins_dirs.")


# ------------------------------------------------------------------------------ compiler-rt source

def compiler_rt_source_dir(cache: Path, package: str = COMPILER_RT_PACKAGE,
                           version: str = COMPILER_RT_VERSION) -> Path:
    """Where obtain_compiler_rt_source leaves compiler-rt/lib/builtins (its CMakeLists.txt marks it done)."""
    return cache / "compiler-rt" / f"{package}_{version.replace(':', '%3a')}" / "builtins"


def obtain_compiler_rt_source(cache: Path, *, run: Run = proc.run,
                              sources_file: Path = Path("/etc/apt/sources.list.d/debian.sources"),
                              package: str = COMPILER_RT_PACKAGE, version: str = COMPILER_RT_VERSION) -> Path:
    """compiler-rt/lib/builtins of the pinned source package, unpacked once into the cache.

    apt runs with a private source list (deb-src twins of the system's `deb` entries) and private
    index lists under the cache, so the system's apt configuration is left untouched; apt checks the
    tarball against the signed .dsc. Only the builtins folder is extracted from the orig tarball.
    """
    target = compiler_rt_source_dir(cache, package, version)
    base = target.parent
    if (target / "CMakeLists.txt").is_file():
        return target
    base.mkdir(parents=True, exist_ok=True)
    with lock.held(base / "lock", f"the {package} {version} source"):  # runs sharing the cache take turns
        if not (target / "CMakeLists.txt").is_file():
            _download_compiler_rt(target, run, sources_file, package, version)
    return target


def _download_compiler_rt(target: Path, run: Run, sources_file: Path, package: str, version: str) -> None:
    base = target.parent
    apt_dir = base / "apt"
    options = _private_apt(apt_dir, sources_file)
    run(["apt-get", *options, "update"])
    download = base / "download"
    download.mkdir(parents=True, exist_ok=True)
    os.chmod(download, 0o777)
    run(["apt-get", *options, "source", "--download-only", f"{package}={version}"], cwd=download)
    origs = sorted(download.glob("*.orig.tar.*"))
    if not origs:
        raise BuiltinsMissing(f"apt-get source {package}={version} left no .orig.tar.* in {download}. "
                              f"Check that the mirror carries it: apt-get source --download-only "
                              f"{package}={version} (needs deb-src entries).")
    _extract_builtins(origs[0], target)
    shutil.rmtree(download)  # 165 MB of tarball; only the builtins folder is kept


def _private_apt(apt_dir: Path, sources_file: Path) -> list[str]:
    """apt -o options for a private deb-src list derived from the system's deb822 sources file."""
    parts = apt_dir / "sources.list.d"
    lists = apt_dir / "lists"
    (lists / "partial").mkdir(parents=True, exist_ok=True)
    parts.mkdir(parents=True, exist_ok=True)
    try:
        text = sources_file.read_text(encoding="utf-8")
    except OSError as exc:
        raise BuiltinsMissing(f"cannot read {sources_file} ({exc.strerror}) to derive deb-src entries for "
                              f"the compiler-rt source. Pass sources_file= with your deb822 sources.") from None
    (parts / "deb-src.sources").write_text(deb_src_entries(text), encoding="utf-8")
    return ["-o", "Dir::Etc::SourceList=/dev/null", "-o", f"Dir::Etc::SourceParts={parts}",
            "-o", f"Dir::State::Lists={lists}"]


def deb_src_entries(deb822: str) -> str:
    """The deb822 stanzas of a sources file with `Types: deb` turned into `Types: deb-src`."""
    return re.sub(r"(?im)^Types:[ \t]*deb[ \t]*$", "Types: deb-src", deb822)


def _extract_builtins(orig: Path, target: Path) -> None:
    """Extract only */compiler-rt/lib/builtins/ from the orig tarball, safely, then rename into place."""
    work = Path(tempfile.mkdtemp(prefix=".builtins.", dir=target.parent))
    try:
        with tarfile.open(orig) as tar:
            for member in tar:
                rel = _builtins_relpath(member.name)
                if rel is None or not (member.isfile() or member.isdir()):
                    continue
                member.name = rel
                tar.extract(member, work, filter="data")
        if not (work / "CMakeLists.txt").is_file():
            raise BuiltinsMissing(f"{orig} has no {BUILTINS_SUBDIR}/CMakeLists.txt; is it an llvm-toolchain "
                                  f"orig tarball?")
        os.chmod(work, 0o755)  # mkdtemp made it private
        os.replace(work, target)
    finally:
        shutil.rmtree(work, ignore_errors=True)


def _builtins_relpath(name: str) -> str | None:
    top, _, rest = name.partition("/")
    prefix = BUILTINS_SUBDIR + "/"
    if not rest.startswith(prefix) or ".." in rest.split("/"):
        return None
    rel = rest[len(prefix):].rstrip("/")
    return rel or None


# ------------------------------------------------------------------------------------ build_from_source

# Per arch family (first part of the triple): extra sources as in compiler-rt's CMakeLists.txt, and
# whether the arch's long double is IEEE quad (the *tf* routines).
_ARCH_SOURCES: dict[str, tuple[str, ...]] = {
    "x86_64": ("cpu_model/x86.c", "i386/fp_mode.c", "x86_64/floatdidf.c", "x86_64/floatdisf.c",
               "x86_64/floatundidf.S", "x86_64/floatundisf.S", "x86_64/floatdixf.c",
               "x86_64/floatundixf.S"),
    "riscv64": ("riscv/fp_mode.c", "riscv/save.S", "riscv/restore.S", "riscv/muldi3.S"),
    "riscv32": ("riscv/fp_mode.c", "riscv/save.S", "riscv/restore.S", "riscv/mulsi3.S"),
    "loongarch64": ("loongarch/fp_mode.c",),
    "powerpc64": ("ppc/divtc3.c", "ppc/fixtfdi.c", "ppc/fixunstfdi.c", "ppc/floatditf.c",
                  "ppc/floatunditf.c", "ppc/gcc_qadd.c", "ppc/gcc_qdiv.c", "ppc/gcc_qmul.c",
                  "ppc/gcc_qsub.c", "ppc/multc3.c", "ppc/floattitf.c", "ppc/fixtfti.c", "ppc/fixunstfti.c"),
}
_ARCH_SOURCES["powerpc64le"] = _ARCH_SOURCES["powerpc64"]
_TF_FAMILIES = {"x86_64", "riscv64", "riscv32", "loongarch64", "mips64", "mips64el", "s390x", "aarch64"}
_X86_80_BIT = ("divxc3.c", "extendxftf2.c", "fixxfdi.c", "fixxfti.c", "fixunsxfdi.c", "fixunsxfsi.c",
               "fixunsxfti.c", "floatdixf.c", "floattixf.c", "floatundixf.c", "floatuntixf.c", "mulxc3.c",
               "powixf2.c", "trunctfxf2.c")
# Left out on purpose: the Linux extras compiler-rt adds outside its generic list (clear_cache.c needs
# kernel headers musl does not ship; emutls.c, enable_execute_stack.c, eprintf.c and
# gcc_personality_v0.c serve emulated TLS, trampolines, old gcc and C exceptions, none used here).
_NOT_ON_LINUX = {"apple_versioning.c", "os_version_check.c"}
_FAMILY_FLAGS = {"riscv32": ("-fforce-enable-int128",)}


def builtins_sources(builtins_dir: Path, triple: str) -> list[str]:
    """The sorted source list (relative to builtins_dir) compiler-rt would build for `triple` on Linux."""
    family = triple.split("-", 1)[0]
    text = (builtins_dir / "CMakeLists.txt").read_text(encoding="utf-8")
    generic = [s for s in _cmake_list(text, "GENERIC_SOURCES") if s not in _NOT_ON_LINUX]
    chosen = list(generic)
    if family in _TF_FAMILIES:
        chosen += _cmake_list(text, "GENERIC_TF_SOURCES")
    if family == "x86_64":
        chosen += _X86_80_BIT
    specific = _ARCH_SOURCES.get(family, ())
    replaced = {Path(s).stem for s in specific}
    chosen = [s for s in chosen if Path(s).stem not in replaced] + list(specific)
    missing = [s for s in chosen if not (builtins_dir / s).is_file()]
    if missing:
        raise BuiltinsMissing(f"{builtins_dir} lacks {', '.join(missing[:5])}; the compiler-rt source does "
                              f"not match the list muslforge.toolchain.builtins expects (version {COMPILER_RT_VERSION}).")
    return sorted(set(chosen))


def _cmake_list(text: str, name: str) -> list[str]:
    match = re.search(rf"^set\({name}\s*\n(.*?)\)", text, re.S | re.M)
    if not match:
        raise BuiltinsMissing(f"compiler-rt's CMakeLists.txt has no set({name} ...) list; unknown layout.")
    return [line.strip() for line in match.group(1).splitlines() if line.strip() and "#" not in line]


def build_from_source(compiler_rt_builtins_dir: Path, arch, toolchain, out: Path, run: Run = proc.run, *,
                      include_dir: Path | None = None, output: Output = proc.output, jobs: int = 2) -> Path:
    """Compile compiler-rt builtins for `arch` and archive them into `out`, reproducibly.

    `include_dir` is musl's installed include/ for the arch (int_util.c needs <stdlib.h>); without
    it the compiler's default search is used. Sources are compiled and archived in sorted order,
    objects are named after their source paths and the source folder is mapped to a fixed prefix, so
    the archive's bytes depend only on the sources, the flags and the compiler.
    """
    src = Path(compiler_rt_builtins_dir).resolve()
    sources = builtins_sources(src, arch.triple)
    flags = compile_flags(src, arch, include_dir, _resource_include(toolchain, include_dir, output))
    out.parent.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        # One make -j run compiles everything: one process (or one container) for the whole archive.
        (work / "Makefile").write_text(_makefile(toolchain, flags, src, sources), encoding="utf-8")
        run(["make", f"-j{max(1, jobs)}", "-f", "Makefile", ARCHIVE_NAME], cwd=work)
        commit(work / ARCHIVE_NAME, out)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return out


def _makefile(toolchain, flags: list[str], src: Path, sources: list[str]) -> str:
    """Rules for every object, and the archive from them in sorted order (reproducible member order)."""
    objects = [_object_name(s) for s in sources]
    compile_cmd = " ".join([toolchain.cc, *flags])
    rules = [f"{ARCHIVE_NAME}: {' '.join(objects)}\n\t{toolchain.ar} rcsD $@ $^\n"]
    rules += [f"{obj}: {src / s}\n\t{compile_cmd} -c $< -o $@\n" for s, obj in zip(sources, objects)]
    return "\n".join(rules)


def compile_flags(src: Path, arch, include_dir: Path | None, resource_include: Path | None) -> list[str]:
    """The clang flags for every builtins source (those of compiler-rt's standalone build)."""
    family = arch.triple.split("-", 1)[0]
    flags = [f"--target={arch.triple}", *arch.cflags, "-O2", "-std=c11", "-fPIC", "-fno-builtin",
             "-fvisibility=hidden", "-DVISIBILITY_HIDDEN", "-fomit-frame-pointer", "-w",
             f"-ffile-prefix-map={src}={BUILTINS_SUBDIR}", *_FAMILY_FLAGS.get(family, ())]
    if include_dir is not None:
        flags += ["-nostdinc", "-isystem", str(include_dir)]
        if resource_include is not None:
            flags += ["-isystem", str(resource_include)]
    return flags


def _resource_include(toolchain, include_dir: Path | None, output: Output) -> Path | None:
    """clang's own headers (float.h, stdint.h for the compiler) to follow musl's under -nostdinc."""
    if include_dir is None:
        return None
    return Path(output([toolchain.cc, "-print-resource-dir"]).strip()) / "include"


def _object_name(source: str) -> str:
    return source.replace("/", "_").rsplit(".", 1)[0] + ".o"
