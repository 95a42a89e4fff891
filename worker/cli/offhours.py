"""`onair offhours ...`: recurring windows during which a stream (or every stream) is disabled.

Every input is checked before anything is written (the domain's own checks, the same the planner
applies), and after every change the planner runs at once. Errors are one `error:` line, exit 1. A rule
is read in its own zone, so its windows are shown in that zone; JSON carries ISO 8601 UTC.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Annotated, Any
from zoneinfo import ZoneInfo

import typer
from sqlalchemy import Engine

from worker.cli import output
from worker.cli.cancelling import cancel_and_say
from worker.cli.timeline import AsJson, open_store, warn_replan
from worker.cli.timeparse import BadInput, iso_utc, parse_duration, show_duration, show_instant
from worker.clock import SystemClock
from worker.domain.recurrence import next_fire_after, validate_cron, validate_timezone
from worker.service import off_hours
from worker.service.cancelling import Schedule
from worker.service.records import OffHours

offhours_app = typer.Typer(
    help="Recurring off-hours windows during which streams are disabled.", no_args_is_help=True
)

OffHoursId = Annotated[int, typer.Argument(help="The off-hours id (from `onair offhours list`).")]
UPCOMING_WINDOWS = 3


@offhours_app.command("add")
def add_off_hours(
    cron: Annotated[str, typer.Option(help="When each window starts, e.g. '0 22 * * *', read in --tz.")],
    duration: Annotated[str, typer.Option(help="How long each window lasts, e.g. 8h or 1h30m.")],
    tz: Annotated[
        str | None, typer.Option("--tz", help="IANA zone the cron rule is read in, e.g. Europe/Berlin.")
    ] = None,
    stream: Annotated[str | None, typer.Option("--stream", help="The stream to disable.")] = None,
    all_streams: Annotated[bool, typer.Option("--all", help="Every stream onair knows.")] = False,
    label: Annotated[str | None, typer.Option(help="A name for people.")] = None,
    as_json: AsJson = False,
) -> None:
    """Disable a stream (or every stream) for DURATION each time CRON fires in the zone."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            if (stream is None) == (not all_streams):
                raise BadInput("give exactly one of --stream ID and --all")
            if tz is None:
                raise BadInput("give the zone the cron rule is read in: --tz Europe/Berlin (or --tz UTC)")
            length = parse_duration(duration)
            added = off_hours.add_off_hours(
                settings,
                engine,
                stream=stream,
                cron=cron,
                duration=length,
                timezone=tz,
                label=label,
                now=now,
            )
        warn_replan(added.replan_failure)
        saved = added.row
        rule_id = saved.id
    windows = next_windows(saved, now)
    if as_json:
        output.print_json(off_hours_json(saved, windows))
        return
    output.info(f"off-hours {rule_id} added: {_describe(saved)}")
    if saved.invalid_reason:
        output.info(f"warning: the planner cannot use it: {saved.invalid_reason}")
    zone = ZoneInfo(saved.timezone)
    for start, end in windows:
        output.info(f"  off {show_instant(start, zone)} until {show_instant(end, zone)}")


@offhours_app.command("list")
def list_off_hours(
    include_all: Annotated[bool, typer.Option("--all", help="Include removed rules.")] = False,
    as_json: AsJson = False,
) -> None:
    """List the off-hours rules, each with its next window in its own zone."""
    now = SystemClock().now()
    with open_store() as (_, engine):
        rows, names = off_hours.list_off_hours(engine, include_all=include_all)
    if as_json:
        output.print_json([off_hours_json(row, next_windows(row, now, 1)) for row in rows])
        return
    table = []
    for row in rows:
        upcoming = next_windows(row, now, 1)
        zone = ZoneInfo(row.timezone) if validate_timezone(row.timezone) is None else None
        table.append(
            (
                row.id,
                "all streams" if row.stream_id is None else names.get(row.stream_id) or row.stream_id,
                row.cron,
                row.timezone,
                show_duration(row.duration_seconds),
                row.label,
                show_instant(upcoming[0][0], zone) if upcoming and zone else "",
                _off_hours_status(row),
            )
        )
    output.print_table(
        ("id", "stream", "cron", "zone", "duration", "label", "next off", "status"),
        table,
        title=f"{len(rows)} off-hours rule{'s' if len(rows) != 1 else ''}",
    )


@offhours_app.command("remove")
def remove_off_hours(rule_id: OffHoursId) -> None:
    """Remove an off-hours rule; its pending actions are cancelled at once."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            _load_off_hours(engine, rule_id)
        cancel_and_say(
            settings,
            engine,
            Schedule.OFF_HOURS,
            rule_id,
            what=f"off-hours {rule_id}",
            verb="removed",
            now=now,
        )


def next_windows(
    row: OffHours, now: datetime, count: int = UPCOMING_WINDOWS
) -> list[tuple[datetime, datetime]]:
    """The next `count` windows [start, end) of a usable rule (none for a broken or removed one)."""
    if row.cancelled_at is not None or validate_cron(row.cron) or validate_timezone(row.timezone):
        return []
    windows: list[tuple[datetime, datetime]] = []
    after = now
    for _ in range(count):
        start = next_fire_after(row.cron, row.timezone, after)
        if start is None:
            break
        windows.append((start, start + timedelta(seconds=row.duration_seconds)))
        after = start
    return windows


def _describe(row: OffHours) -> str:
    target = "every stream" if row.stream_id is None else f"stream {row.stream_id}"
    label = f" ({row.label})" if row.label else ""
    return f"{target} off for {show_duration(row.duration_seconds)} at '{row.cron}' {row.timezone}{label}"


def _off_hours_status(row: OffHours) -> str:
    if row.cancelled_at is not None:
        return "removed"
    return f"invalid: {row.invalid_reason}" if row.invalid_reason else "active"


def _load_off_hours(engine: Engine, rule_id: int) -> OffHours:
    row = off_hours.get_off_hours(engine, rule_id)
    if row is None:
        raise BadInput(f"no off-hours rule with id {rule_id} (see `onair offhours list --all`)")
    return row


def off_hours_json(row: OffHours, windows: list[tuple[datetime, datetime]]) -> dict[str, Any]:
    return {
        "id": row.id,
        "stream_id": row.stream_id,
        "cron": row.cron,
        "timezone": row.timezone,
        "duration_seconds": row.duration_seconds,
        "label": row.label,
        "cancelled_at": iso_utc(row.cancelled_at),
        "invalid_reason": row.invalid_reason,
        "created_at": iso_utc(row.created_at),
        "next_windows": [{"start": iso_utc(start), "end": iso_utc(end)} for start, end in windows],
    }
