"""The one error the controls raise: what was asked cannot be done, naming the input field at fault."""

from __future__ import annotations


class Refused(ValueError):
    """`field` is the input at fault (`stream_id`, `until`, `start`, ...); the message says why and,
    where there is one, the fix. Nothing was changed."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message)
        self.field = field
        self.message = message


class NotFound(Refused):
    """The thing named does not exist (or is not the caller's)."""
