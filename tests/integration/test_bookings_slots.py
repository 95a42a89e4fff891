"""No two slots on one stream overlap, lead included: the database refuses it on both backends, and
onair's slot helpers refuse it first with a message naming the slot in the way."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, event, select, text
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from tests.integration.store_support import BACKENDS, T0, migrated, migrated_engine
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.organisers import create_organiser
from worker.store.slots import SlotConflict, find_conflicts, insert_slot, is_overlap_refusal, move_slot

MIN = timedelta(minutes=1)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def sql_insert(engine: Engine, values: str, columns: str = "stream_id, starts_at, ends_at") -> None:
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO broadcasts ({columns}) VALUES ({values})"))


def refused(engine: Engine, values: str, columns: str = "stream_id, starts_at, ends_at") -> bool:
    try:
        sql_insert(engine, values, columns)
    except IntegrityError as exc:
        assert is_overlap_refusal(exc), exc
        return True
    return False


def rows(engine: Engine) -> list[Broadcast]:
    with transaction(engine, immediate=False) as session:
        return list(session.scalars(select(Broadcast).order_by(Broadcast.id)))


def slot(stream: str, start: datetime, end: datetime, lead_minutes: int = 5, **extra: object) -> Broadcast:
    return Broadcast(stream_id=stream, starts_at=start, ends_at=end, lead_seconds=lead_minutes * 60, **extra)


def test_plain_sql_insert_gets_its_slot_start_from_the_database(engine: Engine) -> None:
    sql_insert(engine, "'s', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00'")
    sql_insert(
        engine,
        "'t', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00', 0",
        "stream_id, starts_at, ends_at, lead_seconds",
    )

    stored = rows(engine)

    assert [r.slot_starts_at for r in stored] == [T0 - 5 * MIN, T0]
    with engine.begin() as conn:
        conn.execute(text("UPDATE broadcasts SET lead_seconds = 600 WHERE stream_id = 't'"))
    assert rows(engine)[1].slot_starts_at == T0 - 10 * MIN


def test_an_overlapping_row_written_by_sql_is_refused_and_a_touching_one_accepted(engine: Engine) -> None:
    sql_insert(engine, "'s', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00'")  # slot 17:55-19:00
    cols = "stream_id, starts_at, ends_at, lead_seconds"

    assert refused(engine, "'s', '2026-11-27 18:30:00+00:00', '2026-11-27 18:40:00+00:00', 0", cols)
    assert refused(engine, "'s', '2026-11-27 17:00:00+00:00', '2026-11-27 17:56:00+00:00', 0", cols)
    # The lead counts: this starts at 19:04, but its 5-minute lead reaches back into the first slot.
    assert refused(engine, "'s', '2026-11-27 19:04:00+00:00', '2026-11-27 20:00:00+00:00', 300", cols)
    assert not refused(engine, "'s', '2026-11-27 19:05:00+00:00', '2026-11-27 20:00:00+00:00', 300", cols)
    assert not refused(engine, "'s', '2026-11-27 17:00:00+00:00', '2026-11-27 17:55:00+00:00', 0", cols)
    assert not refused(engine, "'other', '2026-11-27 18:30:00+00:00', '2026-11-27 18:40:00+00:00', 0", cols)

    assert len(rows(engine)) == 4


def test_cancelled_rows_free_their_slot_and_uncancelling_into_a_conflict_is_refused(engine: Engine) -> None:
    sql_insert(engine, "'s', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00'")
    with engine.begin() as conn:
        conn.execute(text("UPDATE broadcasts SET cancelled_at = starts_at"))
    assert not refused(engine, "'s', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00'")

    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(text("UPDATE broadcasts SET cancelled_at = NULL WHERE id = 1"))
    assert is_overlap_refusal(caught.value)


def test_moving_a_row_by_sql_into_another_slot_is_refused(engine: Engine) -> None:
    sql_insert(engine, "'s', '2026-11-27 18:00:00+00:00', '2026-11-27 19:00:00+00:00'")
    sql_insert(engine, "'s', '2026-11-27 20:00:00+00:00', '2026-11-27 21:00:00+00:00'")

    with pytest.raises(IntegrityError) as caught, engine.begin() as conn:
        conn.execute(text("UPDATE broadcasts SET ends_at = '2026-11-27 19:56:00+00:00' WHERE id = 1"))
    assert is_overlap_refusal(caught.value)
    with engine.begin() as conn:  # the row may grow up to the next slot's lead, and move streams
        conn.execute(text("UPDATE broadcasts SET ends_at = '2026-11-27 19:55:00+00:00' WHERE id = 1"))
        conn.execute(text("UPDATE broadcasts SET stream_id = 'other' WHERE id = 2"))


def test_insert_slot_names_the_slot_in_the_way_and_writes_nothing(engine: Engine) -> None:
    with transaction(engine) as session:
        organiser, _ = create_organiser(session, "Jazz Club", now=T0)
        insert_slot(session, slot("s", T0, T0 + 60 * MIN, title="Morning show", organiser_id=organiser.id))
        insert_slot(session, slot("s", T0 + 120 * MIN, T0 + 180 * MIN))

    with pytest.raises(SlotConflict) as caught, transaction(engine) as session:
        insert_slot(session, slot("s", T0 + 50 * MIN, T0 + 130 * MIN))

    assert str(caught.value) == (
        "overlaps booking #1 by Jazz Club 'Morning show' 2026-11-27 17:55 to 19:00 UTC on stream s, "
        "broadcast #2 2026-11-27 19:55 to 21:00 UTC on stream s (lead included)"
    )
    assert caught.value.conflicting_ids == (1, 2)
    assert [r.id for r in rows(engine)] == [1, 2]


def test_find_conflicts_lists_every_overlap_even_behind_a_short_slot(engine: Engine) -> None:
    with transaction(engine) as session:
        for hour in range(4):
            insert_slot(session, slot("s", T0 + hour * 60 * MIN, T0 + (hour * 60 + 30) * MIN, lead_minutes=0))

    with transaction(engine, immediate=False) as session:
        found = find_conflicts(session, "s", T0 + 20 * MIN, T0 + 150 * MIN)
        none = find_conflicts(session, "s", T0 + 30 * MIN, T0 + 60 * MIN)
        self_excluded = find_conflicts(session, "s", T0, T0 + 30 * MIN, exclude_id=1)

    assert [r.id for r in found] == [1, 2, 3]
    assert none == [] and self_excluded == []


def test_move_slot_refuses_a_collision_and_moves_otherwise(engine: Engine) -> None:
    with transaction(engine) as session:
        insert_slot(session, slot("s", T0, T0 + 60 * MIN))
        insert_slot(session, slot("s", T0 + 120 * MIN, T0 + 180 * MIN))

    with pytest.raises(SlotConflict, match=r"overlaps broadcast #1 "), transaction(engine) as session:
        move_slot(session, 2, starts_at=T0 + 30 * MIN, ends_at=T0 + 90 * MIN, now=T0)
    with transaction(engine) as session:
        moved = move_slot(session, 2, starts_at=T0 + 65 * MIN, ends_at=T0 + 90 * MIN, now=T0)
        moved_slot = moved.slot_starts_at
        # Moving onto its own old slot is no conflict with itself.
        move_slot(session, 1, starts_at=T0 - 10 * MIN, ends_at=T0 + 60 * MIN, lead_seconds=0, now=T0)

    assert moved_slot == T0 + 60 * MIN
    assert [(r.slot_starts_at, r.ends_at) for r in rows(engine)] == [
        (T0 - 10 * MIN, T0 + 60 * MIN),
        (T0 + 60 * MIN, T0 + 90 * MIN),
    ]
    with pytest.raises(LookupError), transaction(engine) as session:
        move_slot(session, 99, starts_at=T0, ends_at=T0 + MIN, now=T0)


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    yield from migrated(postgres_url)


def test_a_writer_that_races_past_the_check_gets_the_same_named_conflict(pg_engine: Engine) -> None:
    # PostgreSQL only: on SQLite onair's writers hold the write lock from BEGIN, so none can race.
    engine = pg_engine
    intruder = "'s', '2026-11-27 18:30:00+00:00', '2026-11-27 18:40:00+00:00', 0, 'intruder'"

    def slip_in_a_row(session: Session, *_: object) -> None:
        # Plain SQL from another connection commits between onair's check and its write.
        sql_insert(engine, intruder, "stream_id, starts_at, ends_at, lead_seconds, title")

    with Session(engine) as session, session.begin():
        event.listen(session, "before_flush", slip_in_a_row, once=True)
        with pytest.raises(SlotConflict) as caught:
            insert_slot(session, slot("s", T0, T0 + 60 * MIN))
        # The transaction is still usable after the refusal.
        insert_slot(session, slot("s", T0 + 60 * MIN, T0 + 70 * MIN, lead_minutes=0))

    assert str(caught.value) == (
        "overlaps broadcast #1 'intruder' 2026-11-27 18:30 to 18:40 UTC on stream s (lead included)"
    )
    assert [r.title for r in rows(engine)] == ["intruder", None]
