"""The checks every front door makes on a title, a name or a label before it is stored: the CLI and
the API call these, so one string gets one answer whichever door it came through."""

from __future__ import annotations

from datetime import UTC, datetime

from worker.domain.text import control_character_problem

TITLE_MAX_CHARS = 255


def text_problem(field: str, value: str | None, *, max_chars: int = TITLE_MAX_CHARS) -> str | None:
    """None when `value` may be stored as `field`, else the reason, starting with the field's name:
    `title contains a control character (U+001B at position 1)`, `label has 300 characters; at most 255`."""
    if value is None:
        return None
    if len(value) > max_chars:
        return f"{field} has {len(value)} characters; at most {max_chars}"
    return control_character_problem(value, field)


def iso_z(value: datetime) -> str:
    """ISO 8601 in UTC with a `Z`: `2026-12-01T18:00:00Z`."""
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
