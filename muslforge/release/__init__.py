"""Stage 4: reproducible release tarballs, manifests, verify and nightly."""
