"""Stage 2: the pinned toolchain image and the compiler-rt builtins."""
