"""The one exception type for expected failures: bad input, refused credentials, missing data.

A `UserError` ends a command with its message on one line and a non-zero exit, never a
traceback. The message says what was wrong, where, and what to do.
"""

from __future__ import annotations


class UserError(Exception):
    """An expected failure whose message is shown to the user as is."""

    exit_code: int = 2

    def __init__(self, message: str, *, exit_code: int | None = None) -> None:
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code
