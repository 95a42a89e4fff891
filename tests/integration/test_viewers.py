"""Viewer counts against the simulator over real HTTP, on SQLite and PostgreSQL: a live broadcast's
stream is sampled once per ONAIR_VIEWERS_EVERY and its peak and average show in `onair broadcast
show`, the report, the booking API and the metrics; nothing is sampled while the stream is not active,
before the start or from the end on; a failing viewer-count call is recorded with its cause and leaves
the broadcast's actions and their history as they were; and a setting under 10 s stops `onair run`
and the Celery processes before they start."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, text

from tests.integration.api_support import ONAIR, serve
from tests.integration.cli_support import Onair
from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS, backend_url, migrated, simulator_runtime
from worker.clock import FixedClock
from worker.domain.viewers import ViewerFigures
from worker.fastpix.client import FastPixClient
from worker.service import metrics, report_text, sync
from worker.service.report import build_report
from worker.service.runtime import Runtime
from worker.service.viewers import sample_round
from worker.store import viewers, webhooks
from worker.store.db import transaction
from worker.store.models import Action, Broadcast, Stream
from worker.store.organisers import create_organiser
from worker.store.schedules import upsert_stream
from worker.store.slots import insert_slot

START = datetime(2026, 11, 30, 19, 0, tzinfo=UTC)
END = START + timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    return backend_url(request, tmp_path)


@pytest.fixture
def engine(url: str) -> Iterator[Engine]:
    yield from migrated(url)


@pytest.fixture
def rt(engine: Engine, simulator: Simulator) -> Iterator[Runtime]:
    yield from simulator_runtime(engine, simulator)


def new_stream(simulator: Simulator) -> str:
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        return api.create_stream().stream_id


def live_slot(engine: Engine, stream: str, *, status: str = "active", organiser_id: int | None = None) -> int:
    """A broadcast [START, END) on the stream, its enable done; the stream's known status `status`."""
    with transaction(engine) as session:
        upsert_stream(session, stream, name="Studio B", status=status, seen_at=START - timedelta(hours=1))
        row = insert_slot(
            session,
            Broadcast(
                stream_id=stream,
                starts_at=START,
                ends_at=END,
                lead_seconds=0,
                title="Evening show",
                organiser_id=organiser_id,
            ),
        )
        session.add(
            Action(
                idempotency_key=f"test:enable:{row.id}",
                stream_id=stream,
                kind="enable",
                source="broadcast",
                source_id=row.id,
                due_at=START,
                deadline_at=END,
                state="succeeded",
                attempts=1,
                next_attempt_at=START,
                reason="test",
            )
        )
        return row.id


def status_is(engine: Engine, stream: str, status: str, at: datetime) -> None:
    """FastPix's webhook: the stream's known status becomes `status` at `at`."""
    with transaction(engine) as session:
        event = webhooks.Received(f"evt-{stream}-{at.isoformat()}", f"x.{status}", stream, status, at)
        webhooks.record(session, event, at)


def round_at(rt: Runtime, at: datetime) -> tuple[dict[int, int], dict[int, str]]:
    rt.clock = FixedClock(at)
    done = sample_round(rt)
    return done.sampled, done.failed


def viewer_calls(simulator: Simulator, stream: str) -> int:
    return len(simulator.calls(stream_id=stream, endpoint="viewers"))


def figures(engine: Engine, broadcast_id: int) -> ViewerFigures:
    with transaction(engine, immediate=False) as session:
        return viewers.figures(session, [broadcast_id])[broadcast_id]


def ledger(engine: Engine) -> dict[str, list[tuple[Any, ...]]]:
    with engine.connect() as conn:
        return {
            t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY id"))]
            for t in ("actions", "action_events")
        }


def test_one_sample_per_period_gives_the_peak_and_average_shown_in_the_report_and_the_cli(
    rt: Runtime, engine: Engine, url: str, simulator: Simulator
) -> None:
    stream = new_stream(simulator)
    show = live_slot(engine, stream)
    with transaction(engine) as session:  # the stream's other broadcasts: yesterday's, and tomorrow's
        for day in (-1, 1):
            at = START + timedelta(days=day)
            insert_slot(session, Broadcast(stream_id=stream, starts_at=at, ends_at=at + timedelta(hours=1)))
    simulator.set_viewers(stream, 10)

    assert round_at(rt, START + timedelta(seconds=5)) == ({show: 10}, {})
    assert round_at(rt, START + timedelta(seconds=35)) == ({}, {})  # same minute: no second call
    assert viewer_calls(simulator, stream) == 1
    simulator.set_viewers(stream, 30)
    assert round_at(rt, START + timedelta(seconds=61)) == ({show: 30}, {})
    simulator.set_viewers(stream, 20)
    assert round_at(rt, START + timedelta(seconds=125)) == ({show: 20}, {})
    assert viewer_calls(simulator, stream) == 3

    got = figures(engine, show)
    assert (got.samples, got.peak, got.average, got.last) == (3, 30, 20.0, 20)
    assert got.peak_at == START + timedelta(seconds=61)

    report = build_report(engine, rt.settings, START - timedelta(hours=1), END + timedelta(hours=1))
    [line] = [b for b in report.to_json()["broadcasts"] if b["id"] == show]
    assert line["viewers"]["peak"] == 30 and line["viewers"]["average"] == 20.0
    assert line["viewers"]["samples"] == 3 and line["viewers"]["failures"] == 0
    assert "viewers peak 30 at 19:01:01, average 20 (3 samples)" in report_text.render(report, UTC)

    onair = Onair(url, engine)
    shown = onair.ok("broadcast", "show", str(show)).stdout
    assert "peak 30 at 2026-11-30 19:01:01" in shown and "average 20 (3 samples)" in shown
    listed = onair.json("broadcast", "list", "--all")
    assert [b["viewers"] and b["viewers"]["peak"] for b in listed] == [None, 30, None]
    assert "30 / 20" in onair.ok("broadcast", "list", "--all").stdout


def test_nothing_is_sampled_while_the_stream_is_not_active_nor_outside_the_slot(
    rt: Runtime, engine: Engine, simulator: Simulator
) -> None:
    stream = new_stream(simulator)
    show = live_slot(engine, stream, status="idle")
    simulator.set_viewers(stream, 7)

    assert round_at(rt, START + timedelta(seconds=5)) == ({}, {})  # enabled, encoder not there yet
    status_is(engine, stream, "active", START + timedelta(seconds=20))
    assert round_at(rt, START - timedelta(seconds=10)) == ({}, {})  # the lead: not the show yet
    assert round_at(rt, START + timedelta(seconds=21)) == ({show: 7}, {})  # live mid-period: at once
    status_is(engine, stream, "idle", START + timedelta(seconds=40))
    assert round_at(rt, START + timedelta(seconds=61)) == ({}, {})  # the encoder dropped
    status_is(engine, stream, "active", START + timedelta(seconds=70))
    assert round_at(rt, END) == ({}, {})  # the slot is over
    assert round_at(rt, END + timedelta(minutes=3)) == ({}, {})
    with transaction(engine) as session:  # cancelled: not sampled even in its slot
        session.get_one(Broadcast, show).cancelled_at = START
    assert round_at(rt, START + timedelta(seconds=130)) == ({}, {})

    assert viewer_calls(simulator, stream) == 1
    assert figures(engine, show).samples == 1


def test_a_failing_viewer_count_is_recorded_and_leaves_the_acts_alone(
    rt: Runtime, engine: Engine, url: str, simulator: Simulator
) -> None:
    stream = new_stream(simulator)
    show = live_slot(engine, stream)
    simulator.set_viewers(stream, 12)
    before = ledger(engine)
    simulator.inject_fault("viewers", "500", count=1, stream_id=stream)

    sampled, failed = round_at(rt, START + timedelta(seconds=5))
    assert sampled == {} and "500" in failed[show]
    got = figures(engine, show)
    assert (got.samples, got.failures) == (0, 1) and got.last_error is not None and "500" in got.last_error
    assert ledger(engine) == before  # the enable, its state and its history: untouched

    # A failed sample is that period's: the next one samples again.
    assert round_at(rt, START + timedelta(seconds=30)) == ({}, {})
    assert round_at(rt, START + timedelta(seconds=60)) == ({show: 12}, {})
    got = figures(engine, show)
    assert (got.samples, got.peak, got.failures) == (1, 12, 1)
    assert ledger(engine) == before
    shown = Onair(url, engine).ok("broadcast", "show", str(show)).stdout
    assert "1 failed, last: " in shown and "500" in shown


def test_each_period_is_claimed_by_exactly_one_of_many_samplers(engine: Engine, simulator: Simulator) -> None:
    stream = new_stream(simulator)
    show = live_slot(engine, stream)
    period = START + timedelta(minutes=3)

    def claim(_: int) -> bool:
        with transaction(engine) as session:
            return viewers.claim(session, show, stream, period, period + timedelta(seconds=1))

    with ThreadPoolExecutor(8) as pool:
        won = list(pool.map(claim, range(16)))
    assert won.count(True) == 1
    with transaction(engine) as session:
        assert not viewers.claim(session, show, stream, period, period + timedelta(seconds=30))
        assert viewers.claim(
            session, show, stream, period + timedelta(minutes=1), period + timedelta(minutes=1)
        )


def test_the_gauge_shows_each_live_streams_last_sample(
    rt: Runtime, engine: Engine, simulator: Simulator
) -> None:
    stream = new_stream(simulator)
    live_slot(engine, stream)
    simulator.set_viewers(stream, 42)
    round_at(rt, START + timedelta(seconds=5))

    def gauge(at: datetime) -> dict[tuple[str, str], float]:
        [family] = [
            m
            for m in metrics.LedgerCollector(engine, FixedClock(at)).collect()
            if m.name == "onair_stream_viewers"
        ]
        return {(s.labels["stream"], s.labels["name"]): s.value for s in family.samples}

    assert gauge(START + timedelta(seconds=10)) == {(stream, "Studio B"): 42}
    status_is(engine, stream, "idle", START + timedelta(seconds=20))
    assert gauge(START + timedelta(seconds=30)) == {(stream, "Studio B"): 0}
    assert gauge(END) == {}


def test_an_organiser_sees_the_viewers_of_their_own_booking(
    rt: Runtime, engine: Engine, simulator: Simulator
) -> None:
    stream = new_stream(simulator)
    with transaction(engine) as session:
        organiser, token = create_organiser(session, "Jazz Club", now=START - timedelta(days=1))
        organiser_id = organiser.id
    booking = live_slot(engine, stream, organiser_id=organiser_id)
    simulator.set_viewers(stream, 5)
    round_at(rt, START + timedelta(seconds=5))
    simulator.set_viewers(stream, 9)
    round_at(rt, START + timedelta(seconds=65))

    server = serve(engine, str(engine.url.render_as_string(hide_password=False)))
    api = next(server)
    try:
        with api.client() as client:
            client.headers["Authorization"] = f"Bearer {token}"
            one = client.get(f"/v1/bookings/{booking}")
            every = client.get("/v1/bookings", params={"all": "true"})
    finally:
        next(server, None)
    assert one.status_code == 200, one.text
    assert one.json()["viewers"] == {
        "peak": 9,
        "peak_at": "2026-11-30T19:01:05Z",
        "average": 7.0,
        "samples": 2,
        "failures": 0,
    }
    assert [b["viewers"]["peak"] for b in every.json()["bookings"]] == [9]


@pytest.mark.parametrize(
    "argv",
    [
        [ONAIR, "run"],
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "worker", "--pool", "threads"],
        [sys.executable, "-m", "celery", "-A", "worker.celery_app", "beat"],
    ],
    ids=["onair run", "celery worker", "celery beat"],
)
def test_sampling_more_often_than_every_ten_seconds_is_refused_at_startup(
    argv: list[str], tmp_path: Path
) -> None:
    env = {
        **os.environ,
        "ONAIR_DATABASE_URL": f"sqlite:///{tmp_path}/onair.db",
        "ONAIR_DATA_DIR": str(tmp_path / "data"),
        "ONAIR_VIEWERS_EVERY": "5",
    }
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=120, cwd=tmp_path)
    assert done.returncode == 1, done.stdout + done.stderr
    [line] = [line for line in done.stderr.splitlines() if "ONAIR_VIEWERS_EVERY" in line]
    assert line.startswith("error: bad setting: ONAIR_VIEWERS_EVERY")
    assert "must be at least 10 seconds (got 5)" in line
    assert "Traceback" not in done.stderr


def test_a_webhook_dated_while_the_stream_sync_reads_is_newer_than_the_sync(
    rt: Runtime, engine: Engine, simulator: Simulator
) -> None:
    # Otherwise a stream that went live during a (slow) sync stays `idle` until the next one: no samples.
    stream = new_stream(simulator)  # idle at FastPix when the sync reads it
    with transaction(engine) as session:
        upsert_stream(session, stream, name="Studio B", status="idle", seen_at=START - timedelta(hours=1))
    clock = FixedClock(START)
    rt.clock = clock
    listing = rt.client.iter_streams

    def slow_listing(*args: Any, **kwargs: Any) -> Any:
        found = list(listing(*args, **kwargs))
        clock.advance(1)
        status_is(engine, stream, "active", clock.now())  # the encoder connects while pages are read
        clock.advance(1)
        return iter(found)

    rt.client.iter_streams = slow_listing  # type: ignore[method-assign]
    sync.sync_streams(rt)
    with transaction(engine, immediate=False) as session:
        assert session.get_one(Stream, stream).status == "active"
