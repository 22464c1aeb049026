"""The one error hierarchy: every expected failure is a MuslforgeError with a one-paragraph message.

Messages say what failed, why, and what to do. `muslforge.tasks` turns them into clean doit failures and
`muslforge.cli` into one line on stderr; anything else is a real bug and keeps its traceback.
"""


class MuslforgeError(Exception):
    """A failure the user can act on; str(error) is the whole message."""


class ConfigError(MuslforgeError):
    """A YAML file (arch, toolchain, sources, series) is malformed; the message names file and field."""


class FetchError(MuslforgeError):
    """A source could not be downloaded from any mirror."""


class VerifyError(MuslforgeError):
    """A downloaded file failed its sha256 or PGP check."""


class UnpackError(MuslforgeError):
    """A tarball holds a member that could escape the extraction directory."""


class PatchError(MuslforgeError):
    """A patch in a series does not apply."""


class ToolMissing(MuslforgeError):
    """A program muslforge needs is not installed."""


class CommandFailed(MuslforgeError):
    """A child process exited non-zero."""

    def __init__(self, message: str, returncode: int):
        super().__init__(message)
        self.returncode = returncode


class BackendError(MuslforgeError):
    """The chosen backend (Docker daemon, toolchain image) is not usable."""


class DirectoryError(MuslforgeError):
    """A folder muslforge writes to (build dir, dist dir, cache) is a file or cannot be made."""


class LockError(MuslforgeError):
    """Another run holds a file or folder this run needs, for longer than it is willing to wait."""
# ---- exit statuses of muslforge's own doors (muslforge cc/run/binfmt, python -m muslforge.*) ----
# doit's doors keep doit's codes, which muslforge.tasks maps to: 3 for a bad dodo or config
# (InvalidDodoFile), 1 for a failed task (TaskFailed), 130 for Ctrl-C (tasks.Interrupted).

EXIT_ERROR = 2          # a MuslforgeError: bad input, or a step that failed; the message says which
EXIT_INTERRUPTED = 130  # Ctrl-C (128 + SIGINT), as a shell reports it


def exit_status(error: BaseException) -> int:
    """The process exit status for an error an entry point stops on."""
    return EXIT_INTERRUPTED if isinstance(error, KeyboardInterrupt) else EXIT_ERROR


def report(program: str, error: BaseException) -> int:
    """Print `program: message` (one paragraph, no traceback) on stderr; return the exit status."""
    import sys

    text = "interrupted" if isinstance(error, KeyboardInterrupt) else str(error)
    print(f"{program}: {text}", file=sys.stderr)
    return exit_status(error)
