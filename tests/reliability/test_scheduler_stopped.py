"""Check 5: the scheduler (worker and beat) is stopped across a window of due actions.

On restart there is no catch-up knob: each action carries its own deadline. Those still before their
deadline run once, late; those past it are marked `missed` with the reason, and alerted (posted to
ONAIR_ALERT_WEBHOOK_URL, here a local receiver).
"""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.harness import celery_proc, running, wait_for, wait_ticking
from tests.integration.simulator_fixture import Simulator
from tests.reliability.conftest import AlertReceiver, Engines, RedisServer
from tests.reliability.fleet import (
    Tally,
    arrival,
    disabled_streams,
    enable_rows,
    migrated_scheduler,
    schedule_enables,
    wait_settled,
)

pytestmark = pytest.mark.processes

SPREAD = timedelta(seconds=4)
SHORT_SLOT = timedelta(seconds=8)


def test_stopped_scheduler_runs_what_is_still_useful_once_and_marks_the_rest_missed(
    simulator: Simulator,
    redis_server: RedisServer,
    postgres_url: str,
    tmp_path: Path,
    engines: Engines,
    alert_receiver: AlertReceiver,
) -> None:
    streams = disabled_streams(simulator, 20)
    useful, too_late = streams[:10], streams[10:]
    engine, env = migrated_scheduler(
        engines,
        simulator,
        tmp_path,
        postgres_url,
        redis_server.url,
        ONAIR_ALERT_WEBHOOK_URL=alert_receiver.url,
    )
    worker, beat = celery_proc("worker", env, tmp_path), celery_proc("beat", env, tmp_path)
    since = simulator.last_seq()
    with running(worker, beat) as procs:
        wait_ticking(engine, procs)
        first_due = datetime.now(UTC) + timedelta(seconds=8)
        schedule_enables(engine, useful, first_due, SPREAD)
        schedule_enables(engine, too_late, first_due, SPREAD, slot=SHORT_SLOT)
        wait_for("the plan", lambda: len(enable_rows(engine, streams)) == len(streams), 6, procs)
        beat.stop()
        worker.stop()
        stopped = datetime.now(UTC)
        assert stopped < first_due, "the scheduler must stop before the window"
        restart_at = first_due + SPREAD + SHORT_SLOT + timedelta(seconds=1)
        time.sleep((restart_at - datetime.now(UTC)).total_seconds())
        restarted = datetime.now(UTC)
        worker.start()
        beat.start()
        wait_settled(engine, streams, procs, "the restart", 60)
        # Counted by what they say: the planner's schedule-validity alerts arrive in the same window.
        wait_for(
            "the missed alerts",
            lambda: sum("missed" in text for text in alert_receiver.texts()) >= len(too_late),
            10,
            procs,
        )

    tally = Tally.take("scheduler stopped across the window", simulator, engine, streams, since)
    late = [
        arrival(c) - tally.rows[s].due_at for s in useful for c in tally.calls[s] if c.endpoint == "enable"
    ]
    tally.assert_no_loss_no_double(
        stopped_for=f"{(restarted - stopped).total_seconds():.0f}s",
        ran_late=len(late),
        min_lateness=f"{min(late).total_seconds():.1f}s",
        missed=sum(1 for s in too_late if tally.rows[s].state == "missed"),
        alerts=len(alert_receiver.bodies),
    )
    assert set(tally.exactly_once()) == set(useful), "every action still before its deadline runs once"
    assert all(arrival(c) >= restarted for s in useful for c in tally.calls[s]), "nothing ran while stopped"
    for stream in too_late:
        row = tally.rows[stream]
        # The broadcast's finish (due at its end, deadline an hour later) may read the stream, late.
        enables = [c for c in tally.calls[stream] if c.endpoint == "enable"]
        assert row.state == "missed" and enables == [] and tally.effects[stream] == 0, row
        assert row.outcome and "deadline" in row.outcome, row
    alerted = alert_receiver.texts()
    for stream in too_late:
        assert any(stream in text and "missed" in text for text in alerted), (
            f"no alert for {stream}: {alerted}"
        )
