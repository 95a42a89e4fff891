"""Why a slot collides because of its lead, said so the person can fix it.

A slot is [start - lead, end). When every slot in the way ends by the broadcast's own start, the lead
alone makes the collision: the message says where the lead puts the slot's start, which slot that is
inside, and the two fixes (a later start, or a lead short enough to begin after that slot).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta


@dataclass(frozen=True)
class InTheWay:
    label: str  # `broadcast #1`, `booking #4 by ada`
    slot_start: datetime
    ends_at: datetime


def explain_lead(starts_at: datetime, lead: timedelta, in_the_way: Sequence[InTheWay]) -> str | None:
    """`your 5m lead makes this slot start at 01:25, inside broadcast #1 (00:59:55-01:30); start at 01:35
    or use a lead of at most 0s`, or None when the lead is not what collides."""
    if lead <= timedelta(0) or not in_the_way:
        return None
    if any(other.ends_at > starts_at for other in in_the_way):
        return None  # the broadcast itself overlaps: no lead would fix it
    slot_start = starts_at - lead
    first = min(in_the_way, key=lambda other: other.slot_start)
    last_end = max(other.ends_at for other in in_the_way)
    return (
        f"your {_duration(lead)} lead makes this slot start at {_clock(slot_start)}, inside {first.label} "
        f"({_clock(first.slot_start)}-{_clock(first.ends_at)}); start at {_clock(last_end + lead)} "
        f"or use a lead of at most {_duration(starts_at - last_end)}"
    )


def _clock(value: datetime) -> str:
    value = value.astimezone(UTC)
    return value.strftime("%H:%M:%S" if value.second else "%H:%M")


def _duration(span: timedelta) -> str:
    """`5m`, `1h30m`, `0s`: the form `--lead` reads."""
    total = int(span.total_seconds())
    hours, rest = divmod(total, 3600)
    minutes, seconds = divmod(rest, 60)
    text = "".join(f"{n}{unit}" for n, unit in ((hours, "h"), (minutes, "m"), (seconds, "s")) if n)
    return text or "0s"
