"""Property: whatever sequence of bookings, broadcasts, moves and cancellations arrives, no two accepted
slots on a stream overlap, each refusal names slots that really collide, and exactly the requests that
collide with nothing are accepted. Checked against SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import combinations
from pathlib import Path

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from sqlalchemy import Engine, select, text, update

from tests.integration.store_support import BACKENDS, T0, migrated_engine
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.organisers import create_organiser
from worker.store.slots import SlotConflict, insert_slot, move_slot

STREAMS = ("a", "b")
MIN = timedelta(minutes=1)


@dataclass(frozen=True)
class Times:
    start_minute: int
    duration_minutes: int
    lead_minutes: int

    @property
    def starts_at(self) -> datetime:
        return T0 + self.start_minute * MIN

    @property
    def ends_at(self) -> datetime:
        return self.starts_at + self.duration_minutes * MIN

    @property
    def slot(self) -> tuple[datetime, datetime]:
        return self.starts_at - self.lead_minutes * MIN, self.ends_at


@dataclass(frozen=True)
class Add:
    stream: str
    times: Times
    booking: bool


@dataclass(frozen=True)
class Move:
    pick: int
    times: Times


@dataclass(frozen=True)
class Cancel:
    pick: int


times = st.builds(
    Times,
    start_minute=st.integers(0, 240),
    duration_minutes=st.integers(1, 120),
    lead_minutes=st.sampled_from([0, 0, 5, 10, 30]),
)
operations = st.lists(
    st.one_of(  # adds twice as likely as moves or cancellations
        st.builds(Add, stream=st.sampled_from(STREAMS), times=times, booking=st.booleans()),
        st.builds(Add, stream=st.sampled_from(STREAMS), times=times, booking=st.booleans()),
        st.builds(Move, pick=st.integers(0, 50), times=times),
        st.builds(Cancel, pick=st.integers(0, 50)),
    ),
    min_size=3,
    max_size=25,
)


def overlaps(a: tuple[datetime, datetime], b: tuple[datetime, datetime]) -> bool:
    return a[0] < b[1] and b[0] < a[1]


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(ops=operations)
def test_accepted_slots_never_overlap_and_refusals_name_real_collisions(
    engine: Engine, ops: list[Add]
) -> None:
    with engine.begin() as conn:
        conn.execute(text("DELETE FROM broadcasts"))
        conn.execute(text("DELETE FROM organisers"))
    with transaction(engine) as session:
        organiser_id = create_organiser(session, "Jazz Club", now=T0)[0].id

    # The model: what should be live, by id -> (stream, slot). Independent of onair's own queries.
    live: dict[int, tuple[str, tuple[datetime, datetime]]] = {}
    for op in ops:
        if isinstance(op, Add):
            stream, wanted = op.stream, op.times.slot
            expected_clash = {i for i, (s, other) in live.items() if s == stream and overlaps(wanted, other)}
            row = Broadcast(
                stream_id=stream,
                starts_at=op.times.starts_at,
                ends_at=op.times.ends_at,
                lead_seconds=op.times.lead_minutes * 60,
                organiser_id=organiser_id if op.booking else None,
            )
            try:
                with transaction(engine) as session:
                    insert_slot(session, row)
                    new_id = row.id
            except SlotConflict as refusal:
                event("add refused")
                assert expected_clash, f"refused a free slot: {refusal}"
                assert set(refusal.conflicting_ids) == expected_clash
                for clash in expected_clash:
                    assert f"#{clash} " in str(refusal)
            else:
                assert not expected_clash, f"accepted a slot overlapping {expected_clash}"
                live[new_id] = (stream, wanted)
        elif not live:
            continue
        elif isinstance(op, Move):
            target = sorted(live)[op.pick % len(live)]
            stream, wanted = live[target][0], op.times.slot
            expected_clash = {
                i for i, (s, other) in live.items() if i != target and s == stream and overlaps(wanted, other)
            }
            try:
                with transaction(engine) as session:
                    move_slot(
                        session,
                        target,
                        starts_at=op.times.starts_at,
                        ends_at=op.times.ends_at,
                        lead_seconds=op.times.lead_minutes * 60,
                        now=T0,
                    )
            except SlotConflict as refusal:
                event("move refused")
                assert expected_clash and set(refusal.conflicting_ids) == expected_clash
            else:
                assert not expected_clash
                live[target] = (stream, wanted)
        else:
            target = sorted(live)[op.pick % len(live)]
            with transaction(engine) as session:
                session.execute(update(Broadcast).where(Broadcast.id == target).values(cancelled_at=T0))
            del live[target]

    with transaction(engine, immediate=False) as session:
        stored = list(session.scalars(select(Broadcast).where(Broadcast.cancelled_at.is_(None))))
    assert {r.id: (r.stream_id, (r.slot_starts_at, r.ends_at)) for r in stored} == live
    for first, second in combinations(stored, 2):
        if first.stream_id == second.stream_id:
            assert not overlaps(
                (first.slot_starts_at, first.ends_at), (second.slot_starts_at, second.ends_at)
            )
