"""The agenda three ways: tables per stream for people, JSON for scripts, iCalendar for calendars.

Tables show local times in the operator's zone with the UTC offset. JSON and iCalendar carry UTC
(the JSON shape is documented in docs/planning.md and only ever grows). iCalendar UIDs are stable
(`broadcast-12@onair`; `offhours-3-<stream>-20261127T220000Z@onair`), so a subscribed calendar
updates an event in place when its slot moves.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Any

from worker.cli import ics, output
from worker.cli.timeparse import iso_utc, show_duration, show_instant
from worker.domain.outcomes import Verdict
from worker.domain.stream_policy import BetweenSlots
from worker.service.agenda import (
    FORECAST,
    ActionEntry,
    Agenda,
    OffWindow,
    StreamAgenda,
    slot_kind,
    slot_label,
)
from worker.service.records import Broadcast


def stream_label(stream: StreamAgenda) -> str:
    return f"{stream.name} ({stream.stream_id})" if stream.name else stream.stream_id


def show_span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """`2026-11-27 18:55:00 +01:00 to 20:00:00`; the end in full when its date or offset differs."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    if first.date() == last.date() and first.utcoffset() == last.utcoffset():
        return f"{show_instant(start, zone)} to {last:%H:%M:%S}"
    return f"{show_instant(start, zone)} to {show_instant(end, zone)}"


def short_span(start: datetime, end: datetime, zone: tzinfo) -> str:
    """`19:00-20:00 +01:00`, with dates when the span crosses midnight or an offset change."""
    first, last = start.astimezone(zone), end.astimezone(zone)
    clock = "%H:%M:%S" if first.second or last.second else "%H:%M"
    if first.date() == last.date() and first.utcoffset() == last.utcoffset():
        offset = show_instant(start, zone).rsplit(" ", 1)[1]
        return f"{first.strftime(clock)}-{last.strftime(clock)} {offset}"
    return f"{show_instant(start, zone)} to {show_instant(end, zone)}"


def override_phrase(window: OffWindow, zone: tzinfo) -> str:
    """`booking #13 by Jazz Club keeps the stream enabled 19:00-20:00 +01:00`, for each slot in it."""
    if not window.overrides:
        return "stream disabled"
    return "; ".join(
        f"{slot_label(o.slot)} keeps the stream enabled {short_span(o.start, o.end, zone)}"
        for o in window.overrides
    )


def _slot_title(row: Broadcast) -> str:
    return f"{slot_label(row)} {row.title!r}" if row.title else slot_label(row)


def _slot_details(row: Broadcast, zone: tzinfo, happened: Verdict | None) -> str:
    lead = show_duration(row.lead_seconds)
    details = f"stream enabled from {show_instant(row.slot_starts_at, zone)} (lead {lead})"
    if row.invalid_reason:
        details += f"; NOT PLANNED: {row.invalid_reason}"
    elif happened is not None:
        details += f"; {happened.text}"
    return details


def _action_cells(action: ActionEntry, zone: tzinfo) -> tuple[str, str]:
    what = f"{action.kind} (forecast)" if action.state == FORECAST else f"{action.kind} #{action.id}"
    state = action.state
    if action.attempts and action.next_attempt_at is not None:
        state = f"{state}, retry {show_instant(action.next_attempt_at, zone)}"
    if action.state == FORECAST:
        state = "not in the ledger yet"
    return what, f"{action.reason} [{state}]"


def print_agenda(agenda: Agenda, zone: tzinfo, span_words: str) -> None:
    if not any(not s.empty for s in agenda.streams):
        output.info(f"nothing scheduled or planned in the next {span_words}")
    for stream in agenda.streams:
        if stream.empty:
            continue
        rows: list[tuple[tuple[datetime, int, int], tuple[str, str, str]]] = []
        for slot in stream.slots:
            when = show_span(slot.starts_at, slot.ends_at, zone)
            details = _slot_details(slot, zone, agenda.outcomes.get(slot.id))
            rows.append(((slot.slot_starts_at, 0, slot.id), (when, _slot_title(slot), details)))
        for window in stream.off_hours:
            label = f"off-hours #{window.rule.id}" + (f" {window.rule.label!r}" if window.rule.label else "")
            when = show_span(window.start, window.end, zone)
            rows.append(((window.start, 1, window.rule.id), (when, label, override_phrase(window, zone))))
        for action in stream.actions:
            rows.append(
                ((action.due_at, 2 + action.sequence, action.id or 0),
                 (show_instant(action.due_at, zone), *_action_cells(action, zone)))
            )  # fmt: skip
        rows.sort(key=lambda item: item[0])
        counts = (
            f"{_count(len(stream.slots), 'slot')}, {_count(len(stream.off_hours), 'off-hours window')}, "
            f"{_count(len(stream.actions), 'action')}"
        )
        if stream.between_slots == BetweenSlots.DISABLE.value:
            counts += "; disabled between slots"
        output.print_table(
            ("when", "what", "details"),
            (cells for _, cells in rows),
            title=f"{stream_label(stream)}: {counts}",
        )


def _count(n: int, noun: str) -> str:
    return f"{n} {noun}{'' if n == 1 else 's'}"


# -- JSON --------------------------------------------------------------------------------------------


def slot_json(row: Broadcast, happened: Verdict | None = None) -> dict[str, Any]:
    return {
        "outcome": happened.outcome.value if happened else None,
        "outcome_cause": happened.cause if happened else None,
        "live_minutes": happened.live_minutes if happened else None,
        "id": row.id,
        "kind": slot_kind(row),
        "title": row.title,
        "organiser": row.organiser_name,
        "organiser_id": row.organiser_id,
        "series_id": row.series_id,
        "starts_at": iso_utc(row.starts_at),
        "ends_at": iso_utc(row.ends_at),
        "enabled_from": iso_utc(row.slot_starts_at),
        "lead_seconds": row.lead_seconds,
        "invalid_reason": row.invalid_reason,
    }


def window_json(window: OffWindow) -> dict[str, Any]:
    return {
        "rule_id": window.rule.id,
        "label": window.rule.label,
        "starts_at": iso_utc(window.start),
        "ends_at": iso_utc(window.end),
        "overridden_by": [
            {
                "slot_id": o.slot.id,
                "kind": slot_kind(o.slot),
                "organiser": o.slot.organiser_name,
                "enabled_from": iso_utc(o.start),
                "enabled_until": iso_utc(o.end),
            }
            for o in window.overrides
        ],
    }


def entry_json(action: ActionEntry) -> dict[str, Any]:
    return {
        "id": action.id,
        "key": action.key,
        "kind": action.kind,
        "due_at": iso_utc(action.due_at),
        "deadline_at": iso_utc(action.deadline_at),
        "state": action.state,
        "attempts": action.attempts,
        "reason": action.reason,
        "source": action.source,
        "source_id": action.source_id,
    }


def streams_json(agenda: Agenda) -> list[dict[str, Any]]:
    return [
        {
            "stream_id": stream.stream_id,
            "stream_name": stream.name,
            "between_slots": stream.between_slots,
            "slots": [slot_json(s, agenda.outcomes.get(s.id)) for s in stream.slots],
            "off_hours": [window_json(w) for w in stream.off_hours],
            "actions": [entry_json(a) for a in stream.actions],
        }
        for stream in agenda.streams
    ]


# -- iCalendar ---------------------------------------------------------------------------------------


def agenda_calendar(agenda: Agenda, *, include_off_hours: bool = True) -> str:
    events: list[ics.Event] = []
    for stream in agenda.streams:
        where = stream_label(stream)
        for slot in stream.slots:
            events.append(_slot_event(slot, where))
        if include_off_hours:
            events.extend(_window_event(window, where) for window in stream.off_hours)
    events.sort(key=lambda e: (e.start, e.uid))
    return ics.calendar(events, name="onair plan", now=agenda.now)


def _slot_event(slot: Broadcast, where: str) -> ics.Event:
    kind = slot_kind(slot)
    summary = slot.title or slot_label(slot)
    if kind == "booking" and slot.title:
        summary = f"{slot.title} ({slot.organiser_name})"
    lead = timedelta(seconds=slot.lead_seconds)
    lines = [
        f"{slot_label(slot)} on stream {where}",
        f"The stream is enabled {show_duration(lead.total_seconds())} before the start "
        f"({iso_utc(slot.slot_starts_at)}) and the broadcast is finished at the end.",
    ]
    if slot.invalid_reason:
        lines.append(f"Not planned: {slot.invalid_reason}")
    extra = [
        ("X-ONAIR-STREAM", slot.stream_id),
        ("X-ONAIR-KIND", kind),
        ("X-ONAIR-LEAD", show_duration(slot.lead_seconds)),
    ]
    if slot.organiser_name:
        extra.append(("X-ONAIR-ORGANISER", slot.organiser_name))
    return ics.Event(
        uid=f"broadcast-{slot.id}@onair",
        start=slot.starts_at,
        end=slot.ends_at,
        summary=summary,
        description="\n".join(lines),
        location=where,
        categories=kind,
        last_modified=slot.updated_at,
        extra=tuple(extra),
    )


def _window_event(window: OffWindow, where: str) -> ics.Event:
    rule = window.rule
    name = rule.label or f"off-hours #{rule.id}"
    overrides = override_phrase(window, UTC) if window.overrides else "The stream is disabled."
    return ics.Event(
        uid=f"offhours-{rule.id}-{window.stream_id}-{ics.utc_stamp(window.start)}@onair",
        start=window.start,
        end=window.end,
        summary=f"off-hours: {name}",
        description=f"off-hours #{rule.id} ({rule.cron} {rule.timezone}) on stream {where}\n{overrides}",
        location=where,
        categories="off-hours",
        transparent=True,
        extra=(("X-ONAIR-STREAM", window.stream_id), ("X-ONAIR-KIND", "off-hours")),
    )
