"""`onair broadcast ...`: one-off broadcasts on a stream, written to SQL.

This module parses and formats; the service layer (service.slots, service.broadcasts,
service.cancelling) checks every input before anything is written (the rules the booking API applies
too), looks a stream onair has never seen up once at FastPix, and re-plans after every change so
`onair plan` shows the result immediately. Errors are one `error:` line, exit 1.
Tables show times in the operator's zone with the offset; JSON carries ISO 8601 UTC. The recurring form
(`onair broadcast add --cron ...`) is handed over to series.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import tzinfo
from typing import Annotated, Any

import typer
from sqlalchemy import Engine

from worker.cli import output
from worker.cli.cancelling import cancel_and_say
from worker.cli.slot_input import read_slot
from worker.cli.timeline import (
    AsJson,
    TzOption,
    action_json,
    action_row,
    open_store,
    warn_replan,
)
from worker.cli.timeparse import (
    BadInput,
    display_zone,
    iso_utc,
    parse_metadata_pairs,
    show_duration,
    show_instant,
)
from worker.clock import SystemClock
from worker.domain.outcomes import Verdict
from worker.domain.specs import BroadcastSpec, parse_metadata
from worker.domain.types import ActionState
from worker.domain.viewers import ViewerFigures
from worker.service import broadcasts, organisers, viewers
from worker.service.cancelling import Schedule
from worker.service.errors import SlotConflict
from worker.service.records import Action, Broadcast
from worker.service.streams_lookup import register_stream_if_needed

broadcast_app = typer.Typer(help="Schedule one-off broadcasts on a stream.", no_args_is_help=True)

ACTION_COLUMNS = ("id", "due", "kind", "deadline", "state", "attempts", "reason / outcome")

StreamOption = Annotated[str, typer.Option("--stream", help="The FastPix stream id.")]
TitleOption = Annotated[str | None, typer.Option(help="A name for people.")]
AllowPast = Annotated[bool, typer.Option("--allow-past", help="Accept a start in the past.")]
Quiet = Annotated[bool, typer.Option("--quiet", "-q", help="Print only the new id.")]
BroadcastId = Annotated[int, typer.Argument(help="The broadcast id (from `onair broadcast list`).")]


@broadcast_app.command("add")
def add(
    stream: StreamOption,
    start: Annotated[
        str | None, typer.Option(help="Start: ISO 8601 with offset, or local time with --tz.")
    ] = None,
    end: Annotated[str | None, typer.Option(help="End, in the same forms as --start.")] = None,
    lead: Annotated[
        str | None,
        typer.Option(
            help="Enable this long before the start, e.g. 10m (default ONAIR_DEFAULT_LEAD_SECONDS: 5m)."
        ),
    ] = None,
    title: TitleOption = None,
    metadata: Annotated[
        list[str] | None, typer.Option("--metadata", "-m", help="key=value set on the stream; repeatable.")
    ] = None,
    reconnect_window: Annotated[
        int | None,
        typer.Option("--reconnect-window", help="Seconds FastPix waits for the encoder (60..1800)."),
    ] = None,
    tz: TzOption = None,
    allow_past: AllowPast = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
    cron: Annotated[
        str | None,
        typer.Option(help="Recurring: when each occurrence starts, e.g. '0 19 * * MON-FRI', in --tz."),
    ] = None,
    duration: Annotated[
        str | None, typer.Option(help="Recurring: length of each occurrence, e.g. 90m.")
    ] = None,
    until: Annotated[
        str | None, typer.Option(help="Recurring: last day (YYYY-MM-DD, in --tz) or time of an occurrence.")
    ] = None,
    count: Annotated[
        int | None, typer.Option(min=1, help="Recurring: at most this many occurrences.")
    ] = None,
    skip: Annotated[
        list[str] | None, typer.Option(help="Recurring: skip this local date (YYYY-MM-DD); repeatable.")
    ] = None,
) -> None:
    """Schedule a broadcast: enable the stream `lead` before START, finish it at END. With --cron and
    --duration instead of --start/--end, a recurring broadcast (see `onair series --help`)."""
    recurring = {"--cron": cron, "--duration": duration, "--until": until, "--count": count, "--skip": skip}
    if cron is not None or (start is None and end is None):
        from worker.cli.series import add_series  # series.py builds on this module

        with output.reporting(BadInput):
            _one_form(start, end, recurring)
        assert cron is not None
        add_series(
            stream=stream,
            cron=cron,
            duration=duration,
            tz=tz,
            until=until,
            count=count,
            skip=skip,
            lead=lead,
            title=title,
            metadata=metadata,
            reconnect_window=reconnect_window,
            as_json=as_json,
        )
        return
    with output.reporting(BadInput):
        _one_form(start, end, recurring)
    assert start is not None and end is not None
    one_off = OneOff(stream, start, end, tz=tz, lead=lead, allow_past=allow_past, title=title)
    add_one_off(
        one_off,
        quiet=quiet,
        as_json=as_json,
        head=lambda saved: f"broadcast {saved.id} added",
        to_json=broadcast_json,
        metadata=metadata,
        reconnect_window=reconnect_window,
    )


@dataclass(frozen=True)
class OneOff:
    """A one-off slot as `onair broadcast add` and `onair book add` take it, as typed."""

    stream: str
    start: str
    end: str
    tz: str | None
    lead: str | None
    allow_past: bool
    title: str | None


def add_one_off(
    slot: OneOff,
    *,
    quiet: bool,
    as_json: bool,
    head: Callable[[Broadcast], str],
    to_json: Callable[[Broadcast], dict[str, Any]],
    organiser: str | None = None,
    metadata: list[str] | None = None,
    reconnect_window: int | None = None,
) -> None:
    """Check the slot (service.slots), write it (a booking of `organiser` when given) and say what was
    planned: its id with `quiet`, JSON with `as_json`, else `head` and the actions."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            zone = display_zone(slot.tz)
            spec = read_slot(
                slot.stream,
                slot.start,
                slot.end,
                tz=slot.tz,
                lead=slot.lead,
                default_lead_seconds=settings.default_lead_seconds,
                now=now,
                allow_past=slot.allow_past,
                title=slot.title,
                metadata=parse_metadata_pairs(metadata),
                reconnect_window=reconnect_window,
            )
            organiser_id = None if organiser is None else organisers.active_organiser_id(engine, organiser)
            found = register_stream_if_needed(engine, slot.stream)
        with output.reporting(SlotConflict):
            added = broadcasts.add_slot(settings, engine, spec, found, now=now, organiser_id=organiser_id)
        warn_replan(added.replan_failure)
        saved, actions = added.row, added.actions
    if quiet:
        output.info(str(saved.id))
    elif as_json:
        output.print_json({**to_json(saved), "actions": [action_json(a) for a in actions]})
    else:
        say_added(head(saved), spec, saved, actions, zone)


def _one_form(start: str | None, end: str | None, recurring: Mapping[str, object]) -> None:
    """A one-off broadcast (--start/--end) or a recurring one (--cron/--duration), never a mix."""
    given = [name for name, value in recurring.items() if value]
    if recurring["--cron"] is not None:
        mixed = [name for name, value in (("--start", start), ("--end", end)) if value is not None]
        if mixed:
            raise BadInput(
                f"{' and '.join(mixed)} {'is' if len(mixed) == 1 else 'are'} for a one-off broadcast, "
                "--cron for a recurring one: give one form"
            )
        return
    if start is None and end is None:
        raise BadInput(
            "give --start and --end for a one-off broadcast, or --cron and --duration for a recurring one"
        )
    if start is None or end is None:
        raise BadInput(
            "a one-off broadcast needs both --start and --end "
            f"(missing {'--start' if start is None else '--end'})"
        )
    if given:
        raise BadInput(f"{', '.join(given)}: only for a recurring broadcast; add --cron, or drop them")


def say_added(head: str, spec: BroadcastSpec, row: Broadcast, actions: list[Action], zone: tzinfo) -> None:
    output.info(
        f"{head}: stream {spec.stream_id}, {show_instant(spec.starts_at, zone)} to "
        f"{show_instant(spec.ends_at, zone)}, enable {show_duration(spec.lead.total_seconds())} before"
    )
    say_plan(row, actions, zone)


def say_plan(row: Broadcast, actions: list[Action], zone: tzinfo) -> None:
    if row.invalid_reason:
        output.info(f"warning: the planner cannot use it: {row.invalid_reason}")
    upcoming = [a for a in actions if a.state in (ActionState.PENDING, ActionState.CLAIMED)]
    for action in upcoming:
        output.info(f"  {action.kind:<8} due {show_instant(action.due_at, zone)} ({action.reason})")
    if not upcoming and not row.invalid_reason:
        output.info("  nothing planned yet: its actions enter the ledger once they are within the horizon")


@broadcast_app.command("list")
def list_broadcasts(
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Include ended and cancelled broadcasts.")
    ] = False,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """List upcoming and running broadcasts."""
    now = SystemClock().now()
    with open_store() as (_, engine):
        with output.reporting(BadInput):
            zone = display_zone(tz)
        listed = broadcasts.list_slots(engine, now=now, stream=stream, include_all=include_all)
        rows, names, happened = listed.rows, listed.stream_names, listed.verdicts
        audience = viewers.figures_of(engine, [row.id for row in rows])
        from worker.cli.series import load_series, print_series  # series.py builds on this module

        series, _ = load_series(engine, include_all=include_all)
    if as_json:
        output.print_json([broadcast_json(row, happened[row.id], audience.get(row.id)) for row in rows])
        return
    # The viewers column only once a listed broadcast was sampled: "peak / average".
    sampled = any(f.samples for f in audience.values())
    output.print_table(
        ("id", "stream", "start", "end", "lead", "title", "status") + (("viewers",) if sampled else ()),
        (
            (
                row.id,
                names.get(row.stream_id) or row.stream_id,
                show_instant(row.starts_at, zone),
                show_instant(row.ends_at, zone),
                show_duration(row.lead_seconds),
                row.title,
                broadcast_status(row, happened[row.id])
                + (f" (series {row.series_id})" if row.series_id else ""),
            )
            + ((_peak_and_average(audience.get(row.id)),) if sampled else ())
            for row in rows
        ),
        title=f"{len(rows)} broadcast{'s' if len(rows) != 1 else ''}",
    )
    series = [s for s in series if stream is None or s.stream_id == stream]
    if series:
        print_series(series, names, now)


@broadcast_app.command("show")
def show(broadcast_id: BroadcastId, tz: TzOption = None, as_json: AsJson = False) -> None:
    """Show one broadcast, why it cannot be planned (if so), and its planned actions."""
    now = SystemClock().now()
    with open_store() as (_, engine):
        with output.reporting(BadInput):
            zone = display_zone(tz)
            row = load_broadcast(engine, broadcast_id)
        actions = broadcasts.actions_of(engine, broadcast_id)
        happened = broadcasts.verdict_of(engine, row, actions, now)
        audience = viewers.figures_of(engine, [row.id]).get(row.id)
    if as_json:
        output.print_json(
            {**broadcast_json(row, happened, audience), "actions": [action_json(a) for a in actions]}
        )
        return
    metadata, _ = parse_metadata(row.metadata_json)
    output.print_fields(
        [
            ("id", row.id),
            ("stream", row.stream_id),
            ("start", show_instant(row.starts_at, zone)),
            ("end", show_instant(row.ends_at, zone)),
            ("lead", show_duration(row.lead_seconds)),
            ("title", row.title),
            ("metadata", metadata if metadata is not None else row.metadata_json),
            ("reconnect window s", row.reconnect_window),
            ("status", broadcast_status(row, happened)),
            ("viewers", None if audience is None else audience.text(lambda t: show_instant(t, zone))),
            ("cancelled", show_instant(row.cancelled_at, zone)),
            ("invalid reason", row.invalid_reason),
        ],
        title=f"broadcast {row.id}",
    )
    output.print_table(ACTION_COLUMNS, (action_row(a, zone) for a in actions), title="planned actions")


@broadcast_app.command("cancel")
def cancel(broadcast_id: BroadcastId) -> None:
    """Cancel a broadcast; its pending actions are cancelled at once."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            load_broadcast(engine, broadcast_id)
        cancel_and_say(
            settings, engine, Schedule.BROADCAST, broadcast_id, what=f"broadcast {broadcast_id}", now=now
        )


def load_broadcast(engine: Engine, broadcast_id: int) -> Broadcast:
    row = broadcasts.get_broadcast(engine, broadcast_id)
    if row is None:
        raise BadInput(f"no broadcast with id {broadcast_id} (see `onair broadcast list --all`)")
    return row


def broadcast_status(row: Broadcast, happened: Verdict) -> str:
    """What happened to it (from its actions); a row the planner cannot use says why instead."""
    if row.invalid_reason and row.cancelled_at is None:
        return f"invalid: {row.invalid_reason}"
    return happened.text


def _peak_and_average(figures: ViewerFigures | None) -> str | None:
    if figures is None or not figures.samples:
        return None
    return f"{figures.peak} / {figures.average:.0f}"


def broadcast_json(
    row: Broadcast, happened: Verdict | None = None, viewers: ViewerFigures | None = None
) -> dict[str, Any]:
    """`happened` (with `viewers`, its samples' figures, None when never sampled): what happened."""
    metadata, reason = parse_metadata(row.metadata_json)
    outcome = (
        {}
        if happened is None
        else {
            "outcome": happened.outcome.value,
            "outcome_cause": happened.cause,
            "live_minutes": happened.live_minutes,
            "viewers": None if viewers is None else viewers.to_json(),
        }
    )
    return {
        **outcome,
        "id": row.id,
        "stream_id": row.stream_id,
        "starts_at": iso_utc(row.starts_at),
        "ends_at": iso_utc(row.ends_at),
        "lead_seconds": row.lead_seconds,
        "title": row.title,
        "metadata": row.metadata_json if reason else metadata,
        "reconnect_window": row.reconnect_window,
        "cancelled_at": iso_utc(row.cancelled_at),
        "invalid_reason": row.invalid_reason,
        "created_at": iso_utc(row.created_at),
    }
