"""Check 6: DST in both directions, in Europe/Berlin and America/New_York: each action fires once, at
the right instant.

What is real here and what is not: the real DST nights are months away, and a clock cannot be
injected into separate Celery processes, so this test runs onair's own planner tick, dispatcher tick
and executor in this process with a FixedClock stepped through each DST night (and the normal night
after it), on a real SQLite ledger, against the real simulator over HTTP. Celery is the only piece
left out; it carries nothing but row ids (checks 1-5 exercise it). "The right instant" is the
FixedClock's reading when the executor acted, and the ledger's due_at; the simulator's log (real
time) counts the calls and effects. The wall-time rules themselves (a time that does not exist runs
at the first instant after the gap; one that exists twice runs at its first occurrence) are unit
tested in tests/unit/test_domain_recurrence.py and test_domain_planner.py; docs/lifecycle.md states
them.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from tests.harness import migrate
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import Engines
from tests.reliability.fleet import sql_time
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.fastpix.client import FastPixClient
from worker.service import dispatcher, executor, planning
from worker.service.runtime import Runtime
from worker.store.ledger import Claim

# The simulator runs as a process; worker and beat do not (see the module docstring).
pytestmark = pytest.mark.processes


def utc(text: str) -> datetime:
    return datetime.fromisoformat(text).replace(tzinfo=UTC)


# (zone, cron, the DST night, expected off-hours starts in UTC: that night and the normal one after)
NIGHTS = [
    # 02:30 does not exist on 29 March (02:00 CET -> 03:00 CEST): at 03:00 CEST = 01:00 UTC.
    ("Europe/Berlin", "30 2 * * *", "spring", [utc("2026-03-29 01:00"), utc("2026-03-30 00:30")]),
    # 02:30 happens twice on 25 October: the first, 02:30 CEST = 00:30 UTC, and not again at 01:30 UTC.
    ("Europe/Berlin", "30 2 * * *", "fall", [utc("2026-10-25 00:30"), utc("2026-10-26 01:30")]),
    # 02:30 does not exist on 8 March (02:00 EST -> 03:00 EDT): at 03:00 EDT = 07:00 UTC.
    ("America/New_York", "30 2 * * *", "spring", [utc("2026-03-08 07:00"), utc("2026-03-09 06:30")]),
    # 01:30 happens twice on 1 November: the first, 01:30 EDT = 05:30 UTC, not 06:30 UTC.
    ("America/New_York", "30 1 * * *", "fall", [utc("2026-11-01 05:30"), utc("2026-11-02 06:30")]),
]
WINDOW = timedelta(hours=1)


@pytest.mark.parametrize(
    ("zone", "cron", "direction", "expected"), NIGHTS, ids=[f"{n[0]}-{n[2]}" for n in NIGHTS]
)
def test_off_hours_across_dst_fire_once_at_the_right_instant(
    zone: str,
    cron: str,
    direction: str,
    expected: list[datetime],
    simulator: Simulator,
    tmp_path: Path,
    engines: Engines,
) -> None:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        stream = api.create_stream().stream_id
    url = f"sqlite:///{tmp_path}/onair.db"
    migrate(url)
    engine = engines(url)
    start = expected[0] - timedelta(hours=12)
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO streams (stream_id, status) VALUES (:s, 'idle')"), {"s": stream})
        conn.execute(
            sa.text(
                "INSERT INTO off_hours (stream_id, cron, duration_seconds, timezone, created_at) "
                "VALUES (:s, :c, :d, :z, :t)"
            ),
            {
                "s": stream,
                "c": cron,
                "d": int(WINDOW.total_seconds()),
                "z": zone,
                "t": sql_time(engine, start),
            },
        )
    clock = FixedClock(start)
    rt = Runtime(
        settings=OnairSettings(database_url=url, claim_ahead_seconds=0, alert_webhook_url=""),
        fastpix=FastPixSettings(
            api_url=simulator.base_url,
            access_token_id=simulator.access_token_id,  # type: ignore[arg-type]
            secret_key=simulator.secret_key,  # type: ignore[arg-type]
        ),
        clock=clock,
        engine=engine,  # the test's engine, disposed by the fixture
    )
    acted: list[tuple[str, datetime]] = []

    def run_now(batch: Sequence[Claim]) -> None:
        acted.extend((claim.kind.value, clock.now()) for claim in batch)
        executor.execute_batch(rt, [(claim.action_id, claim.lease_token) for claim in batch])

    since = simulator.last_seq()
    end = expected[-1] + WINDOW + timedelta(hours=1)
    try:
        step_through(rt, clock, end, run_now)
    finally:
        rt.client.close()

    calls = [c for c in simulator.calls(since, stream_id=stream) if c.endpoint in ("enable", "disable")]
    changes = [(c.endpoint, c.status_before, c.status_after) for c in calls]
    wanted = [
        (kind, at) for night in expected for kind, at in (("disable", night), ("enable", night + WINDOW))
    ]
    print(
        f"[fault: DST {direction} in {zone}, cron '{cron}'] acted at "
        + ", ".join(f"{k}@{t:%m-%d %H:%M}Z" for k, t in acted)
        + f"; API calls: {len(calls)}"
    )
    assert acted == wanted, f"{zone} {direction}: acted {acted}, expected {wanted}"
    assert changes == [
        ("disable", "idle", "disabled"),
        ("enable", "disabled", "idle"),
        ("disable", "idle", "disabled"),
        ("enable", "disabled", "idle"),
    ], f"each action changes the stream once: {changes}"
    with engine.connect() as conn:
        states = conn.execute(
            sa.text("SELECT kind, state FROM actions WHERE stream_id = :s AND due_at < :e ORDER BY due_at"),
            {"s": stream, "e": sql_time(engine, end)},
        ).all()
    assert [tuple(r) for r in states] == [(k, "succeeded") for k, _ in wanted]


def step_through(rt: Runtime, clock: FixedClock, end: datetime, send: dispatcher.Send) -> None:
    """Tick the planner and the dispatcher, moving the clock to each instant something falls due."""
    engine = rt.engine
    while clock.now() < end:
        planning.plan_tick(rt)
        dispatcher.dispatch_tick(rt, send)
        # Step to the next instant anything is due (never more than an hour, so the planner keeps up).
        with engine.connect() as conn:
            due = conn.execute(
                sa.text("SELECT min(next_attempt_at) FROM actions WHERE state = 'pending'")
            ).scalar()
        step = clock.now() + timedelta(hours=1)
        if due is not None:
            due_at = due if isinstance(due, datetime) else datetime.fromisoformat(due).replace(tzinfo=UTC)
            step = min(step, max(due_at, clock.now() + timedelta(seconds=1)))
        clock.set(step)
