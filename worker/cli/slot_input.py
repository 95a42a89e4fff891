"""One broadcast or booking as the CLI takes it: parsed, then checked by the service's slot rules.

`onair broadcast add`, `onair book add` and `onair import` all go through `read_slot`, so a row in an
imported file is held to exactly the rules a typed command is. The stream and the overlap with other
slots are checked by the callers: those need the database (and perhaps FastPix), once per stream.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime, timedelta

from worker.cli.timeparse import parse_duration, parse_instant
from worker.domain.specs import BroadcastSpec
from worker.service.errors import refuse
from worker.service.slots import slot_problems

PAST_ADVICE = "pass --allow-past to record it anyway"


def read_slot(
    stream: str,
    start: str,
    end: str,
    *,
    tz: str | None,
    lead: str | None,
    default_lead_seconds: int,
    now: datetime,
    allow_past: bool,
    title: str | None = None,
    metadata: Mapping[str, str] | None = None,
    reconnect_window: int | None = None,
) -> BroadcastSpec:
    """The slot typed as text (times with a zone, or local times with `tz`; lead as a duration, or
    the default), checked by service.slots (the rules the API applies too). InvalidInput naming every
    problem found."""
    starts_at = parse_instant(start, tz, what="start")
    ends_at = parse_instant(end, tz, what="end")
    lead_time = (
        parse_duration(lead, what="lead", allow_zero=True)
        if lead is not None
        else timedelta(seconds=default_lead_seconds)
    )
    spec = BroadcastSpec(
        id=0,
        stream_id=stream,
        starts_at=starts_at,
        ends_at=ends_at,
        lead=lead_time,
        title=title,
        metadata=dict(metadata) if metadata else None,
        reconnect_window=reconnect_window,
    )
    refuse(slot_problems(spec, now=now, allow_past=allow_past, past_advice=PAST_ADVICE))
    return spec
