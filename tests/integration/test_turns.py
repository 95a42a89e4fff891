"""A fleet-wide duty (the signal watch) is done by one process a period, however many offer: four
processes (engines of their own) racing at the same instant get one turn between them, none until the
period has passed, then one again. SQLite and PostgreSQL."""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine

from tests.integration.store_support import BACKENDS, T0, migrated_engine
from worker.store.db import make_engine
from worker.store.turns import take_turn

EVERY = timedelta(seconds=4)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def race(engine: Engine, at: timedelta, processes: int = 4) -> int:
    """How many of `processes` got the turn offered at T0 + at."""
    engines = [make_engine(engine.url) for _ in range(processes)]
    try:
        with ThreadPoolExecutor(processes) as pool:
            return sum(pool.map(lambda e: take_turn(e, "signal_watch", T0 + at, EVERY), engines))
    finally:
        for other in engines:
            other.dispose()


def test_one_process_a_period_gets_the_turn(engine: Engine) -> None:
    assert race(engine, timedelta(0)) == 1  # the first turn ever
    assert race(engine, timedelta(seconds=1)) == 0
    assert race(engine, EVERY - timedelta(milliseconds=1)) == 0
    assert race(engine, EVERY) == 1
    assert race(engine, EVERY + timedelta(seconds=1)) == 0
    # Another duty keeps its own turns.
    assert take_turn(engine, "another", T0, EVERY) is True
