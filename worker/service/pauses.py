"""Pause and resume a stream (`onair streams pause|resume`): while paused onair sends the stream no act
(docs/operations.md, "Pausing a stream"). Every change is recorded in the stream's history with who
made it, when and why; a resume re-plans at once."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.pauses import Pause, describe, pause_problems
from worker.service.pause_revival import UNTIL_REACHED, end_and_revive
from worker.service.refusal import NotFound, Refused
from worker.service.replanning import API_WAIT_SECONDS, replan
from worker.store import pauses, schedules
from worker.store.db import transaction
from worker.store.events import record_event
from worker.store.models import StreamPause


@dataclass(frozen=True)
class PauseRecord:
    """A pause as the front doors show it: in force or past."""

    stream_id: str
    paused_at: datetime
    paused_by: str
    note: str | None
    until: datetime | None
    resumed_at: datetime | None
    resumed_by: str | None

    @classmethod
    def of(cls, row: StreamPause) -> PauseRecord:
        return cls(
            row.stream_id, row.paused_at, row.paused_by, row.note, row.until, row.resumed_at, row.resumed_by
        )


def pause_stream(
    engine: Engine,
    stream_id: str,
    *,
    actor: str,
    now: datetime,
    until: datetime | None = None,
    note: str | None = None,
) -> Pause:
    """Pause one stream known to onair. Refused when it is unknown, already paused, or the input is bad."""
    _check(until, note, now)
    with transaction(engine) as session:
        if stream_id not in schedules.known_stream_ids(session):
            raise NotFound(
                "stream_id",
                f"unknown stream {stream_id!r}: onair knows the streams it synced from FastPix (every "
                "minute while `onair run` runs) or that a broadcast was scheduled on",
            )
        pause = _pause(session, stream_id, actor=actor, now=now, until=until, note=note, refuse_paused=True)
        assert pause is not None
        return pause


def pause_all(
    engine: Engine, *, actor: str, now: datetime, until: datetime | None = None, note: str | None = None
) -> list[Pause]:
    """Pause every known stream not paused already; the new pauses."""
    _check(until, note, now)
    with transaction(engine) as session:
        made = []
        for stream_id in sorted(schedules.known_stream_ids(session)):
            pause = _pause(
                session, stream_id, actor=actor, now=now, until=until, note=note, refuse_paused=False
            )
            if pause is not None:
                made.append(pause)
        return made


def _check(until: datetime | None, note: str | None, now: datetime) -> None:
    problems = pause_problems(until, note, now)
    if problems:
        raise Refused(problems[0][0], "; ".join(message for _, message in problems))


def _pause(
    session: Session,
    stream_id: str,
    *,
    actor: str,
    now: datetime,
    until: datetime | None,
    note: str | None,
    refuse_paused: bool,
) -> Pause | None:
    existing = pauses.open_pause(session, stream_id)
    if existing is not None and (existing.until is None or existing.until > now):
        if refuse_paused:
            raise Refused(
                "stream_id",
                f"stream {stream_id} is already {describe(pauses.as_pause(existing))}: resume it first",
            )
        return None
    if existing is not None and existing.until is not None:  # lapsed; the planner has not ended it yet
        end_and_revive(session, existing, by=UNTIL_REACHED, at=existing.until, now=now)
    row = pauses.add_pause(session, stream_id, by=actor, note=note, until=until, now=now)
    pause = pauses.as_pause(row)
    record_event(
        session,
        action_id=None,
        stream_id=stream_id,
        actor=actor,
        event="stream_paused",
        detail=f"{describe(pause)}: onair sends it no act until resumed",
        now=now,
    )
    return pause


@dataclass(frozen=True)
class Resumed:
    stream_id: str
    revived: list[int]  # actions the pause skipped that run after all


def resume_stream(
    settings: OnairSettings, engine: Engine, clock: Clock, stream_id: str, *, actor: str
) -> Resumed:
    """End the stream's pause, bring back what it skipped that is still useful, and re-plan."""
    now = clock.now()
    with transaction(engine) as session:
        row = pauses.open_pause(session, stream_id)
        if row is None or (row.until is not None and row.until <= now):
            raise Refused("stream_id", f"stream {stream_id} is not paused")
        revived = end_and_revive(session, row, by=actor, at=now, now=now)
    replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return Resumed(stream_id, revived)


def resume_all(settings: OnairSettings, engine: Engine, clock: Clock, *, actor: str) -> list[Resumed]:
    now = clock.now()
    done = []
    with transaction(engine) as session:
        for pause in pauses.all_in_force(session, now):
            row = pauses.open_pause(session, pause.stream_id)
            assert row is not None
            done.append(Resumed(pause.stream_id, end_and_revive(session, row, by=actor, at=now, now=now)))
    if done:
        replan(settings, engine, clock=clock, wait=API_WAIT_SECONDS)
    return done


def in_force(engine: Engine, now: datetime, stream_id: str | None = None) -> list[Pause]:
    with transaction(engine, immediate=False) as session:
        found = pauses.all_in_force(session, now)
    return [p for p in found if stream_id is None or p.stream_id == stream_id]


def past_and_present(engine: Engine, stream_id: str | None, *, limit: int = 20) -> list[PauseRecord]:
    """The latest pauses, newest first: what `onair history --stream` shows."""
    with transaction(engine, immediate=False) as session:
        return [PauseRecord.of(row) for row in pauses.history(session, stream_id, limit=limit)]
