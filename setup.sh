#!/usr/bin/env bash
# Set up a Debian 12 machine for muslforge: host tools, the Python package, and the download cache seeded
# with musl's release tarballs from Debian's source packages (musl's own site may be unreachable; fetch
# still checks every pinned sha256 and the PGP signature before it uses a cached file).
#   ./setup.sh          everything `doit build:<arch>` needs
#   ./setup.sh --tests  also the test extras and the tarballs the tests serve from a loopback mirror
set -euo pipefail
cd "$(dirname "$0")"
sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
export DEBIAN_FRONTEND=noninteractive

# cmake + ninja-build: the host backend builds compiler-rt's builtins with compiler-rt's CMake, as the
# toolchain image does. libclang-rt-22-dev-wasm32 + wasi-libc: only bench/embedder_syscalls.py's WASI build.
$sudo apt-get update -qq || true
$sudo apt-get install -y -qq --no-install-recommends \
  clang-22 lld-22 llvm-22 cmake ninja-build \
  qemu-user-static gpgv make patch xz-utils mmdebstrap uidmap dpkg-dev ca-certificates \
  libclang-rt-22-dev-wasm32 wasi-libc >/dev/null

# The Docker backend runs each task's commands in its container with `docker exec` (the CLI).
command -v docker >/dev/null || $sudo apt-get install -y -qq --no-install-recommends docker.io >/dev/null

extras=""; [ "${1:-}" = "--tests" ] && extras="[test]"
PIP_ROOT_USER_ACTION=ignore python3 -m pip install -q -e ".${extras}"

tarballs=build/test-tarballs
$sudo .ci/get-musl-tarballs "$tarballs" || {
  # Last resort on the project's own machines: the copy kept beside the checkout.
  [ -d ../shared/musl ] && mkdir -p "$tarballs" && cp ../shared/musl/musl-* "$tarballs/" && echo "used ../shared/musl"; }
cache="${MUSLFORGE_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/muslforge}"
mkdir -p "$cache"
cp -n "$tarballs"/musl-1.2.* "$cache/" 2>/dev/null || true
if [ -n "$extras" ]; then
  # The tests build compiler-rt's builtins from each toolchain's pinned source (sha256-checked): fetch
  # it now, so the test run itself talks to nothing but 127.0.0.1. (`doit build` fetches it when missing.)
  python3 - <<'PY'
from muslforge import paths
from muslforge.config.toolchain import load_toolchain
from muslforge.toolchain.builtins import obtain_source
for name in sorted(p.stem for p in paths.TOOLCHAINS_DIR.glob("*.yaml")):
    print(f"compiler-rt source for {name}: {obtain_source(paths.cache_dir(), load_toolchain(paths.TOOLCHAINS_DIR, name).compiler_rt)}")
PY
fi
echo "setup done: musl tarballs cached in $cache"
