"""`onair plan` and `onair history`: the ledger as an operator reads it (service.ledger_view), plus
what the scheduling commands share: opening the database, re-planning at once (service.replanning)
with its warning, and showing actions.

Tables show times in the operator's zone (`--tz`, default the machine's) with the UTC offset;
JSON carries ISO 8601 UTC so scripts read the same text on every machine.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, tzinfo
from typing import Annotated, Any

import typer
from pydantic import ValidationError
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from worker.cli import output
from worker.cli.agenda_view import agenda_calendar, print_agenda, streams_json
from worker.cli.timeparse import (
    BadInput,
    display_zone,
    iso_utc,
    parse_duration,
    parse_instant,
    show_instant,
)
from worker.clock import SystemClock
from worker.config import OnairSettings
from worker.domain.causes import FailureCause, describe_failure
from worker.domain.types import ActionState
from worker.service import replanning
from worker.service.agenda import Agenda
from worker.service.database import SchemaError, ensure_schema_current, make_engine
from worker.service.ledger_view import PlanView, history_view, plan_view
from worker.service.planning import PlanReport
from worker.service.records import Action, ActionEvent, WebhookEvent

AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
TzOption = Annotated[
    str | None,
    typer.Option("--tz", help="IANA zone for local times in and out (default: this machine's zone)."),
]
DEFAULT_PLAN_HOURS = 24.0
RECENT_HOURS = 24  # `onair plan` also lists the failures of this many hours back


@contextmanager
def open_store() -> Iterator[tuple[OnairSettings, Engine]]:
    """Settings read afresh (not the cached process-wide ones) and an engine on a current schema;
    database trouble becomes one `error:` line."""
    settings = read_settings()
    try:
        engine = make_engine(settings.database_url)
    except (ValueError, SQLAlchemyError) as exc:
        output.fail(f"cannot open onair's database: {_first_line(exc)}")
    try:
        ensure_schema_current(engine)
        yield settings, engine
    except SchemaError as exc:
        output.fail(str(exc))
    except SQLAlchemyError as exc:
        output.fail(f"database error: {_first_line(exc)}")
    finally:
        engine.dispose()


def read_settings() -> OnairSettings:
    """The ONAIR_* settings, read afresh; a bad one is one `error:` line naming it."""
    try:
        return OnairSettings()
    except ValidationError as exc:
        output.fail(f"bad setting: {'; '.join(_setting_problem(e) for e in exc.errors())}")


def _setting_problem(error: Any) -> str:
    message = str(error["msg"]).removeprefix("Value error, ")
    name = "ONAIR_" + "_".join(str(p) for p in error["loc"]).upper()
    return message if message.startswith(name) else f"{name}: {message}"


_first_line = replanning.first_line


def replan(settings: OnairSettings, engine: Engine, *, full: bool = False) -> PlanReport | None:
    """Run the planner now, so the ledger reflects a schedule change at once (a failure is a warning)."""
    done = replanning.replan(settings, engine, full=full)
    warn_replan(done.failure)
    return done.report


def warn_replan(failure: str | None) -> None:
    """A change is saved even when planning at once failed: the scheduler will plan it."""
    if failure is not None:
        typer.echo(
            f"warning: saved, but planning now failed ({failure}); the scheduler will plan it", err=True
        )


def action_json(
    row: Action, names: dict[str, str] | None = None, causes: dict[int, str] | None = None
) -> dict[str, Any]:
    return {
        "id": row.id,
        "kind": row.kind,
        "stream_id": row.stream_id,
        "stream_name": (names or {}).get(row.stream_id),
        "source": row.source,
        "source_id": row.source_id,
        "due_at": iso_utc(row.due_at),
        "deadline_at": iso_utc(row.deadline_at),
        "next_attempt_at": iso_utc(row.next_attempt_at),
        "state": row.state,
        "attempts": row.attempts,
        "reason": row.reason,
        "outcome": row.outcome,
        "last_error": row.last_error,
        "cause": _cause_json((causes or {}).get(row.id)),
        "finished_at": iso_utc(row.finished_at),
    }


def _cause_json(stored: str | None) -> dict[str, Any] | None:
    cause = FailureCause.from_json(stored)
    return None if cause is None else cause.as_dict()


def what_happened(row: Action) -> str | None:
    """The outcome as a person reads it: for a failure, its cause and then the rule that stopped it."""
    if row.state in (ActionState.FAILED.value, ActionState.MISSED.value):
        return describe_failure(row.state, row.outcome, row.last_error)
    return row.outcome


def action_row(row: Action, zone: tzinfo) -> tuple[object, ...]:
    outcome = what_happened(row)
    why = row.reason if outcome is None else f"{row.reason} -> {outcome}"
    return (
        row.id,
        show_instant(row.due_at, zone),
        row.kind,
        show_instant(row.deadline_at, zone),
        row.state,
        row.attempts,
        why,
    )


def _stream_label(stream_id: str, names: dict[str, str]) -> str:
    name = names.get(stream_id)
    return f"{name} ({stream_id})" if name else stream_id


def plan(
    hours: Annotated[
        float | None, typer.Option(help="How far ahead to look, in hours (default 24).", min=0)
    ] = None,
    days: Annotated[
        float | None, typer.Option(help="How far ahead to look, in days (instead of --hours).", min=0)
    ] = None,
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    tz: TzOption = None,
    as_json: AsJson = False,
    ics_to: Annotated[
        str | None,
        typer.Option(
            "--ics",
            metavar="FILE",
            help="Write the slots and off-hours windows as iCalendar to FILE (`-` for stdout).",
        ),
    ] = None,
    full_replan: Annotated[
        bool,
        typer.Option(
            "--replan",
            help="Re-plan every stream over the whole horizon first (the planner otherwise re-plans "
            "only what changed, and everything once an hour).",
        ),
    ] = False,
) -> None:
    """Per stream: broadcasts, bookings, series occurrences, off-hours windows (and the slots that
    override them), and every action that will run, when and why."""
    now = SystemClock().now()
    with output.reporting(BadInput):
        span = _span(hours, days)
        if as_json and ics_to is not None:
            raise BadInput("give one of --json and --ics")
    until = now + span
    with open_store() as (settings, engine):
        if full_replan:
            replan(settings, engine, full=True)
            now = SystemClock().now()
            until = now + span
        with output.reporting(BadInput):
            zone = display_zone(tz)
        view = plan_view(engine, now=now, until=until, stream=stream, recent=timedelta(hours=RECENT_HOURS))
        agenda, names, last_plan = view.agenda, view.stream_names, view.last_planned_at
        invalid = _invalid_schedules(view)
        failures, causes = view.failures, view.causes
    if ics_to is not None:
        _write_ics(agenda, ics_to)
        return
    if as_json:
        output.print_json(
            {
                "now": iso_utc(now),
                "until": iso_utc(until),
                "timezone": str(zone),
                "last_planned_at": last_plan,
                "actions": [action_json(row, names) for row in agenda.ledger_actions],
                "streams": streams_json(agenda),
                "invalid_schedules": invalid,
                "recent_failures": [action_json(row, names, causes) for row in failures],
            }
        )
        return
    print_agenda(agenda, zone, _span_words(span))
    if invalid:
        output.print_table(
            ("schedule", "id", "stream", "why it is not planned"),
            ((i["source"], i["id"], i["stream_id"] or "all streams", i["invalid_reason"]) for i in invalid),
            title=f"{len(invalid)} schedule row{'s' if len(invalid) != 1 else ''} flagged invalid",
        )
    if failures:
        output.print_table(
            ("id", "due", "kind", "stream", "state", "why"),
            (
                (
                    row.id,
                    show_instant(row.due_at, zone),
                    row.kind,
                    _stream_label(row.stream_id, names),
                    row.state,
                    what_happened(row),
                )
                for row in failures
            ),
            title=f"{len(failures)} failed or missed in the last {RECENT_HOURS} h",
        )
    if last_plan is None:
        output.info("the planner has never run on this database: start the scheduler (`onair run`)")


def _span(hours: float | None, days: float | None) -> timedelta:
    if hours is not None and days is not None:
        raise BadInput("give --hours or --days, not both")
    if days is not None:
        return timedelta(days=days)
    return timedelta(hours=DEFAULT_PLAN_HOURS if hours is None else hours)


def _span_words(span: timedelta) -> str:
    hours = span.total_seconds() / 3600
    return f"{hours / 24:g} days" if hours >= 48 and hours % 24 == 0 else f"{hours:g} h"


def _write_ics(agenda: Agenda, target: str) -> None:
    text = agenda_calendar(agenda)
    if target == "-":
        sys.stdout.write(text)
        return
    try:
        with open(target, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
    except OSError as exc:
        output.fail(f"cannot write {target}: {exc.strerror or exc}")
    events = text.count("BEGIN:VEVENT")
    output.info(f"wrote {events} event{'' if events == 1 else 's'} to {target}")


_SOURCE_OF_TABLE = {"broadcasts": "broadcast", "off_hours": "off_hours", "broadcast_series": "series"}


def _invalid_schedules(view: PlanView) -> list[dict[str, Any]]:
    return [
        {
            "source": _SOURCE_OF_TABLE[r.table],
            "row": r.label,
            "id": r.id,
            "stream_id": r.stream_id,
            "invalid_reason": r.reason,
        }
        for r in view.invalid
    ]


def history(
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    action: Annotated[int | None, typer.Option("--action", help="One action, with its full history.")] = None,
    state: Annotated[
        str | None,
        typer.Option("--state", help="Only actions in these states, comma-separated: failed, missed, ..."),
    ] = None,
    since: Annotated[
        str | None, typer.Option("--since", help="Since a time, or this long ago (12h, 90m).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="Until a time, or this long ago (12h, 90m).")
    ] = None,
    include_all: Annotated[
        bool, typer.Option("--all", help="Also actions cancelled unrun because their schedule changed.")
    ] = False,
    limit: Annotated[int, typer.Option(help="At most this many actions, newest first.", min=1)] = 50,
    verbose: Annotated[
        bool, typer.Option("--verbose", "-v", help="Also list each action's API calls and state changes.")
    ] = False,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """What happened: finished and retrying actions with their outcome (for a failure, its cause and the
    rule that stopped it) and attempts; with --stream, also the stream's FastPix webhook events."""
    now = SystemClock().now()
    with output.reporting(BadInput):
        states = parse_states(state)
        start = parse_since(since, now, tz, what="--since")
        end = parse_since(until, now, tz, what="--until")
    with open_store() as (_, engine), output.reporting(BadInput):
        zone = display_zone(tz)
        found = history_view(
            engine,
            action_id=action,
            since=start,
            until=end,
            states=states,
            stream=stream,
            hide_replan=not include_all and ActionState.CANCELLED.value not in states,
            limit=limit,
            with_events=verbose or action is not None,
            with_webhooks=stream is not None and not as_json,
        )
        rows, names, causes, heard = found.actions, found.stream_names, found.causes, found.webhooks
        events = None if found.events is None else _events(found.events)
    if as_json:
        output.print_json(
            [
                {
                    **action_json(row, names, causes),
                    **({"events": _public(events[row.id])} if events is not None else {}),
                }
                for row in rows
            ]
        )
        return
    output.print_table(
        ("id", "finished", "kind", "stream", "due", "state", "attempts", "outcome"),
        (
            (
                row.id,
                show_instant(row.finished_at, zone),
                row.kind,
                _stream_label(row.stream_id, names),
                show_instant(row.due_at, zone),
                row.state,
                row.attempts,
                what_happened(row) or row.last_error or row.reason,
            )
            for row in rows
        ),
        title=f"{len(rows)} action{'s' if len(rows) != 1 else ''}",
    )
    if events is not None:
        _print_events(rows, events, zone)
    if heard:
        _print_webhooks(heard, zone)


def _print_webhooks(heard: list[WebhookEvent], zone: tzinfo) -> None:
    """What FastPix said about the stream (its webhooks; `onair.poll` where onair read the status
    itself because none came), newest first. Only type, status and times are ever stored."""
    output.print_table(
        ("at", "event", "status", "received"),
        (
            (show_instant(e.created_at, zone), e.type, e.status, show_instant(e.received_at, zone))
            for e in heard
        ),
        title=f"{len(heard)} stream event{'s' if len(heard) != 1 else ''} (FastPix webhooks and polls)",
    )


def parse_states(text: str | None) -> list[str]:
    known = [s.value for s in ActionState]
    states = [s.strip().lower() for s in (text or "").split(",") if s.strip()]
    unknown = [s for s in states if s not in known]
    if unknown:
        raise BadInput(f"unknown state {', '.join(unknown)}: use one or more of {', '.join(known)}")
    return states


def parse_since(text: str | None, now: datetime, tz: str | None, *, what: str) -> datetime | None:
    """`12h` (that long before now) or a time (ISO 8601, or local with a zone)."""
    if text is None:
        return None
    raw = text.strip()
    if raw[:1].isdigit() and not any(c in raw for c in "-:T "):
        return now - parse_duration(raw, what=what)
    try:
        return parse_instant(raw, tz, what=what)
    except BadInput:
        raise BadInput(
            f"{what} {text!r} is neither a duration (12h, 90m) nor a time (2026-11-27T19:00:00+01:00)"
        ) from None


def _print_events(rows: list[Action], events: dict[int, list[dict[str, Any]]], zone: tzinfo) -> None:
    for row in rows:
        output.print_table(
            ("at", "actor", "event", "state", "attempt", "detail"),
            (
                (
                    show_instant(e["at_dt"], zone),
                    e["actor"],
                    e["event"],
                    f"{e['from_state'] or ''} -> {e['to_state']}" if e["to_state"] else "",
                    e["attempt"],
                    _describe_event(e),
                )
                for e in events[row.id]
            ),
            title=f"action {row.id}: {row.kind} {row.stream_id}",
        )


def _describe_event(event: dict[str, Any]) -> str:
    """An API call reads `PUT /live/streams/x/live-enable -> 200 in 42 ms`; giving up, its cause and
    rule; other events, their detail."""
    cause = FailureCause.from_json(event["detail"]) if event["event"] == "gave_up" else None
    if cause is not None:
        return cause.summary
    if not event["http_method"]:
        return str(event["detail"] or "")
    status = event["http_status"] if event["http_status"] is not None else "no answer"
    latency = f" in {event['latency_ms']:.0f} ms" if event["latency_ms"] is not None else ""
    call = f"{event['http_method']} {event['http_path']} -> {status}{latency}"
    return f"{call}: {event['detail']}" if event["detail"] else call


def _public(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [{key: value for key, value in event.items() if key != "at_dt"} for event in events]


def _events(found: dict[int, list[ActionEvent]]) -> dict[int, list[dict[str, Any]]]:
    return {
        action_id: [
            {
                "at": iso_utc(event.at),
                "at_dt": event.at,
                "actor": event.actor,
                "event": event.event,
                "from_state": event.from_state,
                "to_state": event.to_state,
                "attempt": event.attempt,
                "http_method": event.http_method,
                "http_path": event.http_path,
                "http_status": event.http_status,
                "latency_ms": event.latency_ms,
                "detail": event.detail,
            }
            for event in events
        ]
        for action_id, events in found.items()
    }
