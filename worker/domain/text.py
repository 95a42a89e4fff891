"""Rules for the free text people put in schedules (titles, labels, names). Pure.

A title ends up in terminals (`onair book list`, `onair plan`), logs and calendar feeds: a control
character there can move the cursor, rewrite a line or end a log record early, so none is accepted.
The CLI, the API and the planner (for rows written with plain SQL) all ask `control_character_problem`.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import UTC, datetime

# How much of an offending value a reason quotes: enough to find the row, never a whole blob.
QUOTED_CHARS = 80


def control_character_problem(value: object, what: str = "text") -> str | None:
    """None if `value` holds no C0 or C1 control character (NUL, ESC, CR, LF, TAB, DEL, U+0080..U+009F),
    else a reason naming the first one and where it is. None for None and for non-text values (their
    type is checked elsewhere)."""
    if not isinstance(value, str):
        return None
    found = _CONTROL.search(value)
    if found is None:
        return None
    index = found.start()
    return f"{what} contains a control character (U+{ord(value[index]):04X} at position {index + 1})"


# Exactly Unicode's category Cc (checked in the tests against unicodedata): one regex scan instead of a
# category lookup per character, which was a tenth of a whole re-plan's time.
_CONTROL = re.compile("[\x00-\x1f\x7f-\x9f]")


def quoted(value: object, limit: int = QUOTED_CHARS) -> str:
    """repr() of a value, cut to `limit` characters with its full length named, for reasons."""
    text = repr(value)
    if len(text) <= limit:
        return text
    size = f" ({len(value)} characters)" if isinstance(value, str | bytes) else ""
    return f"{text[:limit]}…{size}"


def printable(text: str, limit: int = 200) -> str:
    """`text` cut to `limit` characters, with each control character written as its escape (`\x1b`),
    for messages that quote what a row holds (an error's text may)."""
    cut = text[:limit] + ("…" if len(text) > limit else "")
    return "".join(repr(c)[1:-1] if unicodedata.category(c) == "Cc" else c for c in cut)


def show_duration(seconds: float) -> str:
    """`1h30m`, `8h`, `90s`: the shortest form parse_duration reads back."""
    total = round(seconds)
    if total == 0:
        return "0s"
    hours, rest = divmod(abs(total), 3600)
    minutes, secs = divmod(rest, 60)
    text = "".join(f"{n}{u}" for n, u in ((hours, "h"), (minutes, "m"), (secs, "s")) if n)
    return ("-" if total < 0 else "") + text


def show_span(start: datetime, end: datetime) -> str:
    """`2026-12-01 09:55 to 11:00 UTC` (seconds only when either has them)."""
    start, end = start.astimezone(UTC), end.astimezone(UTC)
    clock = "%H:%M:%S" if start.second or end.second else "%H:%M"
    if start.date() == end.date():
        return f"{start:%Y-%m-%d} {start.strftime(clock)} to {end.strftime(clock)} UTC"
    return f"{start:%Y-%m-%d} {start.strftime(clock)} to {end:%Y-%m-%d} {end.strftime(clock)} UTC"
