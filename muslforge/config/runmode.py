"""How an arch's programs run (its own module: `muslforge run` imports it without the config loaders)."""

import enum


class RunMode(enum.Enum):
    """How the arch's programs are run by `muslforge run` and the smoke tests."""

    NATIVE = "native"      # the host runs them (qemu is used instead when the host arch differs)
    QEMU = "qemu"          # always under qemu-user
    EMBEDDER = "embedder"  # wasm32: muslforge's reference embedder
    LINK_ONLY = "link-only"  # nothing here can run it (x32: no qemu mode, kernels without x32 syscalls)
