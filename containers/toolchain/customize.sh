#!/bin/sh
# mmdebstrap --customize-hook for muslforge toolchain images; $1 is the root directory being built.
#
# Everything that would make two builds differ (host names, caches, the host's apt sources) goes.
set -eu
root="$1"

echo muslforge > "$root/etc/hostname"
: > "$root/etc/resolv.conf"
chmod 0644 "$root/etc/hostname" "$root/etc/resolv.conf"
rm -f "$root/etc/apt/sources.list" "$root"/etc/apt/sources.list.d/*
rm -f "$root/var/cache/ldconfig/aux-cache"
rm -rf "$root"/var/cache/debconf/*-old "$root"/var/lib/dpkg/*-old
