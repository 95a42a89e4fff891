"""The next free slot: when a wanted slot collides, the earliest slot of the same length, at or after
the wanted start, that collides with nothing on the stream (its lead included)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime, timedelta


def next_free_start(
    busy: Iterable[tuple[datetime, datetime]], *, wanted_start: datetime, length: timedelta, lead: timedelta
) -> datetime:
    """The earliest start >= wanted_start such that [start - lead, start + length) overlaps none of the
    busy spans [from, to). Busy spans may come in any order and may overlap each other."""
    start = wanted_start
    for begins, ends in sorted(busy):
        if ends <= start - lead:
            continue  # over before this slot (with its lead) begins
        if begins >= start + length:
            break  # sorted: this and every later span begin after the slot ends
        start = max(start, ends + lead)
    return start
