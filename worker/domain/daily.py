"""When the daily report is due. Pure."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

# Started late (the workers were down at the hour)? Still send that day's report within this long.
CATCH_UP = timedelta(hours=12)


def report_due(at: time, zone: ZoneInfo, now: datetime) -> tuple[date, datetime] | None:
    """(the local day, the instant it was due) when today's report is due at `now`, else None.
    A local time the clocks skip (spring forward) is taken with the offset before the change."""
    today = now.astimezone(zone).date()
    due = datetime.combine(today, at, tzinfo=zone).astimezone(now.tzinfo)
    if due <= now < due + CATCH_UP:
        return today, due
    return None
