"""Stage 1: from musl's mirrors to a verified tarball to a patched tree."""
