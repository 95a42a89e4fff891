"""Viewer counts: while a broadcast's slot runs and its stream is active, read the stream's
viewer-count once every ONAIR_VIEWERS_EVERY and add it to the broadcast's figures (peak, average).

A round runs on the `onair.sample_viewers` beat tick, on a queue of its own (worker.queues), so it
never takes a thread from the workers that send the acts; its calls are the lowest class of the
FastPix request budget (worker.domain.budget: a sample goes only when a token is free), waiting at
most to the end of its period. The rules are worker.domain.viewers. Each period's sample is claimed in
the database before the call (worker.store.viewers.claim): one call per period whichever process
looks. A failed call is counted with its cause on the broadcast's figures, and nothing else: the
broadcast's actions and their history are not touched.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.domain import viewers as rules
from worker.domain.viewers import ViewerFigures
from worker.fastpix.errors import FastPixError, InvalidRequest
from worker.service import budget
from worker.store import viewers as store
from worker.store.db import transaction

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger("onair.viewers")

_round = threading.Lock()


@dataclass(frozen=True)
class Round:
    """What one round did: viewers per sampled broadcast, the cause per failed one."""

    sampled: dict[int, int] = field(default_factory=dict)
    failed: dict[int, str] = field(default_factory=dict)
    skipped: bool = False  # another round of this process was still running


def sample_round(rt: Runtime, now: datetime | None = None) -> Round:
    """Sample every broadcast due a sample now; at most one round at a time per process (a round
    whose calls are slow must not take a second thread of the worker serving it)."""
    if not _round.acquire(blocking=False):
        return Round(skipped=True)
    try:
        return _sample_due(rt, now or rt.clock.now())
    finally:
        _round.release()


def _sample_due(rt: Runtime, now: datetime) -> Round:
    every = rt.settings.viewers_every
    with transaction(rt.engine, immediate=False) as session:
        rows = store.in_slot(session, now, active_only=True)
    due = [
        r
        for r in rows
        if rules.sample_due(
            starts_at=r.starts_at,
            ends_at=r.ends_at,
            stream_status=r.stream_status,
            last_attempt_at=r.last_attempt_at,
            now=now,
            every=every,
        )
    ]
    if not due:
        return Round()
    with transaction(rt.engine) as session:
        claimed = [
            r
            for r in due
            if store.claim(
                session, r.broadcast_id, r.stream_id, rules.period_start(r.starts_at, now, every), now
            )
        ]
    if not claimed:
        return Round()
    answers = list(rt.viewer_pool.map(lambda r: _read(rt, r, now, every), claimed))
    done = Round()
    at = rt.clock.now()
    with transaction(rt.engine) as session:
        for row, (views, error) in zip(claimed, answers, strict=True):
            if views is not None:
                store.add_sample(session, row.broadcast_id, views, at)
                done.sampled[row.broadcast_id] = views
            elif error is not None:
                store.add_failure(session, row.broadcast_id, error, at)
                done.failed[row.broadcast_id] = error
    return done


def _read(rt: Runtime, row: store.InSlot, now: datetime, every: float) -> tuple[int | None, str | None]:
    """The stream's viewer count, or why not (a FastPix call: outside any transaction); neither when
    the slot ended before the call could leave (sampling stops at the end)."""
    if rt.clock.now() >= row.ends_at:
        return None, None
    try:
        with budget.waiting_until(rules.wait_bound(row.starts_at, row.ends_at, now, every)):
            return rt.client.viewer_count(row.stream_id), None
    except (FastPixError, InvalidRequest) as exc:
        log.warning(
            "viewer count of stream %s (broadcast #%d) failed: %s", row.stream_id, row.broadcast_id, exc
        )
        return None, str(exc)


@dataclass(frozen=True)
class StreamViewers:
    stream_id: str
    name: str | None
    viewers: int


def stream_viewers(engine: Engine, now: datetime) -> list[StreamViewers]:
    """Per stream in a broadcast's slot now: its last sample in the slot; 0 while it is not active or
    before its first sample (the metrics' onair_stream_viewers gauge)."""
    with transaction(engine, immediate=False) as session:
        rows = store.in_slot(session, now)
    return [
        StreamViewers(
            r.stream_id,
            r.stream_name,
            r.last_viewers if r.stream_status == rules.ACTIVE and r.last_viewers is not None else 0,
        )
        for r in rows
    ]


def viewer_figures(session: Session, broadcast_ids: Collection[int]) -> dict[int, ViewerFigures]:
    """Each sampled broadcast's figures (peak, average, failures), in the caller's transaction."""
    return store.figures(session, broadcast_ids)


def figures_of(engine: Engine, broadcast_ids: Collection[int]) -> dict[int, ViewerFigures]:
    with transaction(engine, immediate=False) as session:
        return store.figures(session, broadcast_ids)
