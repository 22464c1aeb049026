#!/bin/sh
# mmdebstrap --customize-hook for muslforge toolchain images; $1 is the root directory being built.
#
# MUSLFORGE_BUILTINS holds space-separated "debian_arch:package=version" entries. Debian's libclang-rt
# packages are not co-installable across arches, so each one is downloaded for its arch and the
# builtins archive and crt objects from its lib/clang/<v>/lib/linux/ are copied, flat, into
# /opt/muslforge/builtins/<debian_arch>/ (e.g. /opt/muslforge/builtins/arm64/libclang_rt.builtins-aarch64.a).
# Then everything that would make two builds differ (host names, caches, the host's apt sources) goes.
set -eu
root="$1"

for spec in ${MUSLFORGE_BUILTINS:-}; do
    arch="${spec%%:*}"
    pin="${spec#*:}"
    work="/tmp/muslforge-builtins-$arch"
    # A private apt state for this arch only: the image itself stays single-arch, and a broken index of
    # an arch the build does not use (a mirror mid-sync) cannot fail the image.
    apt="-q -o APT::Architectures=$arch -o Dir::State::Lists=$work/lists -o Dir::Cache=$work/cache"
    apt="$apt -o Dir::Cache::pkgcache= -o Dir::Cache::srcpkgcache= -o APT::Sandbox::User=root"
    mkdir -p "$root$work/lists/partial" "$root$work/cache/archives/partial" "$root$work/x"
    chroot "$root" apt-get $apt update || echo "customize.sh: apt-get update for $arch had errors" >&2
    chroot "$root" sh -c "cd '$work' && apt-get $apt download '${pin%%=*}:$arch=${pin#*=}'"
    chroot "$root" sh -c "dpkg-deb -x '$work'/*.deb '$work/x'"
    mkdir -p "$root/opt/muslforge/builtins/$arch"
    found=$(find "$root$work/x" -path '*/lib/clang/*/lib/linux/*' -type f \
        \( -name 'libclang_rt.builtins*' -o -name 'clang_rt.crt*' \) | sort)
    [ -n "$found" ] || { echo "customize.sh: no lib/linux files in ${pin%%=*}:$arch" >&2; exit 1; }
    for file in $found; do install -m 0644 "$file" "$root/opt/muslforge/builtins/$arch/"; done
    rm -rf "${root:?}$work"
done

echo muslforge > "$root/etc/hostname"
: > "$root/etc/resolv.conf"
chmod 0644 "$root/etc/hostname" "$root/etc/resolv.conf"
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
rm -f "$root/var/cache/ldconfig/aux-cache"
rm -rf "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
