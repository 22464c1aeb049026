"""Stage 3: a sysroot per arch: build, check, smoke, and the tools to use it."""
