"""The planner tick: read the schedules around the horizon, let the pure planner derive the actions,
write them to the ledger, and flag the rows it could not use."""

from __future__ import annotations

import hashlib
import json
import logging
import math
import secrets
import time
from collections.abc import Collection, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from worker.domain.deadlines import FINISH_GRACE
from worker.domain.planner import DEFAULT_LOOKBACK, plan
from worker.domain.specs import (
    BroadcastRow,
    BroadcastSpec,
    OffHoursSpec,
    broadcast_problem,
    read_broadcast,
    read_off_hours,
)
from worker.domain.types import PlannedAction, Source
from worker.service import pause_revival, planner_watch
from worker.service.runtime import Runtime
from worker.service.series import SeriesReport, due_series_and_next, materialise_one
from worker.store import ledger, planner_state, schedules
from worker.store.db import analyze, checkpoint, transaction
from worker.store.models import Broadcast, OffHours
from worker.store.sqlutil import chunked

log = logging.getLogger("onair.planner")

# Planning this many new actions, or clearing this many broadcasts' flags, in one tick refreshes the
# table's statistics (PostgreSQL).
ANALYZE_AFTER = 1000
# Neighbouring broadcasts decide finish deadlines and off-hours shifts, so read a little past the window.
_MARGIN = timedelta(hours=1)
# The window's end moves in steps of this (see planning_end). A minute of a busy night is ~50 new
# actions; a 5-minute step's ~250 made its tick the planner's longest (PostgreSQL 99 ms, 67 now).
STEP = timedelta(minutes=1)
# A cold tick (an empty ledger) plans this far ahead first, then the whole window.
NEAR = timedelta(minutes=15)
COLD_SLICES = (NEAR, timedelta(hours=1), timedelta(hours=3), timedelta(hours=8))
# Rows written per short transaction: each costs a few milliseconds of the write lock.
CHUNK = 300
# A series' new rows are written at most SERIES_CHUNK a transaction (each row is checked against the
# stream's other slots), in at most MAX_PASSES transactions a tick (the rest the next tick).
SERIES_CHUNK = 100
MAX_PASSES = 12
# Written-but-unchecked broadcasts whose flag is cleared per transaction.
CLAIM_CHUNK = 1000
# On SQLite, the least pause between two of the planner's write transactions (see _Tick._write).
MIN_PAUSE = 0.005
# The WAL is checkpointed after a whole plan, and at least this often (seconds): a checkpoint (which
# syncs the database file) after every tick cost more than the tick.
CHECKPOINT_EVERY = 30.0
_last_checkpoint = 0.0
# A tick that stops renewing its lease for this long is taken as dead; the next tick re-plans all.
LEASE_TTL = timedelta(minutes=2)
# The window's end moves at half past each minute: people schedule on the minute, so the acts fall
# there, and the tick that plans a new minute (its writes) keeps out of their way (in a soak night its
# tick fell a second after a 50-act burst, and took 130-170 ms instead of ~40).
_EPOCH = datetime(2000, 1, 1, 0, 0, 30, tzinfo=UTC)
_TICK = timedelta(microseconds=1)


@dataclass(frozen=True)
class PlanReport:
    inserted: int
    updated: int
    cancelled: int
    flagged: int
    full: bool = False
    skipped: bool = False
    # Nothing the last tick planned from had changed: the tick only looked (a few statements).
    idle: bool = False
    # What the tick worked on: streams re-planned because their broadcasts changed, planned actions
    # computed and compared with the ledger, and broadcasts rows read to plan them.
    replanned_streams: int = 0
    computed: int = 0
    rows_read: int = 0

    @property
    def changed(self) -> bool:
        return bool(self.inserted or self.updated or self.cancelled or self.flagged)

    @property
    def summary(self) -> str:
        return (
            f"{self.inserted} planned, {self.updated} re-planned, {self.cancelled} cancelled, "
            f"{self.flagged} schedule rows flagged or cleared"
        )


def read_rows(
    broadcasts: Sequence[BroadcastRow], rules: Sequence[OffHours]
) -> tuple[list[BroadcastSpec], list[OffHoursSpec], dict[tuple[Source, int], str]]:
    """Specs of the rows that can be read, and the reason for each one that cannot."""
    unreadable: dict[tuple[Source, int], str] = {}
    broadcast_specs: list[BroadcastSpec] = []
    for b in broadcasts:
        spec = read_broadcast(b)
        if isinstance(spec, str):
            unreadable[(Source.BROADCAST, b.id)] = spec
        else:
            broadcast_specs.append(spec)
    rule_specs: list[OffHoursSpec] = []
    for r in rules:
        rule = read_off_hours(r)
        if isinstance(rule, str):
            unreadable[(Source.OFF_HOURS, r.id)] = rule
        else:
            rule_specs.append(rule)
    return broadcast_specs, rule_specs, unreadable


def plan_tick(rt: Runtime, *, full: bool = False, wait: float = 0.0, scheduler: bool = True) -> PlanReport:
    """One planner tick, unless another one (in any process) is under way: then, after waiting up to
    `wait` seconds for it, nothing (a skipped report). `full` re-plans every stream over the whole
    window instead of only what changed (docs/architecture.md, "The planner tick"). The scheduler's
    ticks are watched (doctor, alerts, the report); a command re-planning at once (`scheduler=False`)
    only notes its success, and leaves the alerts to the scheduler."""
    token = secrets.token_hex(8)
    give_up = time.monotonic() + wait
    while True:
        now = rt.clock.now()
        # Most ticks find nothing to do: they see it in one read, without taking the lease, and
        # write only a heartbeat now and then (planner_watch.tick_idle).
        seen = planner_state.look(rt.engine, planner_watch.STATE_KEYS, now)
        held = seen.lease_held(now, LEASE_TTL)
        if held is None and not full and nothing_to_do(rt, seen, now):
            _checkpoint(rt.engine, wrote=False)
            planner_watch.tick_idle(rt, seen, alert=scheduler)
            return PlanReport(0, 0, 0, 0, idle=True)
        if not held:
            taken, leased = planner_state.take_lease(
                rt.engine, token, rt.clock.now(), LEASE_TTL, glance_keys=planner_watch.STATE_KEYS
            )
            if leased is not None:
                break
        if time.monotonic() >= give_up:
            log.debug("another planner tick is under way: this one is skipped")
            return PlanReport(0, 0, 0, 0, skipped=True)
        time.sleep(0.1)
    # A lease taken over from a tick that never finished: what it had claimed is unplanned.
    tick = _Tick(rt, token, leased, full=full or bool(taken))
    try:
        report = tick.run()
    except BaseException as exc:
        _forget_book(rt)
        if scheduler and isinstance(exc, Exception):
            planner_watch.tick_failed(rt, exc)
        planner_state.give_lease(rt.engine, token, rt.clock.now())
        raise
    # The lease goes back in the same transaction as the heartbeat and the bookkeeping.
    planner_watch.tick_succeeded(
        rt, tick.seen, alert=scheduler, lease=token, book=tick.book, may_flag=tick.may_flag
    )
    return report


def _cold_slices(now: datetime, end: datetime) -> list[datetime]:
    """The ends of the slices a cold tick plans one after the other, the last at the window's end."""
    return [now + ahead for ahead in COLD_SLICES if now + ahead < end] + [end]


def planning_end(now: datetime, horizon: timedelta) -> datetime:
    """The end of the planned window: now + horizon rounded up to a STEP, so the window's end moves
    (and new time is planned) once a STEP, not on every tick."""
    end = now + horizon
    step = STEP.total_seconds()
    rounded = math.ceil((end - _EPOCH).total_seconds() / step) * step
    return _EPOCH + timedelta(seconds=rounded)


def nothing_to_do(rt: Runtime, seen: planner_state.Glance, now: datetime) -> bool:
    """Whether the last tick's plan still stands, by what the glance saw: no broadcast written since
    it judged them, no lapsed pause, nothing it planned from changed (the counters), no new time
    entered the window, and no full re-plan or series pass is due."""
    book = seen.book
    return (
        book is not None
        and not (seen.unchecked or seen.lapsed)
        and (book.changes, book.deletions, book.settings)
        == (seen.value(planner_state.CHANGES_KEY), seen.value(planner_state.DELETIONS_KEY), _settings(rt))
        and planning_end(now, timedelta(hours=rt.settings.horizon_hours)) <= book.planned_until
        and now - book.last_full_at < timedelta(minutes=rt.settings.full_plan_minutes)
        and (book.series_due_at is None or now < book.series_due_at)
    )


def _settings(rt: Runtime) -> str:
    """The part of the book's inputs the process's settings make."""
    return f"{rt.settings.horizon_hours}:{DEFAULT_LOOKBACK.total_seconds()}"


def _checkpoint(engine: Engine, *, wrote: bool) -> None:
    global _last_checkpoint
    if wrote or time.monotonic() - _last_checkpoint >= CHECKPOINT_EVERY:
        checkpoint(engine)
        _last_checkpoint = time.monotonic()


def _forget_book(rt: Runtime) -> None:
    """A failed tick may have claimed changes it did not plan: the next tick re-plans everything."""
    try:
        with transaction(rt.engine) as session:
            planner_state.write_book(session, None, rt.clock.now())
    except SQLAlchemyError:
        log.warning("could not reset the planner's bookkeeping after a failed tick", exc_info=True)


class _Tick:
    def __init__(self, rt: Runtime, token: str, seen: planner_state.Glance, *, full: bool) -> None:
        self.rt, self.engine, self.token, self.force_full = rt, rt.engine, token, full
        self.now = rt.clock.now()
        self.lookback = DEFAULT_LOOKBACK
        self.start = self.now - self.lookback
        self.end = planning_end(self.now, timedelta(hours=rt.settings.horizon_hours))
        self.series_horizon = timedelta(days=rt.settings.series_horizon_days)
        self.inserted = self.updated = self.cancelled = self.flagged = 0
        self.replanned_streams = self.computed = self.rows_read = 0
        self.known: set[str] = set()
        self.disable_between: set[str] = set()
        # On SQLite, the planner's next write transaction waits until then (see _write).
        self.free_until = 0.0
        # What the tick found when it took its lease (the planner's state rows, the probes).
        self.seen = seen
        # The bookkeeping to write as the lease goes back (None: unchanged).
        self.book: planner_state.Book | None = None
        # Whether the tick may have flagged or cleared schedule rows (then they are compared with the
        # alerted ones at once, not at the next minute's comparison).
        self.may_flag = False

    def run(self) -> PlanReport:
        seen, lapsed = self.seen, self.seen.lapsed
        book = seen.book
        changes, deletions = seen.value(planner_state.CHANGES_KEY), seen.value(planner_state.DELETIONS_KEY)
        if not self.force_full and nothing_to_do(self.rt, seen, self.now):  # done by a tick just before
            _checkpoint(self.engine, wrote=False)
            return PlanReport(0, 0, 0, 0, idle=True)
        if lapsed:
            # Pauses whose until passed end first, so this tick plans the streams as running again.
            pause_revival.end_lapsed(self.engine, self.now)
        with transaction(self.engine, immediate=False) as session:
            self.known = known = schedules.known_stream_ids(session)
            self.disable_between = schedules.streams_disabled_between_slots(session)
            rules, lost_rules = schedules.load_off_hours_each(session)
            due, series_due_at = due_series_and_next(session, self.now, self.series_horizon)
        unchecked = seen.unchecked
        inputs = self._inputs(known, rules, lost_rules)
        full = (
            self.force_full
            or book is None
            or book.inputs != inputs
            or deletions != book.deletions  # a broadcast row was deleted
            or self.now - book.last_full_at >= timedelta(minutes=self.rt.settings.full_plan_minutes)
        )
        cold = book is None
        if cold:
            # Cold: the near future first, so nothing due soon waits for a year of occurrences.
            self._materialise(due, ahead=NEAR)
            self._plan(None, self.start, min(self.end, self.now + NEAR))
        else:
            unchecked = self._materialise(due) or unchecked
        loaded: set[int] = set()
        if full:
            written: list[int] = []
            # A cold tick plans the window nearest first, every stream a slice at a time, each slice's
            # occurrences written just before it is planned (with the _MARGIN after it, whose slots
            # bound its finishes; the last slice's pass writes all the series horizon holds): a slot
            # due in an hour is planned within seconds, not after a day of every stream, or two days
            # of every series' occurrences, before its own.
            slice_start = self.start
            for slice_end in _cold_slices(self.now, self.end) if cold else [self.end]:
                if cold:
                    ahead = None if slice_end >= self.end else slice_end + _MARGIN - self.now
                    self._materialise(due, ahead=ahead)
                # Every flag is cleared before the rows are read: the plan below judges them all (a
                # write that commits meanwhile sets its row's flag again, for the next tick).
                written += self._claim(limit=None)
                loaded |= self._plan(None, slice_start, slice_end)
                slice_start = slice_end
        else:
            assert book is not None
            written = self._claim(limit=schedules.CHECK_BATCH) if unchecked else []
            spans = self._dirty_spans(written)
            loaded |= self._plan_spans(spans)
            if self.end > book.planned_until:
                loaded |= self._plan(known | set(spans), book.planned_until, self.end)
        # Flagged rows are judged again only when what judges them (the known streams) may have changed.
        self.flagged += self._judge(written, skip=loaded, flagged=full)
        last_full = self.now if full or book is None else book.last_full_at
        planned_until = self.end if full or book is None else max(book.planned_until, self.end)
        new_book = planner_state.Book(
            planned_until, last_full, inputs, _settings(self.rt), changes, deletions, series_due_at
        )
        # Written with the heartbeat, as the lease goes back (one write transaction fewer).
        self.book = None if new_book == book else new_book
        self.may_flag = bool(full or due or self.flagged)
        # A whole plan writes up to the whole window; an incremental tick's few hundred rows wait for
        # the checkpoint every CHECKPOINT_EVERY (a checkpoint syncs the file: ~50 ms at load 5).
        _checkpoint(self.engine, wrote=full)
        return PlanReport(
            self.inserted,
            self.updated,
            self.cancelled,
            self.flagged,
            full=full,
            replanned_streams=self.replanned_streams,
            computed=self.computed,
            rows_read=self.rows_read,
        )

    def _claim(self, *, limit: int | None) -> list[int]:
        """Clear needs_check on the rows written since the last tick, CLAIM_CHUNK a transaction (all of
        them with limit None); returns their ids."""
        claimed: list[int] = []
        while limit is None or len(claimed) < limit:
            size = CLAIM_CHUNK if limit is None else min(CLAIM_CHUNK, limit - len(claimed))
            with self._write() as session:
                found = schedules.claim_unchecked(session, limit=size)
            claimed.extend(found)
            if len(found) < size:
                break
        if len(claimed) >= ANALYZE_AFTER:
            # Statistics from before the flags were cleared (or none: rows just bulk-written) made
            # PostgreSQL scan the whole table for a slice's rows and a cancel check's sources.
            self._analyze("broadcasts")
        return claimed

    def _analyze(self, table: str) -> None:
        """On PostgreSQL, fresh statistics of `table` now, not at autovacuum's next pass (if any).
        ANALYZE blocks no writer (its lock conflicts with no row write): not one of the tick's writes."""
        if self.engine.dialect.name == "postgresql":
            with transaction(self.engine, immediate=False) as session:
                analyze(session, table)

    def _judge(self, written: Collection[int], *, skip: Collection[int], flagged: bool) -> int:
        """Judge the broadcasts written since the last tick that the plan did not read (rows are
        validated when they are entered, wherever they lie in time), and with `flagged` those carrying
        a flag; read outside any write, the flags written in short transactions. Returns how many
        flags changed."""
        ids = set(written)
        if not ids and not flagged:
            return 0
        with transaction(self.engine, immediate=False) as session:
            if flagged:
                ids.update(schedules.flagged_broadcast_ids(session))
            ids.difference_update(skip)
            if not ids:
                return 0
            rows, unreadable = schedules.live_broadcasts(session, ids)
        invalid, before = judge_broadcasts(rows, unreadable, self.known)
        changed = 0
        for chunk in chunked(list(before), CHUNK):
            keys = set(chunk)
            with self._write() as session:
                changed += schedules.sync_invalid_reasons(
                    session, {k: v for k, v in invalid.items() if k in keys}, chunk
                )
        log_flag_changes(before, invalid)
        return changed

    def _inputs(self, known: set[str], rules: Sequence[OffHours], lost_rules: Mapping[int, str]) -> str:
        """What every stream's plan depends on: when it changes, every stream is re-planned (a
        between-slots policy changes rarely, so one changed re-plans all streams, not only its own)."""
        shaping = [
            sorted(known),
            [
                [r.id, r.stream_id, r.cron, r.timezone, r.duration_seconds, r.created_at, r.cancelled_at]
                for r in rules
            ],
            sorted(lost_rules),
            sorted(self.disable_between),
            self.rt.settings.horizon_hours,
            self.lookback.total_seconds(),
        ]
        return hashlib.sha256(json.dumps(shaping, default=repr).encode()).hexdigest()

    @contextmanager
    def _write(self) -> Iterator[Session]:
        """A short write transaction that also renews the planner's lease. On SQLite the tick then
        leaves the lock free for as long as it held it before its next write: a writer in another
        process polls for the lock (its busy handler sleeps between tries) and would otherwise find
        it taken again by the planner's next transaction every time, however short each one is. The
        pause comes before the next write, so a tick's last write costs none."""
        sqlite = self.engine.dialect.name == "sqlite"
        if sqlite and (rest := self.free_until - time.perf_counter()) > 0:
            time.sleep(rest)
        began = time.perf_counter()
        with transaction(self.engine) as session:
            planner_state.renew_lease(session, self.token, self.rt.clock.now())
            yield session
        if sqlite:
            ended = time.perf_counter()
            self.free_until = ended + max(MIN_PAUSE, ended - began)

    def _materialise(self, due: Sequence[int], *, ahead: timedelta | None = None) -> bool:
        """Materialise the series that need a pass (`due`, each checked again in its pass); True if a
        broadcasts row was written."""
        horizon = self.series_horizon
        report = SeriesReport()
        for series_id in due:  # a series' pass is cut into transactions of at most CHUNK new rows
            for _ in range(MAX_PASSES):
                report.unfinished.discard(series_id)
                with self._write() as session:
                    materialise_one(
                        session,
                        series_id,
                        self.now,
                        horizon,
                        self.known,
                        report,
                        ahead=ahead,
                        limit=SERIES_CHUNK,
                    )
                if series_id not in report.unfinished:
                    break
        return report.changed

    def _dirty_spans(self, written: Collection[int]) -> dict[str, tuple[datetime, datetime] | None]:
        """The streams whose plan the written broadcasts may change, each with the stretch of time
        where it may change (None: the whole window): where each row is now (when it is near the
        window) and where its pending actions are (it may have moved, or been cancelled)."""
        if not written:
            return {}
        with transaction(self.engine, immediate=False) as session:
            rows, _unreadable = schedules.live_broadcasts(session, written)
            spans: dict[str, tuple[datetime, datetime] | None] = dict(
                planner_state.pending_spans(session, written)
            )
        low, high = self.start - _MARGIN, self.end + _MARGIN
        for row in rows:
            if not isinstance(row.stream_id, str):
                continue
            try:
                if not (row.slot_starts_at <= high and row.ends_at >= low):
                    continue
                span: tuple[datetime, datetime] | None = (row.slot_starts_at, row.ends_at)
            except TypeError:
                span = None  # values a plain-SQL write left unreadable: let a whole plan judge the row
            spans[row.stream_id] = _union(spans.get(row.stream_id, span), span)
        return spans

    def _plan_spans(self, spans: Mapping[str, tuple[datetime, datetime] | None]) -> set[int]:
        """Re-plan the changed streams over the stretch their changes may touch: from FINISH_GRACE
        before each change (the slot before may finish or restore by the changed one's start) to its
        end (slots merged with it, disables after it, all lie within). The streams are planned
        together, over the stretch that holds all their changes: a row moved to another stream keeps
        its actions' keys, which must be wanted on its new stream when its old one is cancelled."""
        windows: list[tuple[datetime, datetime]] = []
        streams: set[str] = set()
        for stream, span in spans.items():
            low, high = (self.start, self.end) if span is None else (span[0] - FINISH_GRACE, span[1])
            low, high = max(low, self.start), min(high, self.end)
            if low <= high:
                windows.append((low, high))
                streams.add(stream)
        self.replanned_streams += len(streams)
        if not streams:
            return set()
        return self._plan(streams, min(w[0] for w in windows), max(w[1] for w in windows))

    def _plan(self, streams: set[str] | None, start: datetime, end: datetime) -> set[int]:
        """Plan `streams` (None: every stream) over [start, end]: compute outside any write
        transaction, then write in short ones. Returns the ids of the broadcasts it read."""
        if streams is not None and not streams:
            return set()
        whole = streams is None
        with transaction(self.engine, immediate=False) as session:
            if streams is None:
                broadcasts, lost_broadcasts = schedules.load_broadcast_rows_each(
                    session, start - _MARGIN, end + _MARGIN
                )
                streams = self.known | planner_state.pending_streams(session)
            else:
                # Only the slots the stretch needs: those in it, the one running into it, and the next
                # one after it (which bounds the deadlines of the finishes due at its end).
                broadcasts, lost_broadcasts = schedules.load_stream_broadcast_rows_each(
                    session, streams, self.known, start, end, next_within=FINISH_GRACE
                )
            rules, lost_rules = schedules.load_off_hours_each(session)
        if not whole:
            # Only the rules these streams follow; their flags are set here but cleared only by a whole
            # plan (a rule's verdict changes with the rule or the known streams: a whole plan then).
            rules = [r for r in rules if r.stream_id is None or r.stream_id in streams]
        broadcast_specs, rule_specs, unreadable = read_rows(broadcasts, rules)
        unreadable.update({(Source.BROADCAST, i): why for i, why in lost_broadcasts.items()})
        unreadable.update({(Source.OFF_HOURS, i): why for i, why in lost_rules.items()})
        result = plan(
            broadcast_specs,
            rule_specs,
            self.known,
            start,
            end - start,
            timedelta(0),
            streams=streams,
            disable_between_slots=self.disable_between,
        )
        self.computed += sum(1 for a in result.actions if a.stream_id in streams)
        self.rows_read += len(broadcasts) + len(lost_broadcasts)
        invalid = {**unreadable, **result.invalid}
        sources = [(Source.BROADCAST, b.id) for b in broadcasts] + [(Source.OFF_HOURS, r.id) for r in rules]
        sources += sorted(set(unreadable) - set(sources))
        valid = [key for key in sources if key not in invalid]
        checked = sources if whole else [k for k in sources if k[0] is Source.BROADCAST or k in invalid]
        inserted = 0
        found: ledger.LedgerGlance | None = None
        if whole:
            # The ledger read once without the write lock: a batch that would change nothing is not
            # written (an hourly re-plan of an unchanged night then takes no write lock at all).
            with transaction(self.engine, immediate=False) as session:
                found = ledger.glance_ledger(session, start, end)
        for batch_streams, batch_start, batch_end, batch in _batches(result.actions, streams, start, end):
            if found is not None and ledger.plan_changes_nothing(
                found, batch, batch_streams, batch_start, batch_end
            ):
                continue
            with self._write() as session:
                stats = ledger.apply_plan(
                    session,
                    batch,
                    scope_sources=valid,
                    window_start=batch_start,
                    window_end=batch_end,
                    now=self.now,
                    streams=batch_streams,
                    # Only a whole plan looks for rows of deleted sources anywhere in time (an
                    # incremental one plans every changed row where its pending actions are), and
                    # only on the streams its glance found holding one: the search walks every
                    # pending row of the batch's streams, for each of the plan's ~250 batches.
                    gone_anywhere=found is not None and not found.gone_streams.isdisjoint(batch_streams),
                )
            inserted += stats.inserted
            self.inserted += stats.inserted
            self.updated += stats.updated
            self.cancelled += stats.cancelled
        if inserted >= ANALYZE_AFTER:
            # On a table it still thinks tiny, PostgreSQL scanned it for every 500-key lookup (11.7 s
            # a tick for 10,000 broadcasts) and picked nested loops for the dispatcher's claim.
            self._analyze("actions")
        before: dict[tuple[Source, int], str | None] = dict.fromkeys(unreadable)
        before.update({(Source.BROADCAST, b.id): b.invalid_reason for b in broadcasts})
        before.update({(Source.OFF_HOURS, r.id): r.invalid_reason for r in rules})
        # Only the flags that differ from what was read are written: a write that changed a row since
        # set its needs_check, and the next tick judges it again.
        differ = [k for k in checked if before.get(k, "") != invalid.get(k)]
        for chunk in chunked(differ, CHUNK):
            with self._write() as session:
                keys = set(chunk)
                self.flagged += schedules.sync_invalid_reasons(
                    session, {k: v for k, v in invalid.items() if k in keys}, chunk
                )
        log_flag_changes(before, invalid)
        return {b.id for b in broadcasts} | set(lost_broadcasts)


def _batches(
    planned: Sequence[PlannedAction], streams: Collection[str], start: datetime, end: datetime
) -> Iterator[tuple[list[str], datetime, datetime, list[PlannedAction]]]:
    """The plan cut into writes of about CHUNK actions: whole streams together while they are small,
    a stream with more cut by time, between two different due times (each part is authoritative over
    its own stretch of the window only)."""
    by_stream: dict[str, list[PlannedAction]] = {s: [] for s in streams}
    for action in planned:
        if action.stream_id in by_stream:
            by_stream[action.stream_id].append(action)
    group: list[str] = []
    pending: list[PlannedAction] = []
    for stream in sorted(by_stream):
        mine = by_stream[stream]
        if len(mine) > CHUNK:
            cut_from = start
            part: list[PlannedAction] = []
            for index, action in enumerate(mine):
                part.append(action)
                following = mine[index + 1] if index + 1 < len(mine) else None
                if following is not None and len(part) >= CHUNK and following.due_at > action.due_at:
                    yield [stream], cut_from, following.due_at - _TICK, part
                    cut_from, part = following.due_at, []
            yield [stream], cut_from, end, part
            continue
        group.append(stream)
        pending.extend(mine)
        if len(pending) >= CHUNK:
            yield group, start, end, pending
            group, pending = [], []
    if group:
        yield group, start, end, pending


def judge_broadcasts(
    rows: Sequence[Broadcast], unreadable: Mapping[int, str], known: Collection[str]
) -> tuple[dict[tuple[Source, int], str], dict[tuple[Source, int], str | None]]:
    """Judge broadcasts rows alone (outside any plan): (why each invalid one cannot be planned, each
    row's flag before)."""
    invalid = {(Source.BROADCAST, i): why for i, why in unreadable.items()}
    for row in rows:
        problem = broadcast_problem(row, known)
        if problem is not None:
            invalid[(Source.BROADCAST, row.id)] = problem
    before: dict[tuple[Source, int], str | None] = dict.fromkeys(invalid)
    before.update({(Source.BROADCAST, row.id): row.invalid_reason for row in rows})
    return invalid, before


def _union(
    a: tuple[datetime, datetime] | None, b: tuple[datetime, datetime] | None
) -> tuple[datetime, datetime] | None:
    if a is None or b is None:
        return None
    return min(a[0], b[0]), max(a[1], b[1])


def log_flag_changes(
    before: Mapping[tuple[Source, int], str | None], now: Mapping[tuple[Source, int], str]
) -> None:
    """Log each row whose flag changed this tick, with its table and id (not every tick's repeat)."""
    for (source, row_id), previous in before.items():
        reason = now.get((source, row_id))
        if reason is not None and reason != previous:
            log.warning("%s #%d cannot be planned: %s", schedules.TABLE_NAMES[source], row_id, reason)
        elif reason is None and previous is not None:
            log.info("%s #%d is valid again", schedules.TABLE_NAMES[source], row_id)
