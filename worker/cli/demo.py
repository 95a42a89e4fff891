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
from sqlalchemy import Engine

from worker.clock import SystemClock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.fastpix.client import FastPixClient
from worker.service import broadcasts, database, off_hours
from worker.service.ledger_view import ledger
from worker.service.streams_lookup import FoundStream
from worker.simulator.app import run_in_thread
from worker.simulator.control import SimulatorControl

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
    engine = database.make_engine(database_url)
    database.upgrade(engine)
    settings = OnairSettings(database_url=database_url, data_dir=str(data_dir.resolve()))

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
    show = BroadcastSpec(
        id=0,
        stream_id=sid,
        starts_at=start,
        ends_at=end,
        lead=LEAD,
        title="Demo show",
        metadata={"show": "demo"},
    )
    broadcasts.add_slot(settings, engine, show, FoundStream(sid, "onair demo", "disabled"), now=now)
    rule = off_hours.add_off_hours(
        settings,
        engine,
        stream=sid,
        cron=f"{off_start.minute} {off_start.hour} * * *",
        duration=timedelta(seconds=20),
        timezone="UTC",
        label="demo night",
        now=now,
    ).row
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


def _print_ledger(engine: Engine) -> None:
    typer.echo("\nThe ledger (tomorrow's off-hours window is already planned and pending):")
    for action in ledger(engine):
        typer.echo(
            f"  {action.due_at:%Y-%m-%d %H:%M:%S} UTC  {action.kind:<8} {action.state:<10} "
            f"{action.outcome or ''}  — {action.reason}"
        )


if __name__ == "__main__":
    typer.run(demo)
