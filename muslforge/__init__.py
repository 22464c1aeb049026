"""muslforge: pinned, reproducible musl libc sysroots for WebAssembly and every Linux arch."""

__version__ = "0.1.0"
