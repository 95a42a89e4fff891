"""What `onair plan` shows: per stream, the slots, the off-hours windows and the actions of a range.

Slots are `broadcasts` rows (ops broadcasts, organisers' bookings, occurrences of a series), each with
its outcome so far (scheduled, enabled, live, interrupted, no signal...). Off-hours
windows are the rules expanded in the range; a slot that overlaps a window keeps the stream enabled
through it, and the window says so. Actions are the ledger's pending and running rows; past the
planner's horizon the ledger has none yet, so the pure planner forecasts them from the same schedules
(state `forecast`): the view covers the whole range, and what it forecasts is what will be planned.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sqlalchemy.orm import Session

from worker.domain.outcomes import Verdict
from worker.domain.planner import plan as forecast_plan
from worker.domain.recurrence import expand
from worker.domain.specs import check_off_hours, read_broadcast, read_off_hours
from worker.domain.stream_policy import BetweenSlots
from worker.service import outcomes
from worker.store import schedules, views
from worker.store.models import Action, Broadcast, OffHours

FORECAST = "forecast"
# Neighbouring slots decide finish deadlines and off-hours shifts, so the forecast reads past the range.
_MARGIN = timedelta(hours=1)


def slot_kind(row: Broadcast) -> str:
    if row.organiser_id is not None:
        return "booking"
    return "occurrence" if row.series_id is not None else "broadcast"


def slot_label(row: Broadcast) -> str:
    """`booking #13 by Jazz Club`, `occurrence #14 of series #2`, `broadcast #12`."""
    kind = slot_kind(row)
    if kind == "booking":
        return f"booking #{row.id} by {row.organiser_name or f'organiser #{row.organiser_id}'}"
    if kind == "occurrence":
        return f"occurrence #{row.id} of series #{row.series_id}"
    return f"broadcast #{row.id}"


@dataclass(frozen=True)
class Override:
    """A slot keeping the stream enabled for [start, end) inside an off-hours window."""

    slot: Broadcast
    start: datetime
    end: datetime


@dataclass(frozen=True)
class OffWindow:
    rule: OffHours
    stream_id: str
    start: datetime
    end: datetime
    overrides: tuple[Override, ...]


@dataclass(frozen=True)
class ActionEntry:
    """A ledger row (with its id) or a forecast (id None, state `forecast`)."""

    id: int | None
    key: str
    kind: str
    stream_id: str
    source: str
    source_id: int | None
    due_at: datetime
    deadline_at: datetime
    sequence: int
    state: str
    attempts: int
    next_attempt_at: datetime | None
    reason: str


@dataclass
class StreamAgenda:
    stream_id: str
    name: str | None
    between_slots: str = BetweenSlots.KEEP.value
    slots: list[Broadcast] = field(default_factory=list)
    off_hours: list[OffWindow] = field(default_factory=list)
    actions: list[ActionEntry] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not (self.slots or self.off_hours or self.actions)


@dataclass(frozen=True)
class Agenda:
    now: datetime
    until: datetime
    streams: list[StreamAgenda]
    ledger_actions: list[Action]
    # What has happened to each slot shown so far (worker.domain.outcomes), by broadcast id.
    outcomes: dict[int, Verdict] = field(default_factory=dict)


def build_agenda(session: Session, now: datetime, until: datetime, stream: str | None) -> Agenda:
    """Everything scheduled or planned on each stream from `now` to `until` (one stream when given)."""
    names = views.stream_names(session)
    policies = schedules.between_slots_of(session, names)
    # Rows whose stored values cannot even be read (text where a number belongs) are left out of the
    # view: they are listed with their invalid_reason instead. The others, invalid or not, are shown.
    nearby, broadcast_specs = [], []
    for row in schedules.load_broadcasts(session, now - _MARGIN, until + _MARGIN):
        spec = read_broadcast(row)
        if not isinstance(spec, str):
            nearby.append(row)
            broadcast_specs.append(spec)
    all_rules = schedules.load_off_hours(session)
    rule_specs = {r.id: read_off_hours(r) for r in all_rules}
    readable_rules = {i: spec for i, spec in rule_specs.items() if not isinstance(spec, str)}
    rules = [r for r in all_rules if r.id in readable_rules]
    ledger_rows = views.actions_under_way(session, until, stream)
    known_keys = views.idempotency_keys_due(session, now, until)

    agendas: dict[str, StreamAgenda] = {}

    def agenda_of(stream_id: str) -> StreamAgenda:
        if stream_id not in agendas:
            policy = policies.get(stream_id, BetweenSlots.KEEP.value)
            agendas[stream_id] = StreamAgenda(stream_id, names.get(stream_id), policy)
        return agendas[stream_id]

    shown = [b for b in nearby if b.ends_at > now and b.slot_starts_at < until]
    for row in shown:
        if stream is None or row.stream_id == stream:
            agenda_of(row.stream_id).slots.append(row)
    valid_rules = [r for r in rules if not check_off_hours(readable_rules[r.id], set(names))]
    streams_in_view = sorted(set(names) if stream is None else {stream} & set(names))
    for stream_id in streams_in_view:
        slots = [b for b in shown if b.stream_id == stream_id and not b.invalid_reason]
        for rule in valid_rules:
            if rule.stream_id in (None, stream_id):
                windows = list(_windows(rule, stream_id, slots, now, until))
                if windows:
                    agenda_of(stream_id).off_hours.extend(windows)
    for action in ledger_rows:
        agenda_of(action.stream_id).actions.append(_ledger_entry(action))
    forecast = forecast_plan(
        broadcast_specs,
        list(readable_rules.values()),
        set(names),
        now,
        until - now,
        lookback=timedelta(0),
        disable_between_slots={s for s, p in policies.items() if p == BetweenSlots.DISABLE.value},
    )
    for planned in forecast.actions:
        if planned.key in known_keys or (stream is not None and planned.stream_id != stream):
            continue
        agenda_of(planned.stream_id).actions.append(
            ActionEntry(
                id=None,
                key=planned.key,
                kind=planned.kind.value,
                stream_id=planned.stream_id,
                source=planned.source.value,
                source_id=planned.source_id,
                due_at=planned.due_at,
                deadline_at=planned.deadline_at,
                sequence=planned.sequence,
                state=FORECAST,
                attempts=0,
                next_attempt_at=None,
                reason=planned.reason,
            )
        )
    for agenda in agendas.values():
        agenda.slots.sort(key=lambda b: (b.slot_starts_at, b.id))
        agenda.off_hours.sort(key=lambda w: (w.start, w.rule.id))
        agenda.actions.sort(key=lambda a: (a.due_at, a.sequence, a.id or 0))
    ordered = [agendas[s] for s in sorted(agendas)]
    happened = outcomes.verdicts(session, [slot for a in ordered for slot in a.slots], now)
    return Agenda(now, until, ordered, ledger_rows, happened)


def _windows(
    rule: OffHours, stream_id: str, slots: list[Broadcast], now: datetime, until: datetime
) -> Iterable[OffWindow]:
    length = timedelta(seconds=rule.duration_seconds)
    for start in expand(rule.cron, rule.timezone, now - length, until):
        end = start + length
        if end <= now:
            continue
        overrides = tuple(
            Override(slot, max(slot.slot_starts_at, start), min(slot.ends_at, end))
            for slot in slots
            if slot.slot_starts_at < end and slot.ends_at > start
        )
        yield OffWindow(rule, stream_id, start, end, overrides)


def _ledger_entry(row: Action) -> ActionEntry:
    return ActionEntry(
        id=row.id,
        key=row.idempotency_key,
        kind=row.kind,
        stream_id=row.stream_id,
        source=row.source,
        source_id=row.source_id,
        due_at=row.due_at,
        deadline_at=row.deadline_at,
        sequence=row.sequence,
        state=row.state,
        attempts=row.attempts,
        next_attempt_at=row.next_attempt_at,
        reason=row.reason,
    )
