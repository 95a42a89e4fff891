"""An off-hours rule written in plain SQL whose windows overlap each other (`*/2` for 3 minutes), on
SQLite and PostgreSQL: the planner flags it with the words the CLI refuses it with, doctor's schedules
line and the `schedule_invalid` alert say so, and the other rules still plan."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.cli_support import STREAM, Onair, migrated_on_backend
from tests.integration.store_support import BACKENDS
from tests.integration.test_health_watch import doctor, runtime
from tests.integration.webhook_receiver import Receiver
from worker.clock import FixedClock
from worker.domain.off_hours_rules import overlap_problem
from worker.service import alerts, planning
from worker.store.types import to_sqlite_text

NOW = datetime(2026, 11, 27, 22, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def test_a_rule_overlapping_itself_is_flagged_alerted_and_the_others_plan(
    onair: Onair, receiver: Receiver, sender: alerts.AlertSender
) -> None:
    clock = FixedClock(NOW)
    rt = runtime(onair, receiver.url, clock)
    onair.add_stream()
    created = to_sqlite_text(NOW) if onair.engine.dialect.name == "sqlite" else NOW
    with onair.engine.begin() as conn:
        bad, good = (
            conn.execute(
                text(
                    "INSERT INTO off_hours (stream_id, cron, duration_seconds, created_at, updated_at)"
                    " VALUES (:s, :c, :d, :t, :t) RETURNING id"
                ),
                {"s": STREAM, "c": cron, "d": seconds, "t": created},
            ).scalar_one()
            for cron, seconds in (("*/2 * * * *", 180), ("0 23 * * *", 3600))
        )
    for _ in range(3):  # every tick agrees: one alert
        planning.plan_tick(rt)
        clock.advance(5)

    words = overlap_problem("*/2 * * * *", "UTC", timedelta(minutes=3), NOW)
    assert words is not None
    with onair.engine.connect() as conn:
        flags = dict(conn.execute(text("SELECT id, invalid_reason FROM off_hours")).all())
        planned = set(
            conn.execute(text("SELECT DISTINCT source_id FROM actions WHERE source = 'off_hours'")).scalars()
        )
    assert flags == {bad: words, good: None}
    assert planned == {good}
    check = doctor(rt, "schedules")
    assert (check.ok, check.warning) == (True, True)
    assert check.detail.startswith(f"1 invalid, not planned: off_hours#{bad}: its windows overlap")
    assert sender.flush(10)
    [alert] = receiver.of_event("schedule_invalid")
    assert alert["text"].startswith(f"onair: off_hours#{bad} is invalid and not planned: its windows overlap")
