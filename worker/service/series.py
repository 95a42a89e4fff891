"""The series materialiser: turns each recurring broadcast into real `broadcasts` rows (series_id set),
one per occurrence, for a window ahead, so the planner and the no-overlap rule treat occurrences like
every other broadcast. Runs at the start of every planner tick, in the tick's transaction.

Per series, idempotently (docs/lifecycle.md, "Recurring broadcasts"):

- Occurrences starting in (now, now + horizon + 1 day] are inserted if missing; at most MAX_AHEAD at
  a time, so a minutely rule does not write half a million rows, and a dense rule only DENSE_AHEAD
  ahead (or its next DENSE_ROWS occurrences, if they reach further): the planner tick extends it as
  time passes.
- An occurrence is looked up by (series_id, starts_at) among live rows AND rows a person cancelled: a
  cancelled occurrence is an exception to the series, never re-created. Rows onair cancelled itself
  (cancel_reason set) do not count, so an edit that brings an occurrence back re-creates it.
- Rows whose slot has begun (slot_starts_at <= now) are never touched: past and running occurrences
  stay as they were. A not-yet-begun row that the series no longer produces is cancelled; one whose
  start still stands but whose end, lead, title, metadata or reconnect window changed is updated in
  place (the planner then re-plans its actions under the same keys); one on another stream is
  cancelled and inserted afresh.
- An occurrence that would overlap another slot is skipped; the series' invalid_reason names it and
  what it collides with, and the next pass tries again.
- A cancelled series cancels its rows whose slot has not begun. An invalid series (bad cron, unknown
  zone...) gets its reasons in invalid_reason and its rows are left as they are.

It is cheap when nothing changed: a series is skipped when the fingerprint of its columns equals the
one stored at its last pass and its rows reach at least `horizon` ahead, so edits made with plain SQL
are noticed too, and each series is otherwise revisited about once a day.
"""

from __future__ import annotations

import hashlib
import json
import logging
from bisect import bisect_right
from collections.abc import Collection
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.orm import Session

from worker.domain.series import Occurrence, SeriesSpec, check_series, nth_firing, occurrences
from worker.domain.specs import (
    organiser_problem,
    unexpected_problem,
    unknown_stream_reason,
    whole_seconds_problem,
)
from worker.domain.text import quoted
from worker.store import occurrences as store
from worker.store.models import Broadcast, BroadcastSeries
from worker.store.slots import find_conflicts, slot_start

log = logging.getLogger("onair.planner")

# Rows ahead of now, per series: the series horizon, but never more than MAX_AHEAD rows, and a dense
# rule (more than DENSE_ROWS occurrences in DENSE_AHEAD) only DENSE_AHEAD ahead. DENSE_AHEAD is twice
# the planner's default 24 h horizon: a capped series is extended once half of it has gone by, so its
# rows always reach past what the planner reads. A slot every 4 minutes keeps 719 rows, not 1,000 (and
# 100 such series 71,900, not 100,000); a daily or weekly series still reaches a year ahead.
MAX_AHEAD = 1000
DENSE_ROWS = 400
DENSE_AHEAD = timedelta(days=2)
REFRESH = timedelta(days=1)
CANCELLED = "cancelled"


def series_cancel_reason(series_id: int) -> str:
    """The cancel_reason written on a cancelled series' upcoming occurrences."""
    return f"series #{series_id} cancelled"


COLLISIONS_NAMED = 3
_TICK = timedelta(microseconds=1)


@dataclass
class SeriesReport:
    checked: int = 0
    inserted: int = 0
    updated: int = 0
    cancelled: int = 0
    collisions: list[str] = field(default_factory=list)
    # Series whose pass stopped at its row limit: another pass (a new transaction) continues it.
    unfinished: set[int] = field(default_factory=set)

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.cancelled)


def series_spec(row: BroadcastSeries) -> SeriesSpec:
    return SeriesSpec(
        id=row.id,
        stream_id=row.stream_id,
        cron=row.cron,
        timezone=row.timezone,
        duration=timedelta(seconds=row.duration_seconds),
        starts_from=row.starts_from,
        until=row.until,
        occurrence_limit=row.occurrence_limit,
        skip_dates=row.skip_dates,
        lead=timedelta(seconds=row.lead_seconds),
        title=row.title,
        metadata=row.metadata_json,
        reconnect_window=row.reconnect_window,
    )


def fingerprint(row: BroadcastSeries) -> str:
    """A hash of every column that shapes the series' rows; CANCELLED once it is cancelled. `row` may
    also be a plain row with the same attribute names (store.occurrences.candidate_series_rows)."""
    if row.cancelled_at is not None:
        return CANCELLED
    shaping = (
        row.stream_id,
        row.cron,
        row.timezone,
        row.duration_seconds,
        row.lead_seconds,
        row.title,
        row.metadata_json,
        row.reconnect_window,
        row.starts_from.isoformat(),
        row.until.isoformat() if row.until else None,
        row.occurrence_limit,
        row.skip_dates,
        row.organiser_id,
    )
    try:
        return _hashed(shaping)
    except TypeError:  # a value that cannot be a cache key: hashed all the same
        return _hashed.__wrapped__(shaping)


@lru_cache(maxsize=4096)
def _hashed(shaping: tuple[Any, ...]) -> str:
    # repr for what JSON cannot hold (bytes a plain-SQL write left in SQLite): still a stable hash.
    return hashlib.sha256(json.dumps(list(shaping), default=repr).encode()).hexdigest()


def is_due(row: BroadcastSeries, now: datetime, horizon: timedelta) -> bool:
    """Whether the series needs a pass: it changed, or its rows no longer reach `horizon` ahead."""
    if row.materialized_fingerprint != fingerprint(row):
        return True
    if row.cancelled_at is not None:
        return False
    until, at = row.materialized_until, row.materialized_at
    if until is None or at is None:
        return True
    if until >= now + horizon:
        return False
    capped = until < at + horizon
    # A capped pass covered fewer than `horizon`: extend when half of what it covered has gone by.
    return not capped or now >= at + (until - at) / 2


def materialise_series(
    session: Session, now: datetime, horizon: timedelta, known_streams: Collection[str]
) -> SeriesReport:
    """One pass over every series that needs one. Call inside a write transaction."""
    report = SeriesReport()
    for candidate in store.candidate_series(session, CANCELLED):
        if _needs_pass(candidate, now, horizon):
            materialise_one(session, candidate.id, now, horizon, known_streams, report)
    return report


def due_series(session: Session, now: datetime, horizon: timedelta) -> list[int]:
    """The series that need a pass (read without the write lock; each pass checks again)."""
    return [c.id for c in store.candidate_series_rows(session, CANCELLED) if _needs_pass(c, now, horizon)]


def due_series_and_next(
    session: Session, now: datetime, horizon: timedelta
) -> tuple[list[int], datetime | None]:
    """As due_series, and from when on a series may need a pass by time alone if no series row
    changes meanwhile (now, if one needs a pass now; None: not by time)."""
    due: list[int] = []
    soonest: datetime | None = None
    for row in store.candidate_series_rows(session, CANCELLED):
        when = now if _needs_pass(row, now, horizon) else _due_by_time(row, now, horizon)
        if when is not None and when <= now:
            due.append(row.id)
        if when is not None and (soonest is None or when < soonest):
            soonest = when
    return due, soonest


def _due_by_time(row: BroadcastSeries, now: datetime, horizon: timedelta) -> datetime | None:
    """The instant from which is_due may turn true for a row it is false for now: never early by the
    rule of is_due, at worst a little early (a tick then looks, and finds nothing to do)."""
    try:
        if row.cancelled_at is not None:
            return None
        until, at = row.materialized_until, row.materialized_at
        if until is None or at is None:
            return now
        when = until - horizon
        if until < at + horizon:  # capped: is_due waits for half of what the pass covered
            when = max(when, at + (until - at) / 2)
        return when
    except Exception:  # a row typed in SQL: look at it every tick, as is_due would
        return now


def _needs_pass(row: BroadcastSeries, now: datetime, horizon: timedelta) -> bool:
    try:
        return is_due(row, now, horizon)
    except Exception:  # a row typed in SQL: its pass names the problem
        return True


def materialise_one(
    session: Session,
    series_id: int,
    now: datetime,
    horizon: timedelta,
    known_streams: Collection[str],
    report: SeriesReport,
    *,
    ahead: timedelta | None = None,
    limit: int | None = None,
) -> None:
    """One series' pass, alone: what it raises becomes its invalid_reason, not the caller's failure.
    With `ahead`, only the occurrences starting within `ahead` are written, and the series stays due
    (its fingerprint is not recorded), so the full pass follows: the near future first. With `limit`,
    the pass stops after inserting that many rows, also leaving the series due (and in
    report.unfinished), so each transaction stays short."""
    try:
        with session.begin_nested():
            _materialise_one(session, series_id, now, horizon, known_streams, report, ahead, limit)
    except (OperationalError, InterfaceError):
        raise  # the database, not this row: the tick fails and health reports it
    except Exception as exc:  # one series is materialised alone: what it raises is its reason
        reason = unexpected_problem(exc)
        log.warning("broadcast_series #%d cannot be materialised: %s", series_id, reason)
        store.record_materialised(
            session, series_id, {"invalid_reason": reason, "materialized_fingerprint": None}
        )


def _materialise_one(
    session: Session,
    series_id: int,
    now: datetime,
    horizon: timedelta,
    known_streams: Collection[str],
    report: SeriesReport,
    ahead: timedelta | None = None,
    limit: int | None = None,
) -> None:
    row = store.lock_series(session, series_id)
    if row is None or not is_due(row, now, horizon):
        return
    report.checked += 1
    if row.cancelled_at is not None:
        report.cancelled += store.cancel_future(session, row.id, now=now, reason=series_cancel_reason(row.id))
        store.record_materialised(session, row.id, {"materialized_fingerprint": CANCELLED})
        return
    spec = read_series(row)
    reasons = [spec] if isinstance(spec, str) else check_series(spec)
    if not isinstance(spec, str) and spec.stream_id not in known_streams:
        reasons.insert(0, unknown_stream_reason(spec.stream_id))
    if reasons or isinstance(spec, str):
        reason = "; ".join(reasons)
        if reason != row.invalid_reason:
            log.warning("broadcast_series #%d cannot be materialised: %s", row.id, reason)
        # Rows already there stay: a typo in an edit must not cancel a year of broadcasts.
        store.record_materialised(
            session, row.id, {"invalid_reason": reason, "materialized_fingerprint": None}
        )
        return
    _Pass(session, row, spec, now, horizon, report, ahead, limit).run()


def read_series(row: BroadcastSeries) -> SeriesSpec | str:
    """The spec of a series row, or why its stored values cannot make one (checked before use: a row
    typed in SQL may hold text where a number belongs)."""
    problems = [
        p
        for p in (
            whole_seconds_problem("duration_seconds", row.duration_seconds),
            whole_seconds_problem("lead_seconds", row.lead_seconds),
            whole_seconds_problem("reconnect_window", row.reconnect_window, optional=True),
            organiser_problem(row.organiser_id, row.organiser_name),
        )
        if p
    ]
    texts: dict[str, object] = {"stream_id": row.stream_id, "cron": row.cron, "timezone": row.timezone}
    optional: dict[str, object] = {
        "title": row.title,
        "metadata": row.metadata_json,
        "skip_dates": row.skip_dates,
    }
    for name, value in [*texts.items(), *optional.items()]:
        if not isinstance(value, str) and (name in texts or value is not None):
            problems.append(f"{name} must be text, got {type(value).__name__}")
    limit = row.occurrence_limit
    if limit is not None and (isinstance(limit, bool) or not isinstance(limit, int)):
        problems.append(f"occurrence_limit {quoted(limit)} is not a whole number")
    if problems:
        return "; ".join(problems)
    return series_spec(row)


def _blocking(row: Broadcast) -> str:
    """`broadcast #1 'Football' 2026-11-29 18:00 to 19:00 UTC (lead included)`: the form of the series'
    invalid_reason (docs/lifecycle.md), which leaves out the stream (the series' own) that
    store.slots.describe_slot names."""
    title = f" {row.title!r}" if row.title else ""
    start = row.slot_starts_at.astimezone(UTC).strftime("%Y-%m-%d %H:%M")
    end = row.ends_at.astimezone(UTC).strftime(
        "%H:%M" if row.ends_at.date() == row.slot_starts_at.date() else "%Y-%m-%d %H:%M"
    )
    return f"broadcast #{row.id}{title} {start} to {end} UTC (lead included)"


class _Pass:
    """One materialisation pass over one valid, live series."""

    def __init__(
        self,
        session: Session,
        row: BroadcastSeries,
        spec: SeriesSpec,
        now: datetime,
        horizon: timedelta,
        report: SeriesReport,
        ahead: timedelta | None = None,
        limit: int | None = None,
    ) -> None:
        self.session, self.row, self.spec, self.now, self.report = session, row, spec, now, report
        self.horizon, self.ahead, self.limit = horizon, ahead, limit
        self.partial = ahead is not None
        self.collisions: list[str] = []

    def run(self) -> None:
        first = self.now + _TICK
        window_end = self.now + self.horizon + REFRESH
        upcoming = replace(self.spec, starts_from=max(first, self.spec.starts_from))
        dense = nth_firing(upcoming, DENSE_ROWS + 1)
        for cap in (
            nth_firing(upcoming, MAX_AHEAD + 1),
            None if dense is None else max(dense, self.now + DENSE_AHEAD),
        ):
            if cap is not None and cap < window_end:
                window_end = cap
        if self.ahead is not None:
            window_end = min(window_end, self.now + self.ahead)
        existing = store.future_rows(self.session, self.row.id, self.now)
        compare_end = max([window_end, *(r.starts_at + _TICK for r in existing)])
        wanted = {o.start_utc: o for o in occurrences(self.spec, first, compare_end)}
        live = {r.starts_at: r for r in existing if r.cancelled_at is None}
        kept_by_person = {r.starts_at for r in existing if r.cancelled_at is not None}

        stale = [r.id for start, r in live.items() if start not in wanted and self._not_begun(r)]
        self.report.cancelled += store.cancel_rows(
            self.session, stale, now=self.now, reason=f"series #{self.row.id} edited: no longer an occurrence"
        )
        absent: list[Occurrence] = []
        for start, occurrence in wanted.items():
            if start in kept_by_person:
                continue
            current = live.get(start)
            if current is not None:
                self._reconcile(current, occurrence)
            elif start < window_end:
                absent.append(occurrence)
        stopped_at = self._insert_absent(absent)
        if stopped_at is not None:
            window_end, self.partial = stopped_at, True  # the next pass goes on from here
            self.report.unfinished.add(self.row.id)
        store.record_materialised(
            self.session,
            self.row.id,
            {
                "materialized_fingerprint": None if self.partial else fingerprint(self.row),
                "materialized_until": window_end,
                "materialized_at": self.now,
                "invalid_reason": self._collision_reason(),
            },
        )
        self.report.collisions.extend(self.collisions)

    def _not_begun(self, row: Broadcast) -> bool:
        return row.slot_starts_at > self.now

    def _values(self, occurrence: Occurrence) -> dict[str, Any]:
        return {
            "stream_id": self.spec.stream_id,
            "ends_at": occurrence.end_utc,
            "lead_seconds": self.row.lead_seconds,
            "title": self.row.title,
            "metadata_json": self.row.metadata_json,
            "reconnect_window": self.row.reconnect_window,
            "organiser_id": self.row.organiser_id,
        }

    def _insert_absent(self, absent: list[Occurrence]) -> datetime | None:
        """Insert the absent occurrences (in time order) that collide with no slot, up to the pass's
        limit: their collisions found with one query, the rows written with one statement. Returns
        the start of the first occurrence left for the next pass (None: all were handled)."""
        if not absent:
            return None
        lead = self.row.lead_seconds
        slots = store.stream_slots(
            self.session,
            self.spec.stream_id,
            slot_start(absent[0].start_utc, lead),
            max(o.end_utc for o in absent),
        )
        slot_ends = [row.ends_at for row in slots]
        accepted: list[Occurrence] = []
        inserted = 0
        for occurrence in absent:
            if self.limit is not None and inserted + len(accepted) >= self.limit:
                inserted += self._insert_many(accepted)
                return occurrence.start_utc
            start, end = slot_start(occurrence.start_utc, lead), occurrence.end_utc
            # Stored slots never overlap, so sorted by start they are sorted by end too: the first one
            # ending after this start is the only candidate to begin before this end.
            index = bisect_right(slot_ends, start)
            if index < len(slots) and slots[index].slot_starts_at < end:
                self._note(occurrence, f"overlaps {_blocking(slots[index])}")
                continue
            if accepted and accepted[-1].end_utc > start:
                # The series overlaps itself: write what came before, and name the row in the way.
                inserted += self._insert_many(accepted)
                accepted = []
                inserted += self._insert(occurrence)
                continue
            accepted.append(occurrence)
        self._insert_many(accepted)
        return None

    def _insert_many(self, batch: list[Occurrence]) -> int:
        """Insert these occurrences (checked against every slot) in one statement; if the database
        refuses it (a writer raced this pass), one by one, each refusal named."""
        if not batch:
            return 0
        rows = [self._new_row(o) for o in batch]
        try:
            store.insert_rows(self.session, rows)
        except store.Refused:
            return sum(self._insert(o) for o in batch)
        self.report.inserted += len(batch)
        return len(batch)

    def _new_row(self, occurrence: Occurrence) -> dict[str, Any]:
        return {
            **self._values(occurrence),
            "series_id": self.row.id,
            "starts_at": occurrence.start_utc,
            "created_at": self.now,
            "updated_at": self.now,
        }

    def _insert(self, occurrence: Occurrence) -> int:
        values = self._new_row(occurrence)
        if self._collides(occurrence):
            return 0
        try:
            store.insert_row(self.session, values)
        except store.Refused as exc:
            self._note(occurrence, f"refused by the database ({exc})")
            return 0
        self.report.inserted += 1
        return 1

    def _reconcile(self, current: Broadcast, occurrence: Occurrence) -> None:
        if not self._not_begun(current):
            return  # under way or over: left as it ran
        values = self._values(occurrence)
        differs = {k: v for k, v in values.items() if getattr(current, k) != v}
        if not differs:
            return
        if "stream_id" in differs or self._collides(occurrence, not_id=current.id):
            reason = f"series #{self.row.id} edited: replaced"
            self.report.cancelled += store.cancel_rows(
                self.session, [current.id], now=self.now, reason=reason
            )
            if "stream_id" in differs:
                self._insert(occurrence)
            return
        try:
            store.update_row(self.session, current.id, {**differs, "updated_at": self.now})
        except store.Refused as exc:
            self._note(occurrence, f"refused by the database ({exc})")
            return
        self.report.updated += 1

    def _collides(self, occurrence: Occurrence, *, not_id: int | None = None) -> bool:
        start = slot_start(occurrence.start_utc, self.row.lead_seconds)
        found = find_conflicts(
            self.session, self.spec.stream_id, start, occurrence.end_utc, exclude_id=not_id
        )
        if not found:
            return False
        self._note(occurrence, f"overlaps {_blocking(found[0])}")
        return True

    def _note(self, occurrence: Occurrence, why: str) -> None:
        local = occurrence.start_utc.astimezone(ZoneInfo(self.spec.timezone))
        self.collisions.append(f"{local.isoformat(sep=' ', timespec='minutes')} {why}")

    def _collision_reason(self) -> str | None:
        if not self.collisions:
            return None
        named = "; ".join(self.collisions[:COLLISIONS_NAMED])
        more = len(self.collisions) - COLLISIONS_NAMED
        count = len(self.collisions)
        return (
            f"{count} occurrence{'s' if count != 1 else ''} not scheduled because "
            f"{'they overlap' if count != 1 else 'it overlaps'} another slot: {named}"
            + (f" (and {more} more)" if more > 0 else "")
        )
