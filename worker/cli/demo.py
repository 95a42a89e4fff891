"""`onair demo`: the whole lifecycle in under three minutes, on the embedded default.

It starts the bundled FastPix simulator, creates a stream, schedules a broadcast a minute ahead and an
off-hours window after it, runs the real scheduler (`onair run`: Celery workers, planner and beat), connects a
simulated encoder when the slot opens, and prints the timeline as it happens.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from worker.clock import SystemClock
from worker.fastpix.client import FastPixClient
from worker.simulator.app import run_in_thread
from worker.simulator.control import SimulatorControl
from worker.store import migrate, schedules
from worker.store.db import make_engine, transaction
from worker.store.models import Broadcast, OffHours

LEAD = timedelta(seconds=20)


def say(message: str) -> None:
    stamp = datetime.now(UTC).astimezone().strftime("%H:%M:%S")
    typer.echo(f"[{stamp}] {message}")


def demo(
    data_dir: Path = typer.Option(Path(".onair/demo"), help="Where the demo keeps its database and state."),
) -> None:
    """Run the full lifecycle against the bundled FastPix simulator and print what happened."""
    clock = SystemClock()
    shutil.rmtree(data_dir, ignore_errors=True)
    data_dir.mkdir(parents=True)
    database_url = f"sqlite:///{data_dir.resolve()}/onair.db"
    engine = make_engine(database_url)
    migrate.upgrade(engine)

    sim = run_in_thread(data_dir / "simulator.json", connect_delay=2.0)
    control = SimulatorControl(sim.control_url)
    api = FastPixClient(sim.base_url, sim.access_token_id, sim.secret_key)
    say(f"FastPix simulator listening at {sim.base_url}")

    stream = api.create_stream(metadata={"livestream_name": "onair demo"})
    api.disable_stream(stream.stream_id)
    sid = stream.stream_id
    say(f"created stream {sid} and disabled it, as it would sit outside its slot")

    now = clock.now()
    start, end = now + timedelta(seconds=60), now + timedelta(seconds=90)
    off_start = (end + timedelta(seconds=65)).replace(second=0, microsecond=0)
    with transaction(engine) as session:
        schedules.upsert_stream(session, sid, name="onair demo", status="disabled", seen_at=now)
        broadcast = Broadcast(
            stream_id=sid,
            starts_at=start,
            ends_at=end,
            lead_seconds=int(LEAD.total_seconds()),
            title="Demo show",
            metadata_json='{"show": "demo"}',
        )
        rule = OffHours(
            stream_id=sid,
            cron=f"{off_start.minute} {off_start.hour} * * *",
            duration_seconds=20,
            timezone="UTC",
            label="demo night",
        )
        session.add_all([broadcast, rule])
    say(f"scheduled broadcast 'Demo show' {start:%H:%M:%S}-{end:%H:%M:%S} UTC with a {LEAD.seconds} s lead")
    say(f"scheduled off-hours window {off_start:%H:%M:%S} UTC for 20 s (cron '{rule.cron}' UTC)")

    env = dict(os.environ)
    env.update(
        ONAIR_DATABASE_URL=database_url,
        ONAIR_BROKER_URL="",
        ONAIR_DATA_DIR=str(data_dir.resolve()),
        ONAIR_PLAN_SECONDS="1",
        FASTPIX_API_URL=sim.base_url,
        FASTPIX_ACCESS_TOKEN_ID=sim.access_token_id,
        FASTPIX_SECRET_KEY=sim.secret_key,
    )
    log = (data_dir / "scheduler.log").open("wb")
    scheduler = subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "run", "--log-level", "warning"],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    log_file = data_dir / "scheduler.log"
    say(f"started the scheduler (Celery workers, planner and beat, embedded broker); log in {log_file}")
    try:
        _watch(control, sid, start - LEAD, off_start + timedelta(seconds=20))
    finally:
        scheduler.terminate()
        scheduler.wait(timeout=30)
        sim.stop()
    _print_ledger(engine)
    engine.dispose()


def _watch(control: SimulatorControl, sid: str, slot_opens: datetime, last: datetime) -> None:
    seen = 0
    connected = False
    while True:
        for call in control.calls(since=seen, stream_id=sid):
            seen = call.seq
            if call.method != "GET":
                say(
                    f"FastPix got {call.method} {call.path.split('/')[-1]} -> {call.http_status}: "
                    f"stream {call.status_before} -> {call.status_after}"
                )
            if call.endpoint == "enable" and not connected:
                control.connect(sid)
                connected = True
                say("encoder connected (simulated): the stream goes preparing, then active")
        now = datetime.now(UTC)
        if now > last + timedelta(seconds=4):
            return
        time.sleep(0.2)


def _print_ledger(engine: object) -> None:
    from sqlalchemy import select

    from worker.store.models import Action

    typer.echo("\nThe ledger (tomorrow's off-hours window is already planned and pending):")
    with transaction(engine) as session:  # type: ignore[arg-type]
        for action in session.scalars(select(Action).order_by(Action.due_at, Action.sequence)):
            typer.echo(
                f"  {action.due_at:%Y-%m-%d %H:%M:%S} UTC  {action.kind:<8} {action.state:<10} "
                f"{action.outcome or ''}  — {action.reason}"
            )


if __name__ == "__main__":
    typer.run(demo)
