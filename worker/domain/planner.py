"""From schedules to planned actions. Pure: the caller passes the schedules, the known streams and `now`.

The rules (docs/lifecycle.md has the reasoning and the deadline table):

- A broadcast cancelled before its slot begins is not planned; one cancelled while its slot runs is
  planned as ending at its cancel instant (worker.domain.cut_short).
- Broadcast [start, end) with lead L on stream S: ENABLE at start - L, then (if it sets metadata or a
  reconnect window) UPDATE at the same instant; FINISH at end, unless another slot on S carries the
  stream on across that instant (overlapping or back-to-back broadcasts: only the last end finishes);
  if it sets metadata, RESTORE at end (after the finish, before a disable or the next slot's enable).
- A stream whose between-slots policy is `disable` (worker.domain.stream_policy): DISABLE at the end
  of each busy stretch (after its finish and restore), unless the next slot on S starts (lead
  included) within KEEP_ENABLED_GAP, or an off-hours window on S already disables it at that instant;
  and no ENABLE at an off-hours group's end: only its slots enable such a stream.
- Off-hours windows on S are merged when they overlap or touch. At a group's start: DISABLE, unless a
  broadcast slot on S covers that instant; for every broadcast stretch ending strictly inside the group:
  DISABLE at its end; at the group's end: ENABLE (even if a broadcast covers it: enabling an enabled
  stream is a no-op).
- Idempotency keys name the schedule and the NOMINAL instant, never a shifted one, so they are stable
  across ticks; due_at, deadline, payload and reason may change under a key, and the ledger updates
  pending rows in place.
- Only actions due in [now - lookback, now + horizon] are returned. The lookback lets actions that fell
  due while the scheduler was down be planned late (and run if still before their deadline, or be
  recorded as missed if not) instead of silently never existing.

Callers pass every broadcast not cancelled (or cancelled while its slot ran) whose slot may touch
[now - lookback - 1 h, now + horizon + 1 h] (more is harmless): finish deadlines and off-hours shifts
look at neighbouring broadcasts.
"""

from __future__ import annotations

import dataclasses
from bisect import bisect_left, bisect_right
from collections import defaultdict
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from worker.clock import ensure_utc
from worker.domain import deadlines, stream_policy
from worker.domain.cut_short import as_planned
from worker.domain.off_hours_rules import overlap_since
from worker.domain.recurrence import expand, next_fire_after
from worker.domain.specs import (
    BroadcastSpec,
    OffHoursSpec,
    check_broadcast,
    check_off_hours,
    parse_metadata,
    unexpected_problem,
)
from worker.domain.timeline import Busy, OffGroup, Window, busy_intervals, merge_windows
from worker.domain.types import KIND_SEQUENCE, ActionKind, PlannedAction, Source

DEFAULT_LOOKBACK = timedelta(hours=24)
# Off-hours windows are expanded past the range on both sides, so a window starting at its very edge
# still merges, and a group that began before the range is whole: the actions planned inside the range
# (their reasons name the group) do not depend on where the range starts.
_EXPAND_PAST_RANGE = timedelta(days=1)
# They are merged first this far around the range (and each rule's longest window): a group that stays
# clear of that near range's edges is whole, the same as from the day either side (no window outside
# can touch it), for a few windows instead of two days of them. Else the day either side is merged.
_NEAR_RANGE = timedelta(hours=1)


@dataclass(frozen=True)
class PlanResult:
    """The actions due in [window_start, window_end], and the schedule rows that could not be planned.

    The ledger is authoritative only inside the window: a key absent from `actions` means "cancel"
    only for pending rows due inside it.
    """

    actions: list[PlannedAction]
    invalid: dict[tuple[Source, int], str]
    window_start: datetime
    window_end: datetime


def plan(
    broadcasts: Sequence[BroadcastSpec],
    off_hours: Sequence[OffHoursSpec],
    known_streams: Collection[str],
    now: datetime,
    horizon: timedelta,
    lookback: timedelta = DEFAULT_LOOKBACK,
    streams: Collection[str] | None = None,
    disable_between_slots: Collection[str] = (),
) -> PlanResult:
    """`streams`: plan the off-hours of these streams only (default: every known stream); the
    caller then keeps only these streams' actions. `disable_between_slots`: the streams whose
    between-slots policy is `disable`."""
    now = ensure_utc(now)
    if horizon < timedelta(0) or lookback < timedelta(0):
        raise ValueError("horizon and lookback must not be negative")
    window_start, window_end = now - lookback, now + horizon
    invalid: dict[tuple[Source, int], str] = {}

    valid_broadcasts: list[BroadcastSpec] = []
    for spec in broadcasts:
        try:
            reasons = check_broadcast(spec, known_streams)
            if not reasons:
                if spec.starts_at.tzinfo is not UTC or spec.ends_at.tzinfo is not UTC:
                    starts_at, ends_at = ensure_utc(spec.starts_at), ensure_utc(spec.ends_at)
                    spec = dataclasses.replace(spec, starts_at=starts_at, ends_at=ends_at)
                planned = as_planned(spec)
                if planned is not None:
                    valid_broadcasts.append(planned)
        except Exception as exc:  # each row is planned alone: what it raises is its reason
            reasons = [unexpected_problem(exc)]
        if reasons:
            invalid[(Source.BROADCAST, spec.id)] = "; ".join(reasons)
    wide = (window_start - _EXPAND_PAST_RANGE, window_end + _EXPAND_PAST_RANGE)
    fires: dict[int, list[datetime]] = {}
    for rule in off_hours:
        try:
            reasons = check_off_hours(rule, known_streams)
            if not reasons:  # windows of one rule that overlap each other (e.g. `*/2` with 3 min)
                since = now if rule.created_at is None else ensure_utc(rule.created_at)
                overlap = overlap_since(rule.cron, rule.timezone, rule.duration, since)
                reasons = [overlap] if overlap else []
            if not reasons:
                fires[rule.id] = _rule_fires(rule, *wide)
        except Exception as exc:  # each row is planned alone: what it raises is its reason
            reasons = [unexpected_problem(exc)]
        if reasons:
            invalid[(Source.OFF_HOURS, rule.id)] = "; ".join(reasons)
    valid_rules = [r for r in off_hours if r.id in fires]
    longest = max((r.duration for r in valid_rules), default=timedelta(0))
    near = (
        max(wide[0], window_start - _NEAR_RANGE - longest),
        min(wide[1], window_end + _NEAR_RANGE + longest),
    )
    groups: dict[str, list[OffGroup]] = {}

    def groups_of(stream: str, rules: list[OffHoursSpec]) -> list[OffGroup]:
        if stream not in groups:
            groups[stream] = _off_groups(rules, fires, (window_start, window_end), near, wide)
        return groups[stream]

    by_stream: dict[str, list[BroadcastSpec]] = defaultdict(list)
    for spec in valid_broadcasts:
        by_stream[spec.stream_id].append(spec)
    busy = {stream: busy_intervals(specs) for stream, specs in by_stream.items()}
    # Looked up once per broadcast: scanning the stream's stretches for each one cost O(n²).
    stretch_of: dict[int, Busy] = {}
    for stretches in busy.values():
        for stretch in stretches:
            for member in stretch.members:
                stretch_of.setdefault(member.id, stretch)
    starts = {stream: [b.start for b in stretches] for stream, stretches in busy.items()}

    actions: list[PlannedAction] = []
    for spec in valid_broadcasts:
        try:
            stream_starts = starts[spec.stream_id]
            after = bisect_right(stream_starts, spec.ends_at)
            next_slot = stream_starts[after] if after < len(stream_starts) else None
            actions.extend(_broadcast_actions(spec, stretch_of[spec.id], next_slot))
        except Exception as exc:  # each row is planned alone: what it raises is its reason
            invalid[(Source.BROADCAST, spec.id)] = unexpected_problem(exc)

    for stream in sorted(known_streams if streams is None else set(known_streams) & set(streams)):
        rules = [r for r in valid_rules if r.stream_id in (None, stream)]
        if rules:
            try:
                # A stream disabled between slots is enabled by its slots only, never by a window's end.
                reopen = stream not in disable_between_slots
                actions.extend(
                    _off_hours_actions(
                        stream,
                        rules,
                        groups_of(stream, rules),
                        busy.get(stream, []),
                        (window_start, window_end),
                        reopen=reopen,
                    )
                )
            except Exception as exc:  # the rules were each fine alone: flag the ones that met here
                for rule in rules:
                    invalid.setdefault((Source.OFF_HOURS, rule.id), unexpected_problem(exc))

    for stream in sorted(set(disable_between_slots) & set(busy)):
        off = groups_of(stream, [r for r in valid_rules if r.stream_id in (None, stream)])
        actions.extend(_between_slots_disables(busy[stream], off))

    kept = [a for a in actions if window_start <= a.due_at <= window_end]
    kept.sort(key=lambda a: (a.due_at, a.stream_id, a.sequence, a.key))
    return PlanResult(kept, invalid, window_start, window_end)


def _rule_fires(rule: OffHoursSpec, start: datetime, end: datetime) -> list[datetime]:
    """The starts of the rule's windows around [start, end); also proves the rule expands (its zone
    loads, its cron runs and fires again after the range), so a rule that cannot is flagged before it
    meets others."""
    found = expand(rule.cron, rule.timezone, start - rule.duration, end)
    next_fire_after(rule.cron, rule.timezone, end)
    return found


def _windows(
    rules: Sequence[OffHoursSpec], fires: dict[int, list[datetime]], start: datetime, end: datetime
) -> list[Window]:
    """The rules' windows that touch [start, end), from their fires (expanded around a wider range)."""
    found: list[Window] = []
    for rule in rules:
        starts = fires[rule.id]
        low, high = bisect_left(starts, start - rule.duration), bisect_left(starts, end)
        found.extend(Window(s, s + rule.duration, rule) for s in starts[low:high])
    return found


def _off_groups(
    rules: Sequence[OffHoursSpec],
    fires: dict[int, list[datetime]],
    within: tuple[datetime, datetime],
    near: tuple[datetime, datetime],
    wide: tuple[datetime, datetime],
) -> list[OffGroup]:
    """A stream's merged off-hours windows, whole wherever they touch `within` (see _NEAR_RANGE)."""
    groups = merge_windows(_windows(rules, fires, *near))
    touching = [g for g in groups if g.end >= within[0] and g.start <= within[1]]
    if all(near[0] <= g.start and g.end < near[1] for g in touching):
        return groups
    return merge_windows(_windows(rules, fires, *wide))


def _broadcast_actions(spec: BroadcastSpec, stretch: Busy, next_slot: datetime | None) -> list[PlannedAction]:
    """`stretch`: the busy stretch the broadcast is in; `next_slot`: the start of the next stretch on
    its stream after its end."""
    start, end = spec.starts_at, spec.ends_at
    what = _describe_broadcast(spec)
    actions = [
        _action(
            key=f"b:{spec.id}:enable:{iso(start)}",
            spec=spec,
            kind=ActionKind.ENABLE,
            due=spec.slot_start,
            deadline=deadlines.broadcast_enable_deadline(end),
            reason=f"enable {_lead_phrase(spec.lead)} {what}",
        )
    ]
    metadata, _ = parse_metadata(spec.metadata)
    payload: dict[str, Any] = {}
    if metadata:
        payload["metadata"] = metadata
    if spec.reconnect_window is not None:
        payload["reconnectWindow"] = spec.reconnect_window
    update_key = f"b:{spec.id}:update:{iso(start)}"
    if payload:
        actions.append(
            _action(
                key=update_key,
                spec=spec,
                kind=ActionKind.UPDATE,
                due=spec.slot_start,
                deadline=deadlines.broadcast_update_deadline(end),
                reason=f"set {_payload_phrase(payload)} for {what}",
                payload=payload,
            )
        )
    if metadata:
        actions.append(
            _action(
                key=f"b:{spec.id}:restore:{iso(end)}",
                spec=spec,
                kind=ActionKind.RESTORE,
                due=end,
                deadline=deadlines.restore_deadline(end, next_slot),
                reason=f"put back the stream's metadata after {what}",
                payload={"merged_by": update_key},
            )
        )
    if stretch.end == end and stretch.last.id == spec.id:
        actions.append(
            _action(
                key=f"b:{spec.id}:finish:{iso(end)}",
                spec=spec,
                kind=ActionKind.FINISH,
                due=end,
                deadline=deadlines.finish_deadline(end, next_slot),
                reason=f"finish {what}: cancelled while live, finished early"
                if spec.ended_early
                else f"finish {what} at its end",
            )
        )
    return [a for a in actions if _owed(a, spec.created_at)]


def _between_slots_disables(busy: list[Busy], off: list[OffGroup]) -> list[PlannedAction]:
    """The `disable` policy: a DISABLE at the end of each busy stretch (sequenced after its finish and
    restore) unless the next slot comes within the gap, or an off-hours group disables it anyway."""
    actions = []
    for index, stretch in enumerate(busy):
        next_slot = busy[index + 1].start if index + 1 < len(busy) else None
        if not stream_policy.disable_after(stretch.end, next_slot):
            continue
        if any(group.start <= stretch.end < group.end for group in off):
            continue
        last = stretch.last
        action = _action(
            key=f"b:{last.id}:disable-after:{iso(stretch.end)}",
            spec=last,
            kind=ActionKind.DISABLE,
            due=stretch.end,
            deadline=deadlines.disable_after_slot_deadline(stretch.end, next_slot),
            reason=f"disable after {_describe_broadcast(last)}: the stream's between-slots policy",
        )
        if _owed(action, last.created_at):
            actions.append(action)
    return actions


def _off_hours_actions(
    stream: str,
    rules: list[OffHoursSpec],
    groups: list[OffGroup],
    busy: list[Busy],
    within: tuple[datetime, datetime],
    *,
    reopen: bool = True,
) -> list[PlannedAction]:
    """The actions of the stream's off-hours groups that may fall due `within` (every action of a
    group is due between its start and its end; the groups around them are still merged whole).
    `reopen`: plan the ENABLE at each group's end (not for a stream disabled between slots)."""
    actions: list[PlannedAction] = []
    for index, group in enumerate(groups):
        if group.end < within[0] or group.start > within[1]:
            continue
        actions.extend(_group_disables(stream, group, busy))
        if not reopen:
            continue
        if index + 1 < len(groups):
            next_start: datetime | None = groups[index + 1].start
        else:
            upcoming = [next_fire_after(r.cron, r.timezone, group.end) for r in rules]
            next_start = min((t for t in upcoming if t is not None), default=None)
        closer = group.closer
        enable = _action(
            key=f"o:{closer.id}:{stream}:enable:{iso(group.end)}",
            spec=closer,
            stream=stream,
            kind=ActionKind.ENABLE,
            due=group.end,
            deadline=deadlines.off_hours_enable_deadline(group.end, next_start),
            reason=f"{group.describe_end()} ends",
        )
        # The enable closes a window: one that had already closed before the rule existed is not owed,
        # even though its deadline (the next window) is still ahead.
        if closer.created_at is None or group.end > ensure_utc(closer.created_at):
            actions.append(enable)
    return actions


def _group_disables(stream: str, group: OffGroup, busy: list[Busy]) -> list[PlannedAction]:
    actions: list[PlannedAction] = []
    deadline = deadlines.off_hours_disable_deadline(group.end)
    if not any(b.covers(group.start) for b in busy):
        opener = group.opener
        actions.append(
            _action(
                key=f"o:{opener.id}:{stream}:disable:{iso(group.start)}",
                spec=opener,
                stream=stream,
                kind=ActionKind.DISABLE,
                due=group.start,
                deadline=deadline,
                reason=f"{group.describe()} starts",
            )
        )
    for stretch in busy:
        if group.start < stretch.end < group.end:
            rule = group.rule_at(stretch.end)
            last = stretch.last
            actions.append(
                _action(
                    key=f"o:{rule.id}:{stream}:disable-after-b{last.id}:{iso(stretch.end)}",
                    spec=rule,
                    stream=stream,
                    kind=ActionKind.DISABLE,
                    due=stretch.end,
                    deadline=deadline,
                    reason=f"disable after {_slot_label(last)} ends inside off-hours #{rule.id}"
                    + (" (the booking overrode them)" if last.organiser else ""),
                )
            )
    return [a for a in actions if _owed(a, group.rule_at(a.due_at).created_at)]


def _action(
    *,
    key: str,
    spec: BroadcastSpec | OffHoursSpec,
    kind: ActionKind,
    due: datetime,
    deadline: datetime,
    reason: str,
    stream: str | None = None,
    payload: dict[str, Any] | None = None,
) -> PlannedAction:
    source = Source.BROADCAST if isinstance(spec, BroadcastSpec) else Source.OFF_HOURS
    stream_id = stream if stream is not None else spec.stream_id
    assert stream_id is not None
    return PlannedAction(
        key=key,
        stream_id=stream_id,
        kind=kind,
        source=source,
        source_id=spec.id,
        due_at=due,
        deadline_at=deadline,
        reason=reason,
        payload=payload,
        sequence=KIND_SEQUENCE[kind],
    )


def _owed(action: PlannedAction, created_at: datetime | None) -> bool:
    """An action whose deadline passed before its schedule row existed was never owed."""
    return created_at is None or action.deadline_at > ensure_utc(created_at)


def iso(instant: datetime) -> str:
    """The UTC form used in idempotency keys: 2026-11-27T18:00:00Z."""
    return instant.astimezone(UTC).isoformat().replace("+00:00", "Z")


def _describe_broadcast(spec: BroadcastSpec) -> str:
    title = f" {spec.title!r}" if spec.title else ""
    if spec.ended_early:  # its end is the cancel instant, perhaps before its start (during the lead)
        cut = f"from {spec.starts_at:%Y-%m-%d %H:%M} UTC, cancelled at {spec.ends_at:%H:%M:%S}"
        return f"{_slot_label(spec)}{title} ({cut})"
    return f"{_slot_label(spec)}{title} ({_span(spec.starts_at, spec.ends_at)})"


def _slot_label(spec: BroadcastSpec) -> str:
    return f"booking #{spec.id} by {spec.organiser}" if spec.organiser else f"broadcast #{spec.id}"


def _span(start: datetime, end: datetime) -> str:
    if start.date() == end.date():
        return f"{start:%Y-%m-%d %H:%M}-{end:%H:%M} UTC"
    return f"{start:%Y-%m-%d %H:%M} to {end:%Y-%m-%d %H:%M} UTC"


def _lead_phrase(lead: timedelta) -> str:
    if lead <= timedelta(0):
        return "at the start of"
    return f"{human_duration(lead)} before"


def _payload_phrase(payload: dict[str, Any]) -> str:
    parts = []
    if "metadata" in payload:
        parts.append("metadata")
    if "reconnectWindow" in payload:
        parts.append(f"reconnect window {payload['reconnectWindow']} s")
    return " and ".join(parts)


def human_duration(value: timedelta) -> str:
    """5 min, 1 h 30 min, 90 s -> 1 min 30 s."""
    seconds = int(value.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    parts = [f"{n} {unit}" for n, unit in ((hours, "h"), (minutes, "min"), (secs, "s")) if n]
    return " ".join(parts) or "0 s"
