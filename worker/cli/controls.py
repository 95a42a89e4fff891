"""The operators' controls: pause/resume a stream, move/edit a broadcast or booking, retry an action,
rotate/restore an organiser. Each parses its input, calls one function of `worker.service` and prints
the answer; a refusal is one `error:` line naming what to fix, exit 1. Who did it (the OS user) goes
to the history with each change."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated

import typer

from worker.cli import output
from worker.cli.actor import who
from worker.cli.broadcast import BroadcastId, say_plan
from worker.cli.timeline import AsJson, TzOption, open_store
from worker.cli.timeparse import (
    BadInput,
    display_zone,
    iso_utc,
    parse_duration,
    parse_instant,
    parse_metadata_pairs,
    show_instant,
)
from worker.clock import SystemClock
from worker.service import broadcasts, changes, off_hours_changes, organiser_controls, pauses, retry
from worker.service.refusal import Refused

action_app = typer.Typer(help="One planned action: run it again.", no_args_is_help=True)

StreamArg = Annotated[str | None, typer.Argument(help="The stream id (omit with --all).")]
AllStreams = Annotated[bool, typer.Option("--all", help="Every stream onair knows.")]
Note = Annotated[str | None, typer.Option("--note", help="Why: kept in the history.")]
BookingId = Annotated[int, typer.Argument(help="The booking id (from `onair book list`).")]
OrganiserName = Annotated[str, typer.Argument(help="The organiser's name, e.g. 'Jazz Club'.")]
Start = Annotated[
    str, typer.Option("--start", help="New start: ISO 8601 with offset, or local time with --tz.")
]
End = Annotated[str, typer.Option("--end", help="New end, in the same forms as --start.")]
AllowPast = Annotated[bool, typer.Option("--allow-past", help="Accept a start in the past.")]


def _one_stream(stream: str | None, every: bool) -> None:
    if every and stream is not None:
        raise BadInput("give a stream id or --all, not both")
    if not every and stream is None:
        raise BadInput("give a stream id, or --all for every stream")


def _until(text: str, tz: str | None, now: datetime) -> datetime:
    """`--until 2h` (that long from now) or a time."""
    raw = text.strip()
    if raw[:1].isdigit() and not any(c in raw for c in "-:T "):
        return now + parse_duration(raw, what="--until")
    return parse_instant(raw, tz, what="--until")


def pause(
    stream: StreamArg = None,
    every: AllStreams = False,
    until: Annotated[
        str | None, typer.Option("--until", help="Resume by itself at this time, or this long from now (2h).")
    ] = None,
    note: Note = None,
    tz: TzOption = None,
) -> None:
    """Pause a stream: onair sends it no act until resumed (a live broadcast is left as it is; actions
    due meanwhile end `skipped: paused (note)`)."""
    clock = SystemClock()
    with open_store() as (_, engine), output.reporting(BadInput, Refused):
        _one_stream(stream, every)
        zone = display_zone(tz)
        ends = None if until is None else _until(until, tz, clock.now())
        if every:
            made = pauses.pause_all(engine, actor=who(), now=clock.now(), until=ends, note=note)
            output.info(
                f"{len(made)} stream(s) paused"
                + (f": {', '.join(p.stream_id for p in made)}" if made else "")
            )
            return
        assert stream is not None
        pauses.pause_stream(engine, stream, actor=who(), now=clock.now(), until=ends, note=note)
    lasting = f"until {show_instant(ends, zone)}" if ends else "until `onair streams resume`"
    output.info(f"stream {stream} paused {lasting}: onair sends it no act meanwhile")


def resume(stream: StreamArg = None, every: AllStreams = False) -> None:
    """Resume a paused stream and re-plan: what the pause skipped runs after all if still useful (a
    broadcast under way is enabled, by its deadline)."""
    clock = SystemClock()
    with open_store() as (settings, engine), output.reporting(BadInput, Refused):
        _one_stream(stream, every)
        if every:
            done = pauses.resume_all(settings, engine, clock, actor=who())
        else:
            assert stream is not None
            done = [pauses.resume_stream(settings, engine, clock, stream, actor=who())]
    if not done:
        output.info("no stream was paused")
    for resumed in done:
        again = (
            f"; runs after all: action #{', #'.join(map(str, resumed.revived))}" if resumed.revived else ""
        )
        output.info(f"stream {resumed.stream_id} resumed{again}")


def move(
    broadcast_id: BroadcastId,
    start: Start,
    end: End,
    tz: TzOption = None,
    allow_past: AllowPast = False,
    note: Note = None,
) -> None:
    """Give a broadcast new times, checked as at creation (overlaps, lead included), re-planned at once."""
    _move(broadcast_id, start, end, tz, allow_past, note, bookings_only=False)


def move_booking(
    booking_id: BookingId,
    start: Start,
    end: End,
    tz: TzOption = None,
    allow_past: AllowPast = False,
    note: Note = None,
) -> None:
    """Give a booking new times, checked as at creation (overlaps, lead included), re-planned at once."""
    _move(booking_id, start, end, tz, allow_past, note, bookings_only=True)


def _move(
    row_id: int,
    start: str,
    end: str,
    tz: str | None,
    allow_past: bool,
    note: str | None,
    *,
    bookings_only: bool,
) -> None:
    clock = SystemClock()
    with open_store() as (settings, engine), output.reporting(BadInput, Refused):
        zone = display_zone(tz)
        starts_at = parse_instant(start, tz, what="start")
        ends_at = parse_instant(end, tz, what="end")
        row = changes.move_broadcast(
            settings,
            engine,
            clock,
            row_id,
            starts_at=starts_at,
            ends_at=ends_at,
            actor=who(),
            allow_past=allow_past,
            bookings_only=bookings_only,
            note=note,
        )
        actions = broadcasts.actions_of(engine, row.id)
    what = "booking" if bookings_only else "broadcast"
    output.info(
        f"{what} {row.id} moved: {show_instant(row.starts_at, zone)} to {show_instant(row.ends_at, zone)}"
    )
    say_plan(row, actions, zone)


def edit(
    broadcast_id: BroadcastId,
    title: Annotated[str | None, typer.Option("--title", help="A new title ('' clears it).")] = None,
    lead: Annotated[str | None, typer.Option("--lead", help="A new lead, e.g. 10m or 0s.")] = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value set on the stream; repeatable.")
    ] = None,
    clear_metadata: Annotated[
        bool, typer.Option("--clear-metadata", help="No metadata for this broadcast.")
    ] = False,
    reconnect_window: Annotated[
        int | None,
        typer.Option("--reconnect-window", help="Seconds FastPix waits for the encoder (60..1800)."),
    ] = None,
    tz: TzOption = None,
    note: Note = None,
) -> None:
    """Change a broadcast's title, lead, metadata or reconnect window; checked as at creation."""
    clock = SystemClock()
    with open_store() as (settings, engine), output.reporting(BadInput, Refused):
        zone = display_zone(tz)
        wanted = changes.Edit(
            title=title or None,
            clear_title=title == "",
            lead=None if lead is None else parse_duration(lead, what="lead", allow_zero=True),
            metadata=parse_metadata_pairs(metadata),
            clear_metadata=clear_metadata,
            reconnect_window=reconnect_window,
        )
        row = changes.edit_broadcast(settings, engine, clock, broadcast_id, wanted, actor=who(), note=note)
        actions = broadcasts.actions_of(engine, row.id)
    output.info(f"broadcast {row.id} edited")
    say_plan(row, actions, zone)


@action_app.command("retry")
def retry_action(
    action_id: Annotated[int, typer.Argument(help="The action id (from `onair history` or `onair plan`).")],
    note: Note = None,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """Run a failed or missed action again, now, if it is still useful (as its next attempt); refused
    with the reason otherwise."""
    with open_store() as (_, engine), output.reporting(BadInput, Refused):
        zone = display_zone(tz)
        done = retry.retry_action(engine, action_id, actor=who(), now=SystemClock().now(), note=note)
    if as_json:
        output.print_json(
            {"action_id": done.action_id, "attempt": done.attempt, "deadline_at": iso_utc(done.deadline_at)}
        )
        return
    output.info(
        f"action {done.action_id} ({done.kind} {done.stream_id}) runs again now as attempt {done.attempt}, "
        f"by {show_instant(done.deadline_at, zone)}"
    )


def rotate(name: OrganiserName, note: Note = None) -> None:
    """A new API token for an organiser, printed once: the old one stops working at once; bookings stay."""
    with open_store() as (_, engine), output.reporting(Refused):
        token = organiser_controls.rotate(engine, name, actor=who(), now=SystemClock().now(), note=note)
    output.info(f"organiser {name.strip()!r} has a new API token (it cannot be shown again; keep it safe):")
    output.info(token)


def restore(name: OrganiserName, note: Note = None) -> None:
    """Undo a revoke: the organiser's token works again."""
    with open_store() as (_, engine), output.reporting(Refused):
        organiser_controls.restore(engine, name, actor=who(), now=SystemClock().now(), note=note)
    output.info(f"organiser {name.strip()!r} restored: their token works again")


def edit_off_hours(
    rule_id: Annotated[int, typer.Argument(help="The off-hours id (from `onair offhours list`).")],
    cron: Annotated[str | None, typer.Option("--cron", help="When each window starts, read in --tz.")] = None,
    tz: Annotated[str | None, typer.Option("--tz", help="IANA zone the cron rule is read in.")] = None,
    duration: Annotated[str | None, typer.Option("--duration", help="How long each window lasts.")] = None,
    label: Annotated[str | None, typer.Option("--label", help="A name for people ('' clears it).")] = None,
    note: Note = None,
) -> None:
    """Change an off-hours rule, checked as at creation (no overlapping windows), re-planned at once."""
    with open_store() as (settings, engine), output.reporting(BadInput, Refused):
        wanted = off_hours_changes.OffHoursEdit(
            cron=cron,
            timezone=tz,
            duration=None if duration is None else parse_duration(duration, what="duration"),
            label=label,
        )
        row = off_hours_changes.edit_off_hours(
            settings, engine, SystemClock(), rule_id, wanted, actor=who(), note=note
        )
    output.info(f"off-hours {row.id} edited: off for {row.duration_seconds} s at '{row.cron}' {row.timezone}")
