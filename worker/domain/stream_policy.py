"""What a stream does between its slots: the `between_slots` policy. Pure.

keep     (default) the stream stays as the last slot left it: enabled and idle, ready for an encoder
disable  the stream is disabled after each slot ends (after the finish and the metadata restore),
         so a leaked stream key cannot go live outside the schedule; the next slot's enable turns
         it back on. A gap shorter than KEEP_ENABLED_GAP to the next slot's enable keeps it on.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from enum import StrEnum


class BetweenSlots(StrEnum):
    KEEP = "keep"
    DISABLE = "disable"


DEFAULT = BetweenSlots.KEEP
# A disable this close to the next slot's enable buys a few minutes of safety for two more calls that
# must both land on time (the enable just before a show); below this gap the stream stays enabled.
KEEP_ENABLED_GAP = timedelta(minutes=5)


def parse_between_slots(value: str) -> BetweenSlots:
    """The policy named by `value` (any case); ValueError naming the choices otherwise."""
    try:
        return BetweenSlots(value.strip().lower())
    except ValueError:
        choices = " or ".join(p.value for p in BetweenSlots)
        raise ValueError(f"--between-slots must be {choices}, not {value!r}") from None


def disable_after(slot_end: datetime, next_slot_start: datetime | None) -> bool:
    """With the `disable` policy: whether the stream is disabled when a slot ends at `slot_end`, the
    next slot on the stream (lead included) starting at `next_slot_start` (None: none known)."""
    return next_slot_start is None or next_slot_start - slot_end >= KEEP_ENABLED_GAP


def describe(policy: BetweenSlots) -> str:
    if policy is BetweenSlots.DISABLE:
        gap = int(KEEP_ENABLED_GAP.total_seconds() // 60)
        return f"disable: disabled after each slot, unless the next slot's enable is within {gap} min"
    return "keep: left enabled after each slot"
