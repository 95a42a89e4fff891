"""Two organisers, in two processes, book the same slot at the same instant: exactly one wins, and the
other is told which booking took it. On PostgreSQL and on SQLite."""

from __future__ import annotations

import multiprocessing
from collections.abc import Iterator
from datetime import timedelta
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Barrier
from pathlib import Path

import pytest
from sqlalchemy import Engine, func, select

from tests.integration.store_support import BACKENDS, T0, backend_url, migrated
from worker.store.db import make_engine, transaction
from worker.store.models import Broadcast
from worker.store.organisers import create_organiser, find_organiser
from worker.store.slots import SlotConflict, insert_slot

ROUNDS = 6
STREAM = "shared"


def book_each_round(url: str, organiser: str, barrier: Barrier, results: Queue[tuple[int, str, str]]) -> None:
    """Runs in its own process: book the round's slot the moment the other process is ready too."""
    engine = make_engine(url)
    try:
        with transaction(engine, immediate=False) as session:
            found = find_organiser(session, organiser)
            assert found is not None
            organiser_id = found.id
        for round_no in range(ROUNDS):
            start = T0 + round_no * timedelta(hours=2)
            row = Broadcast(
                stream_id=STREAM,
                starts_at=start,
                ends_at=start + timedelta(hours=1),
                lead_seconds=300,
                organiser_id=organiser_id,
            )
            barrier.wait(timeout=60)
            try:
                with transaction(engine) as session:
                    insert_slot(session, row)
                    booked = row.id
            except SlotConflict as refusal:
                results.put((round_no, organiser, f"refused: {refusal}"))
            else:
                results.put((round_no, organiser, f"won #{booked}"))
    finally:
        engine.dispose()


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    yield from migrated(url)


def test_two_processes_booking_one_slot_at_once_exactly_one_wins(url: str, engine: Engine) -> None:
    with transaction(engine) as session:
        create_organiser(session, "Alice", now=T0)
        create_organiser(session, "Bob", now=T0)
    spawn = multiprocessing.get_context("spawn")
    barrier = spawn.Barrier(2)
    results: Queue[tuple[int, str, str]] = spawn.Queue()
    workers = [
        spawn.Process(target=book_each_round, args=(url, name, barrier, results)) for name in ("Alice", "Bob")
    ]
    for worker in workers:
        worker.start()
    outcomes = [results.get(timeout=120) for _ in range(2 * ROUNDS)]
    for worker in workers:
        worker.join(timeout=60)
        assert worker.exitcode == 0

    for round_no in range(ROUNDS):
        this_round = {who: what for r, who, what in outcomes if r == round_no}
        winners = [who for who, what in this_round.items() if what.startswith("won")]
        assert len(winners) == 1, this_round
        (winner,) = winners
        (loser,) = set(this_round) - {winner}
        booked = this_round[winner].removeprefix("won ")
        assert this_round[loser].startswith(f"refused: overlaps booking {booked} by {winner} "), this_round
    with transaction(engine, immediate=False) as session:
        assert session.scalar(select(func.count()).select_from(Broadcast)) == ROUNDS
