"""Broadcasts and bookings as the front doors add, list and show them.

A slot is a `broadcasts` row: an ops broadcast, or a booking when its organiser is set. It is checked
by service.slots before it gets here; the no-overlap rule lives in store.slots (and in the database).
After every change the planner runs at once, so the answer carries the slot's planned actions.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.clock import Clock
from worker.config import OnairSettings
from worker.domain.outcomes import Verdict
from worker.domain.specs import BroadcastSpec
from worker.domain.types import Source
from worker.service import outcomes
from worker.service.replanning import CLI_WAIT_SECONDS, replan
from worker.service.slots import slot_values
from worker.service.streams_lookup import FoundStream
from worker.store import observations, views
from worker.store.db import transaction
from worker.store.models import Action, Broadcast
from worker.store.slots import insert_slot


@dataclass(frozen=True)
class Saved:
    row: Broadcast
    actions: list[Action]
    replan_failure: str | None = None  # saved, but planning at once failed (the scheduler will)


@dataclass(frozen=True)
class SlotList:
    rows: list[Broadcast]
    stream_names: dict[str, str]
    verdicts: dict[int, Verdict]  # what happened to each row, by id


def add_slot(
    settings: OnairSettings,
    engine: Engine,
    spec: BroadcastSpec,
    found: FoundStream | None,
    *,
    now: datetime,
    organiser_id: int | None = None,
    clock: Clock | None = None,
) -> Saved:
    """Write a checked slot (with the stream FastPix just confirmed, if any), re-plan, and read the row
    back with its planned actions. SlotConflict (naming the slot in the way) when it overlaps another."""
    with transaction(engine) as session:
        if found is not None:
            found.save(session, now)
        slot_id = insert_slot(session, Broadcast(**slot_values(spec, now=now, organiser_id=organiser_id))).id
    failure = replan(settings, engine, clock=clock, wait=CLI_WAIT_SECONDS).failure
    with transaction(engine, immediate=False) as session:
        row = views.find(session, Broadcast, slot_id)
        assert row is not None
        return Saved(row, views.actions_of(session, Source.BROADCAST.value, slot_id), failure)


def get_broadcast(engine: Engine, broadcast_id: int) -> Broadcast | None:
    with transaction(engine, immediate=False) as session:
        return views.find(session, Broadcast, broadcast_id)


def actions_of(engine: Engine, broadcast_id: int) -> list[Action]:
    """The broadcast's actions in the ledger, in due order."""
    with transaction(engine, immediate=False) as session:
        return views.actions_of(session, Source.BROADCAST.value, broadcast_id)


def list_slots(
    engine: Engine,
    *,
    now: datetime,
    stream: str | None = None,
    include_all: bool = False,
    bookings_only: bool = False,
    organiser_id: int | None = None,
) -> SlotList:
    """Upcoming and running slots (all with `include_all`), in start order, with what happened to each."""
    with transaction(engine, immediate=False) as session:
        rows = views.slots(session, now, stream, include_all, bookings_only, organiser_id)
        return SlotList(rows, observations.stream_names(session), outcomes.verdicts(session, rows, now))


def verdict_of(engine: Engine, row: Broadcast, actions: list[Action], now: datetime) -> Verdict:
    """What happened to one broadcast, from its actions and its stream's reported statuses."""
    with transaction(engine, immediate=False) as session:
        signal = outcomes.signals_of(session, [row])[row.id]
    return outcomes.verdict(row, actions, now, signal)


def stream_names(engine: Engine) -> dict[str, str]:
    with transaction(engine, immediate=False) as session:
        return observations.stream_names(session)
