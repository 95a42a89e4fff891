"""Retention: finished actions and their history older than ONAIR_HISTORY_DAYS are folded into
per-day figures (action_daily) and deleted, by `onair db prune` and once a day by the workers.

Deletes go a batch at a time, each in its own short transaction (the figures of a batch are written in
the transaction that deletes it, so a prune stopped half way neither loses nor double-counts a figure),
so SQLite's write lock and PostgreSQL's row locks are never held for long. A batch holds whole
(day, stream) groups, so each figure's percentiles come from all of that day's actions. Pending and
claimed actions are never deleted, nor any of their history. The other history that grows goes by the
same cutoff (store.AGED): the controls' log, past occurrences of recurring series once their actions are
gone (with their viewer figures; one-off broadcasts and bookings stay), webhook events, pauses that
ended, heartbeats of workers gone since. On SQLite the WAL is then checkpointed and truncated.

The daily run is started by every worker's watchdog (it needs neither beat nor the broker, and the
watchdog already sweeps once a minute); the UTC day is claimed in scheduler_state (`prune:<date>`, the
first insert wins), so one worker prunes per day however many watch. The prune runs in its own thread,
so the heartbeats go on while it works.
"""

from __future__ import annotations

import logging
import threading
from collections import Counter
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta

from sqlalchemy import Engine

from worker.domain.retention import DailyFigure, cutoff, summarise
from worker.service import alerts
from worker.service.runtime import Runtime
from worker.store import retention as store
from worker.store.db import transaction

log = logging.getLogger("onair.retention")

# Actions per transaction; their history (about seven events each) goes in the same transaction.
BATCH = 2000
DAY = timedelta(days=1)
CLAIM_PREFIX = "prune:"
# Claims are kept a week: enough to see in scheduler_state which worker pruned lately.
CLAIMS_KEPT = timedelta(days=7)


@dataclass
class PruneResult:
    cutoff: datetime
    dry_run: bool
    # Rows deleted (or, dry run, that would be) per table, in the order they were pruned.
    tables: Counter[str] = field(default_factory=Counter)
    days: int = 0  # UTC days whose actions were folded into figures
    kept_unfinished: int = 0  # pending or claimed actions older than the cutoff, kept
    batches: int = 0
    wal: tuple[int, int, int] | None = None  # SQLite's checkpoint answer (busy, pages, checkpointed)

    @property
    def actions(self) -> int:
        return self.tables["actions"]

    @property
    def events(self) -> int:
        return self.tables["action_events"]

    @property
    def occurrences(self) -> int:
        """Past rows of recurring series, their actions gone."""
        return self.tables["broadcasts"]


def prune(
    engine: Engine, now: datetime, days: int, *, dry_run: bool = False, batch: int = BATCH
) -> PruneResult:
    """Prune finished actions due before the UTC midnight `days` days ago, with their history, then
    the other history older than that (store.AGED)."""
    cut = cutoff(now, days)
    with transaction(engine, immediate=False) as session:
        kept = store.unfinished_before(session, cut)
        oldest = store.oldest_prunable_due(session, cut)
    result = PruneResult(cut, dry_run, kept_unfinished=kept)
    result.tables.update(actions=0, action_events=0)
    for start in _days(oldest, cut):
        with transaction(engine, immediate=False) as session:
            found = store.prunable_in(session, start, start + DAY, cut)
            if dry_run:
                result.tables["actions"] += len(found)
                result.tables["action_events"] += store.events_of(session, [i for i, _ in found])
        if found:
            result.days += 1
        if not dry_run:
            for ids in _batches(found, batch):
                _prune_batch(engine, ids, cut, result)
    for aged in store.AGED:
        _prune_aged(engine, aged, cut, batch, result)
    if not dry_run:
        result.wal = store.checkpoint_wal(engine)
    return result


def _days(oldest: datetime | None, cut: datetime) -> Iterator[datetime]:
    if oldest is None:
        return
    start = datetime(oldest.year, oldest.month, oldest.day, tzinfo=UTC)
    while start < cut:
        yield start
        start += DAY


def _batches(found: Sequence[tuple[int, str]], size: int) -> Iterator[list[int]]:
    """Ids in batches of about `size`, never splitting one stream's actions (they come sorted so)."""
    current: list[int] = []
    stream = None
    for action_id, stream_id in found:
        if stream_id != stream and len(current) >= size:
            yield current
            current = []
        stream = stream_id
        current.append(action_id)
    if current:
        yield current


def _prune_batch(engine: Engine, ids: list[int], cut: datetime, result: PruneResult) -> None:
    with transaction(engine) as session:
        taken = store.take(session, ids, cut)
        store.add_figures(session, summarise(a for _, a in taken))
        actions, events = store.delete_actions(session, [i for i, _ in taken])
    result.tables.update(actions=actions, action_events=events)
    result.batches += 1


def _prune_aged(engine: Engine, aged: store.Aged, cut: datetime, batch: int, result: PruneResult) -> None:
    """Delete the table's rows older than `cut`, a batch per transaction (a dry run counts them; it
    cannot count occurrences whose actions only this prune would delete)."""
    if result.dry_run:
        with transaction(engine, immediate=False) as session:
            result.tables.update(store.count_aged(session, aged, cut))
        return
    while True:
        with transaction(engine) as session:
            keys = store.aged_keys(session, aged, cut, batch)
            result.tables.update(store.delete_aged(session, aged, keys))
        if len(keys) < batch:
            return


def daily(rt: Runtime, owner: str, now: datetime) -> PruneResult | None:
    """Prune once per UTC day: the caller that claims today's key prunes, every other returns None."""
    with transaction(rt.engine) as session:
        if not store.claim(session, f"{CLAIM_PREFIX}{now.date().isoformat()}", owner[:255], now):
            return None
        store.forget_claims(session, CLAIM_PREFIX, now - CLAIMS_KEPT)
    result = prune(rt.engine, now, rt.settings.history_days)
    log.info(
        "pruned rows older than %s: %s (%d unfinished actions kept)",
        result.cutoff.isoformat(),
        ", ".join(f"{table} {n}" for table, n in result.tables.items()),
        result.kept_unfinished,
    )
    return result


_running = threading.Lock()
_done_on: date | None = None  # the last UTC day this process saw pruned: no claim to try until tomorrow


def start_daily(rt: Runtime, owner: str) -> None:
    """The watchdog's hook: run `daily` in a thread of its own, one at a time per process."""
    global _done_on
    now = rt.clock.now()
    if _done_on == now.date() or not _running.acquire(blocking=False):
        return

    def run() -> None:
        global _done_on
        try:
            daily(rt, owner, now)
            _done_on = now.date()
        except Exception as exc:  # tomorrow's run catches up; alert now, so nobody wonders why
            text = f"onair: the daily prune failed on {owner}: {type(exc).__name__}: {exc}"
            log.warning("%s", text)
            alert = alerts.Alert(f"prune:{now.date().isoformat()}:failed", "prune_failed", text)
            alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=now)
        finally:
            _running.release()

    threading.Thread(target=run, name="onair-prune", daemon=True).start()


def figures(engine: Engine, since: date, until: date, stream_id: str | None = None) -> list[DailyFigure]:
    """Figures of pruned actions due on UTC days in [since, until): for the report and doctor."""
    with transaction(engine, immediate=False) as session:
        return store.read_figures(session, since, until, stream_id)
