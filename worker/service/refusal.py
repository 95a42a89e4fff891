"""The controls' refusals: what was asked cannot be done, naming the input field at fault (service.errors)."""

from __future__ import annotations

from worker.service.errors import InvalidInput
from worker.service.text import text_problem


class Refused(InvalidInput):
    """`field` is the input at fault (`stream_id`, `until`, `start`, ...); the message says why and,
    where there is one, the fix. Nothing was changed. An InvalidInput like every refused change."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(message, field=field)
        self.field = field
        self.message = message


class NotFound(Refused):
    """The thing named does not exist (or is not the caller's)."""


NOTE_MAX_CHARS = 500


def check_note(note: str | None) -> None:
    """A control's `--note` (why), kept in the history: printable text of a sane length."""
    problem = text_problem("note", note, max_chars=NOTE_MAX_CHARS)
    if problem:
        raise Refused("note", problem)
