"""Times over HTTP: ISO 8601 with an explicit offset in, UTC with `Z` out, plus an optional local view.

A time without an offset is refused rather than guessed: the server's zone is not the organiser's.
"""

from __future__ import annotations

from datetime import UTC, datetime, tzinfo
from zoneinfo import ZoneInfo

from worker.domain.recurrence import validate_timezone
from worker.service.text import iso_z

EXAMPLE = "2026-12-01T19:00:00+01:00"
# Far enough from datetime's own limits (years 1 and 9999) that adding a lead, a range or a zone's
# offset to an accepted time can never overflow.
EARLIEST = datetime(1970, 1, 1, tzinfo=UTC)
LATEST = datetime(9000, 1, 1, tzinfo=UTC)

__all__ = ["EXAMPLE", "iso_z", "local_iso", "parse_offset_instant", "zone_or_error"]


def parse_offset_instant(text: str) -> datetime:
    """An aware UTC datetime; ValueError (its message names the fix) for anything else."""
    raw = text.strip()
    if not raw:
        raise ValueError("is empty: give an ISO 8601 time with an offset, e.g. " + EXAMPLE)
    try:
        parsed = datetime.fromisoformat(raw)
    except ValueError:
        raise ValueError(
            f"{text!r} is not an ISO 8601 time: use e.g. {EXAMPLE} or 2026-12-01T18:00:00Z"
        ) from None
    if parsed.tzinfo is None:
        raise ValueError(f"{text!r} has no UTC offset: add one, e.g. {EXAMPLE}, or Z for UTC")
    try:
        instant = parsed.astimezone(UTC)
    except OverflowError:
        instant = None
    if instant is None or not EARLIEST <= instant < LATEST:
        raise ValueError(
            f"{text!r} is outside the times onair accepts ({EARLIEST:%Y-%m-%d} to {LATEST.year - 1}-12-31)"
        )
    return instant


def zone_or_error(name: str) -> ZoneInfo:
    reason = validate_timezone(name)
    if reason is not None:
        raise ValueError(f"{reason}: use an IANA name such as Europe/Berlin, America/New_York or UTC")
    return ZoneInfo(name)


def local_iso(value: datetime | None, zone: tzinfo | None) -> str | None:
    """The instant as local time with its offset in `zone` (None without a zone)."""
    if value is None or zone is None:
        return None
    return value.astimezone(zone).isoformat()
