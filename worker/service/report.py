"""The morning report, as data: for a period, each broadcast planned against what happened (with the
lateness of each act), the failed and missed actions with their causes, the schedule rows flagged
invalid, the gaps when the dispatcher or the planner did not tick, and totals; with each broadcast its
viewers (peak and average of its samples) when it was sampled. `onair report` prints
it; worker.service.daily_report posts it once a day. worker.service.report_text renders it.

Lateness is when an act's call left (its first attempt's first write, or its state check when the
stream was already in state) minus its due instant; retried acts count from their first attempt.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import Engine

from worker.config import OnairSettings
from worker.domain.causes import describe_failure
from worker.domain.outcomes import Verdict
from worker.domain.types import ActionState
from worker.domain.viewers import ViewerFigures
from worker.service import planner_watch
from worker.service.dispatcher import GAP_TICKS
from worker.service.outcomes import signals_of, verdict
from worker.store import observations, schedules, viewers
from worker.store.db import transaction
from worker.store.models import Action
from worker.store.observations import Gap, InvalidRow

# Actions the report does not count: they never ran because a newer plan or action replaced them.
_NOT_RUN = (ActionState.CANCELLED.value, ActionState.SUPERSEDED.value)


@dataclass(frozen=True)
class Act:
    action_id: int
    kind: str
    stream_id: str
    due_at: datetime
    state: str
    lateness_seconds: float | None  # None: no call left (missed, cancelled, still pending)
    why: str | None  # for a failed or missed act: its cause and rule


@dataclass(frozen=True)
class BroadcastLine:
    id: int
    title: str | None
    stream_id: str
    stream_name: str | None
    starts_at: datetime
    ends_at: datetime
    outcome: Verdict
    acts: list[Act]
    invalid: str | None = None  # the planner cannot use the row: why (then it has no actions)
    viewers: ViewerFigures | None = None  # its viewer-count samples; None: never sampled

    @property
    def what_happened(self) -> tuple[str, str | None]:
        if self.invalid is not None:
            return "invalid", self.invalid
        return self.outcome.outcome.value, self.outcome.cause


@dataclass(frozen=True)
class Totals:
    actions: int
    by_state: dict[str, int]
    timed: int  # acts with a lateness
    p50_seconds: float | None
    p99_seconds: float | None
    max_seconds: float | None


@dataclass(frozen=True)
class Report:
    since: datetime
    until: datetime
    broadcasts: list[BroadcastLine]
    failures: list[Act]
    invalid: list[InvalidRow]
    gaps: list[Gap]
    totals: Totals
    ongoing: list[Gap] = field(default_factory=list)  # no tick since the gap started, up to `until`

    def to_json(self) -> dict[str, Any]:
        def act(a: Act) -> dict[str, Any]:
            return {**asdict(a), "due_at": a.due_at.isoformat()}

        def gap(g: Gap, ongoing: bool) -> dict[str, Any]:
            return {
                "kind": g.kind,
                "start": g.start.isoformat(),
                "end": g.end.isoformat(),
                "seconds": round(g.seconds, 1),
                "ongoing": ongoing,
            }

        return {
            "since": self.since.isoformat(),
            "until": self.until.isoformat(),
            "broadcasts": [
                {
                    "id": b.id,
                    "title": b.title,
                    "stream_id": b.stream_id,
                    "stream_name": b.stream_name,
                    "starts_at": b.starts_at.isoformat(),
                    "ends_at": b.ends_at.isoformat(),
                    "outcome": b.what_happened[0],
                    "cause": b.what_happened[1],
                    "live_minutes": b.outcome.live_minutes,
                    "viewers": None if b.viewers is None else b.viewers.to_json(),
                    "acts": [act(a) for a in b.acts],
                }
                for b in self.broadcasts
            ],
            "failures": [act(a) for a in self.failures],
            "invalid_rows": [
                {"row": r.label, "stream_id": r.stream_id, "reason": r.reason} for r in self.invalid
            ],
            "gaps": [gap(g, False) for g in self.gaps] + [gap(g, True) for g in self.ongoing],
            "totals": asdict(self.totals),
        }


def build_report(engine: Engine, settings: OnairSettings, since: datetime, until: datetime) -> Report:
    with transaction(engine, immediate=False) as session:
        due = [a for a in observations.actions_due_between(session, since, until) if a.state not in _NOT_RUN]
        broadcasts = observations.broadcasts_between(session, since, until)
        by_broadcast = observations.actions_of_broadcasts(session, [b.id for b in broadcasts])
        signals = signals_of(session, broadcasts)
        ran = {a.id for acts in by_broadcast.values() for a in acts} | {a.id for a in due}
        calls = observations.first_attempt_calls(session, ran)
        states = (ActionState.FAILED.value, ActionState.MISSED.value)
        failed = list(session.scalars(observations.history_query(since, until, states)))
        invalid = observations.invalid_rows(session)
        gaps = [
            g for kind in ("dispatcher", "planner") for g in observations.gaps(session, kind, since, until)
        ]
        last_tick = schedules.get_state_row(session, "last_tick_at")
        planner = planner_watch.read_state(session)
        names = observations.stream_names(session)
        audience = viewers.figures(session, [b.id for b in broadcasts])
    lines = [
        BroadcastLine(
            b.id,
            b.title,
            b.stream_id,
            names.get(b.stream_id),
            b.starts_at,
            b.ends_at,
            verdict(b, by_broadcast[b.id], until, signals[b.id]),
            [_act(a, calls) for a in by_broadcast[b.id] if a.state not in _NOT_RUN],
            b.invalid_reason if b.cancelled_at is None else None,
            viewers=audience.get(b.id),
        )
        for b in broadcasts
    ]
    ongoing = _ongoing(
        [
            ("dispatcher", None if last_tick is None else last_tick[1], GAP_TICKS * settings.tick_seconds),
            ("planner", planner.last_ok, planner_watch.GAP_INTERVALS * settings.plan_seconds),
        ],
        until,
    )
    acts = [_act(a, calls) for a in due]
    return Report(
        since,
        until,
        lines,
        [_act(a, calls) for a in failed],
        invalid,
        sorted(gaps, key=lambda g: g.start),
        _totals(acts),
        ongoing,
    )


def _act(row: Action, calls: dict[int, list[tuple[str, datetime]]]) -> Act:
    made = calls.get(row.id, [])
    # The write is the effect; a lone read is the check that found the stream already in state.
    sent = next((at for method, at in made if method != "GET"), made[0][1] if made else None)
    lateness = None if sent is None else (sent - row.due_at).total_seconds()
    bad = row.state in (ActionState.FAILED.value, ActionState.MISSED.value)
    why = describe_failure(row.state, row.outcome, row.last_error) if bad else None
    return Act(row.id, row.kind, row.stream_id, row.due_at, row.state, lateness, why)


def _ongoing(last: Sequence[tuple[str, datetime | None, float]], until: datetime) -> list[Gap]:
    found = []
    for kind, at, gap_after in last:
        if at is not None and (until - at) > timedelta(seconds=gap_after):
            found.append(Gap(kind, at, until))
    return found


def _totals(acts: Sequence[Act]) -> Totals:
    late = sorted(a.lateness_seconds for a in acts if a.lateness_seconds is not None)
    return Totals(
        actions=len(acts),
        by_state=dict(sorted(Counter(a.state for a in acts).items())),
        timed=len(late),
        p50_seconds=_percentile(late, 50),
        p99_seconds=_percentile(late, 99),
        max_seconds=late[-1] if late else None,
    )


def _percentile(ordered: Sequence[float], pct: float) -> float | None:
    """Nearest rank: the smallest value with at least pct % of the values at or below it."""
    if not ordered:
        return None
    rank = max(1, math.ceil(pct / 100 * len(ordered)))
    return ordered[rank - 1]
