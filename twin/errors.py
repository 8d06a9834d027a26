"""User-facing errors.

Every failure a user can cause (a bad file, a bad field, a missing directory) is raised as a
:class:`TwinError` whose message names the file, field or row and the fix. The CLI prints the
message and exits non-zero; it never shows a traceback for these.
"""

from __future__ import annotations

__all__ = ["ConfigError", "DataError", "TwinError"]


class TwinError(Exception):
    """A failure caused by the user's input, with a message that says how to fix it.

    Args:
        message: What went wrong, naming the file, field or row, and the fix.
        exit_code: The process exit code the CLI uses (non-zero).

    """

    def __init__(self, message: str, exit_code: int = 2) -> None:
        super().__init__(message)
        self.message = message
        self.exit_code = exit_code

    def __str__(self) -> str:
        return self.message


class ConfigError(TwinError):
    """A config or scenario file is malformed or fails validation."""


class DataError(TwinError):
    """An input data file is missing, corrupt, or has unexpected columns."""
