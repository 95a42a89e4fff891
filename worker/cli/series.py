"""Recurring broadcasts on the command line.

`onair broadcast add --cron ... --duration ... --tz ZONE` creates a series (broadcast.py hands the
recurring form over to `add_series`); `onair series list|show|edit|cancel` manage it. One occurrence
is an ordinary broadcast row: `onair broadcast cancel ID` cancels just that one, and the series never
brings it back. Every change re-plans at once, which materialises the occurrences (worker/service/series.py).
"""

from __future__ import annotations

import json
from datetime import UTC, date, datetime, time, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import Engine

from worker.cli import output
from worker.cli.cancelling import cancel_and_say
from worker.cli.timeline import AsJson, open_store, warn_replan
from worker.cli.timeparse import (
    BadInput,
    iso_utc,
    parse_duration,
    parse_instant,
    parse_metadata_pairs,
    show_duration,
    show_instant,
    zone_named,
)
from worker.clock import SystemClock
from worker.domain.recurrence import validate_timezone
from worker.domain.series import (
    Occurrence,
    SeriesSpec,
    check_series,
    format_skip_dates,
    next_occurrences,
    parse_skip_dates,
)
from worker.service import recurring
from worker.service.cancelling import Schedule
from worker.service.records import Broadcast, BroadcastSeries
from worker.service.series import series_spec

series_app = typer.Typer(
    help="Recurring broadcasts (created with `onair broadcast add --cron`).", no_args_is_help=True
)
UPCOMING = 3

SeriesId = Annotated[int, typer.Argument(help="The series id (from `onair series list`).")]


def parse_until(text: str, tz: str) -> datetime:
    """`2027-03-31` means through the end of that day in the series' zone; a full time is exact."""
    raw = text.strip()
    if len(raw) == 10:
        try:
            day = date.fromisoformat(raw)
        except ValueError:
            raise BadInput(f"until {text!r} is not a date (YYYY-MM-DD) or a time") from None
        return datetime.combine(day, time(23, 59, 59), tzinfo=zone_named(tz)).astimezone(UTC)
    return parse_instant(raw, tz, what="until")


def parse_skips(dates: list[str] | None, current: str | None = None) -> str | None:
    """Merge --skip dates into the stored text, refusing a bad one by name."""
    merged, reason = parse_skip_dates(current)
    for item in dates or []:
        parsed, reason = parse_skip_dates(item)
        if reason:
            raise BadInput(reason)
        merged = merged | parsed
    return format_skip_dates(merged)


def add_series(
    *,
    stream: str,
    cron: str,
    duration: str | None,
    tz: str | None,
    until: str | None,
    count: int | None,
    skip: list[str] | None,
    lead: str | None,
    title: str | None,
    metadata: list[str] | None,
    reconnect_window: int | None,
    as_json: bool,
) -> None:
    """The recurring form of `onair broadcast add`."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            if tz is None:
                raise BadInput("give the zone the cron rule is read in: --tz America/New_York (or --tz UTC)")
            if duration is None:
                raise BadInput("a recurring broadcast needs --duration, e.g. --duration 90m")
            zone_named(tz)
            pairs = parse_metadata_pairs(metadata)
            spec = SeriesSpec(
                id=0,
                stream_id=stream,
                cron=cron.strip(),
                timezone=tz,
                duration=parse_duration(duration),
                starts_from=now,
                until=parse_until(until, tz) if until is not None else None,
                occurrence_limit=count,
                skip_dates=parse_skips(skip),
                lead=(
                    parse_duration(lead, what="lead", allow_zero=True)
                    if lead is not None
                    else timedelta(seconds=settings.default_lead_seconds)
                ),
                title=title,
                metadata=pairs,
                reconnect_window=reconnect_window,
            )
            added = recurring.add_series(settings, engine, spec, now=now)
        warn_replan(added.replan_failure)
        saved = added.row
    _say(saved, "added", now, as_json)


@series_app.command("edit")
def edit(
    series_id: SeriesId,
    cron: Annotated[str | None, typer.Option(help="New rule, read in the series' zone.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="New IANA zone for the rule.")] = None,
    duration: Annotated[str | None, typer.Option(help="New length of each occurrence, e.g. 90m.")] = None,
    lead: Annotated[str | None, typer.Option(help="New lead, e.g. 10m.")] = None,
    until: Annotated[str | None, typer.Option(help="Last day (YYYY-MM-DD, local) or time.")] = None,
    no_until: Annotated[bool, typer.Option("--no-until", help="Remove the end date.")] = False,
    count: Annotated[int | None, typer.Option(min=1, help="At most this many occurrences in all.")] = None,
    no_count: Annotated[bool, typer.Option("--no-count", help="Remove the occurrence limit.")] = False,
    skip: Annotated[list[str] | None, typer.Option(help="Also skip this local date; repeatable.")] = None,
    unskip: Annotated[list[str] | None, typer.Option(help="Stop skipping this date; repeatable.")] = None,
    title: Annotated[str | None, typer.Option(help="New title.")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value; replaces all metadata.")
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Change a series. Occurrences that have not begun are re-planned; past and running ones stay."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            row = _load(engine, series_id)
            if until is not None and no_until:
                raise BadInput("give --until or --no-until, not both")
            if count is not None and no_count:
                raise BadInput("give --count or --no-count, not both")
            zone = tz or row.timezone
            if tz is not None:
                zone_named(tz)
            changes: dict[str, Any] = {}
            if cron is not None:
                changes["cron"] = cron.strip()
            if tz is not None:
                changes["timezone"] = tz
            if duration is not None:
                changes["duration_seconds"] = int(parse_duration(duration).total_seconds())
            if lead is not None:
                changes["lead_seconds"] = int(
                    parse_duration(lead, what="lead", allow_zero=True).total_seconds()
                )
            if until is not None or no_until:
                changes["until"] = parse_until(until, zone) if until is not None else None
            if count is not None or no_count:
                changes["occurrence_limit"] = count
            if skip or unskip:
                kept = parse_skips(skip, row.skip_dates)
                dropped, reason = parse_skip_dates(",".join(unskip or []))
                if reason:
                    raise BadInput(reason)
                remaining, _ = parse_skip_dates(kept)
                changes["skip_dates"] = format_skip_dates(remaining - dropped)
            if title is not None:
                changes["title"] = title or None
            if metadata is not None:
                pairs = parse_metadata_pairs(metadata)
                changes["metadata_json"] = json.dumps(pairs, sort_keys=True) if pairs else None
            edited = recurring.edit_series(settings, engine, row, changes, now=now)
        warn_replan(edited.replan_failure)
        saved = edited.row
    _say(saved, "edited", now, as_json)


@series_app.command("cancel")
def cancel(series_id: SeriesId) -> None:
    """Cancel a series: its occurrences that have not begun are cancelled; a running one runs on."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            _load(engine, series_id)
        done = cancel_and_say(
            settings, engine, Schedule.SERIES, series_id, what=f"series {series_id}", now=now
        )
    if done.already_at is not None:
        return
    plural = "s" if done.cancelled != 1 else ""
    output.info(f"series {series_id} cancelled; {done.cancelled} upcoming occurrence{plural} cancelled")


@series_app.command("list")
def list_series(
    include_all: Annotated[bool, typer.Option("--all", help="Include cancelled series.")] = False,
    as_json: AsJson = False,
) -> None:
    """List recurring broadcasts, each with its next occurrence in its own zone."""
    now = SystemClock().now()
    with open_store() as (_, engine):
        rows, names = load_series(engine, include_all=include_all)
    if as_json:
        output.print_json([series_json(row, upcoming(row, now, 1)) for row in rows])
        return
    print_series(rows, names, now)


@series_app.command("show")
def show(series_id: SeriesId, as_json: AsJson = False) -> None:
    """Show one series, its next occurrences and why it cannot be (fully) scheduled, if so."""
    now = SystemClock().now()
    with open_store() as (_, engine):
        with output.reporting(BadInput):
            row = _load(engine, series_id)
        rows = recurring.occurrences_ahead(engine, series_id, now, 20)
    if as_json:
        output.print_json(
            {**series_json(row, upcoming(row, now)), "rows": [occurrence_json(r) for r in rows]}
        )
        return
    _say(row, None, now, False)
    zone = _zone(row)
    output.print_table(
        ("broadcast", "start", "end", "status"),
        (
            (
                r.id,
                show_instant(r.starts_at, zone or UTC),
                show_instant(r.ends_at, zone or UTC),
                _row_status(r),
            )
            for r in rows
        ),
        title="its broadcasts rows (the next 20)",
    )


def load_series(engine: Engine, *, include_all: bool) -> tuple[list[BroadcastSeries], dict[str, str]]:
    return recurring.list_series(engine, include_all=include_all)


def print_series(rows: list[BroadcastSeries], names: dict[str, str], now: datetime) -> None:
    table = []
    for row in rows:
        following = upcoming(row, now, 1)
        zone = _zone(row)
        table.append(
            (
                row.id,
                names.get(row.stream_id) or row.stream_id,
                row.cron,
                row.timezone,
                show_duration(row.duration_seconds),
                row.title,
                _bounds(row),
                show_instant(following[0].start_utc, zone) if following and zone else "",
                _status(row),
            )
        )
    output.print_table(
        ("series", "stream", "cron", "zone", "duration", "title", "ends", "next", "status"),
        table,
        title=f"{len(rows)} recurring broadcast{'s' if len(rows) != 1 else ''}",
    )


def upcoming(row: BroadcastSeries, now: datetime, count: int = UPCOMING) -> list[Occurrence]:
    """The next occurrences by the rule (skips, until and limit applied); none if it cannot expand."""
    spec = series_spec(row)
    if row.cancelled_at is not None or check_series(spec):
        return []
    return next_occurrences(spec, now, count)


def series_json(row: BroadcastSeries, following: list[Occurrence]) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream_id": row.stream_id,
        "cron": row.cron,
        "timezone": row.timezone,
        "duration_seconds": row.duration_seconds,
        "lead_seconds": row.lead_seconds,
        "title": row.title,
        "metadata": row.metadata_json,
        "reconnect_window": row.reconnect_window,
        "starts_from": iso_utc(row.starts_from),
        "until": iso_utc(row.until),
        "occurrence_limit": row.occurrence_limit,
        "skip_dates": row.skip_dates.split(",") if row.skip_dates else [],
        "cancelled_at": iso_utc(row.cancelled_at),
        "invalid_reason": row.invalid_reason,
        "next": [{"start": iso_utc(o.start_utc), "end": iso_utc(o.end_utc)} for o in following],
    }


def occurrence_json(row: Broadcast) -> dict[str, Any]:
    return {
        "id": row.id,
        "starts_at": iso_utc(row.starts_at),
        "ends_at": iso_utc(row.ends_at),
        "cancelled_at": iso_utc(row.cancelled_at),
        "cancel_reason": row.cancel_reason,
    }


def _say(row: BroadcastSeries, verb: str | None, now: datetime, as_json: bool) -> None:
    following = upcoming(row, now)
    if as_json:
        output.print_json(series_json(row, following))
        return
    each = f"{show_duration(row.duration_seconds)} each, enable {show_duration(row.lead_seconds)} before"
    head = f"series {row.id}" + (f" {verb}" if verb else "")
    output.info(f"{head}: stream {row.stream_id}, '{row.cron}' {row.timezone}, {each}{_bounds(row, ', ')}")
    if row.invalid_reason:
        output.info(f"warning: {row.invalid_reason}")
    zone = _zone(row)
    if zone is None:
        return
    for occurrence in following:
        output.info(
            f"  {show_instant(occurrence.start_utc, zone)} to {show_instant(occurrence.end_utc, zone)}"
        )
    if not following and row.cancelled_at is None:
        output.info("  no occurrence lies ahead")


def _bounds(row: BroadcastSeries, prefix: str = "") -> str:
    parts = []
    if row.until is not None:
        zone = _zone(row)
        parts.append(f"until {show_instant(row.until, zone) if zone else iso_utc(row.until)}")
    if row.occurrence_limit is not None:
        parts.append(f"{row.occurrence_limit} times at most")
    if row.skip_dates:
        parts.append(f"skipping {row.skip_dates.replace(',', ', ')}")
    return prefix + ", ".join(parts) if parts else ""


def _zone(row: BroadcastSeries) -> ZoneInfo | None:
    return ZoneInfo(row.timezone) if validate_timezone(row.timezone) is None else None


def _status(row: BroadcastSeries) -> str:
    if row.cancelled_at is not None:
        return "cancelled"
    return f"warning: {row.invalid_reason}" if row.invalid_reason else "active"


def _row_status(row: Broadcast) -> str:
    if row.cancelled_at is None:
        return "scheduled"
    return f"cancelled ({row.cancel_reason})" if row.cancel_reason else "cancelled by a person"


def _load(engine: Engine, series_id: int) -> BroadcastSeries:
    row = recurring.get_series(engine, series_id)
    if row is None:
        raise BadInput(f"no recurring broadcast with id {series_id} (see `onair series list --all`)")
    return row
