"""`onair demo`: the whole lifecycle in about three minutes, on the embedded default.

It starts the bundled FastPix simulator, creates a stream, schedules a broadcast a minute ahead and an
off-hours window after it, runs the real scheduler (`onair run`: Celery workers, planner and beat) and
the real webhook receiver (`onair api`, which the simulator's signed webhooks reach), and prints the
timeline as it happens. The simulated encoder is late: it connects only once the no-signal alert is
out (ONAIR_NO_SIGNAL_GRACE is 5 s here), so the demo shows that alert and then the recovery.
The same `onair api` serves the pages: the demo adds an ops account and prints the board's address
and its sign-in token first, so a person can watch the night on the board while the demo runs.
"""

from __future__ import annotations

import base64
import os
import secrets
import shutil
import socket
import subprocess
import sys
import time
from contextlib import ExitStack
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import IO

import httpx
import typer
from sqlalchemy import Engine

from worker.clock import SystemClock
from worker.config import OnairSettings
from worker.domain.specs import BroadcastSpec
from worker.fastpix.client import FastPixClient
from worker.service import accounts, broadcasts, database, ledger_view, off_hours
from worker.service.streams_lookup import FoundStream
from worker.simulator.app import run_in_thread
from worker.simulator.control import SimulatorControl

LEAD = timedelta(seconds=20)
LENGTH = timedelta(seconds=40)
NO_SIGNAL_GRACE = 5
# The encoder connects once the no-signal alert is out, or this long after the start at the latest.
LATE_AT_MOST = timedelta(seconds=20)
DEMO_OPS = "demo"  # the ops account whose token the demo prints, for its board


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

    secret = base64.b64encode(secrets.token_bytes(32)).decode()
    port = _free_port()
    # Whatever has started is stopped on the way out, however the demo ends (Ctrl-C at any moment: the
    # simulator's thread would otherwise keep the process alive).
    with ExitStack() as started:
        _run(started, data_dir, database_url, engine, settings, clock, secret, port)
    _print_ledger(engine)
    _print_outcome(engine)
    engine.dispose()


def _run(
    started: ExitStack,
    data_dir: Path,
    database_url: str,
    engine: Engine,
    settings: OnairSettings,
    clock: SystemClock,
    secret: str,
    port: int,
) -> None:
    receiver = _start_receiver(data_dir, database_url, port, secret)
    started.callback(_stop, receiver)
    receiver_url = f"http://127.0.0.1:{port}/webhooks/fastpix"
    say(f"started the webhook receiver (`onair api`) at {receiver_url}; log in {data_dir / 'api.log'}")
    _print_board(engine, f"http://127.0.0.1:{port}", clock.now())
    sim = run_in_thread(
        data_dir / "simulator.json", connect_delay=2.0, webhook_url=receiver_url, webhook_secret=secret
    )
    started.callback(sim.stop)
    control = SimulatorControl(sim.control_url)
    api = FastPixClient(sim.base_url, sim.access_token_id, sim.secret_key)
    say(f"FastPix simulator listening at {sim.base_url}, sending its signed webhooks to the receiver")

    stream = api.create_stream(metadata={"livestream_name": "onair demo"})
    api.disable_stream(stream.stream_id)
    sid = stream.stream_id
    say(f"created stream {sid} and disabled it, as it would sit outside its slot")

    now = clock.now()
    start = now + timedelta(seconds=60)
    end = start + LENGTH
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
        ONAIR_NO_SIGNAL_GRACE=str(NO_SIGNAL_GRACE),
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
    started.callback(_stop, scheduler)
    log_file = data_dir / "scheduler.log"
    say(f"started the scheduler (Celery workers, planner and beat, embedded broker); log in {log_file}")
    _watch(engine, control, sid, start, off_start + timedelta(seconds=20))


def _stop(proc: subprocess.Popen[bytes]) -> None:
    """Stop a process the demo started: politely, then for good."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _print_board(engine: Engine, base_url: str, now: datetime) -> None:
    """An ops account for the demo, and where to watch with it: the board is up until the demo ends."""
    _, token = accounts.add_ops(engine, DEMO_OPS, now=now)
    say(f"the ops board, while the demo runs: {base_url}/ops")
    say(f"sign in at {base_url}/login with the demo's ops token {token}")


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _start_receiver(data_dir: Path, database_url: str, port: int, secret: str) -> subprocess.Popen[bytes]:
    """`onair api` on the demo's database with the webhook signing secret, once /health answers."""
    env = {**os.environ, "ONAIR_DATABASE_URL": database_url, "FASTPIX_WEBHOOK_SECRET": secret}
    log: IO[bytes] = (data_dir / "api.log").open("wb")
    proc = subprocess.Popen(
        [sys.executable, "-m", "worker.cli.main", "api", "--port", str(port)],
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    give_up = time.monotonic() + 30
    while time.monotonic() < give_up and proc.poll() is None:
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                return proc
        except httpx.TransportError:
            time.sleep(0.1)
    proc.terminate()
    typer.echo(f"error: the webhook receiver did not start; see {data_dir / 'api.log'}", err=True)
    raise typer.Exit(1)


def _watch(engine: Engine, control: SimulatorControl, sid: str, start: datetime, last: datetime) -> None:
    seen = 0
    heard: set[int] = set()
    alerted: set[str] = set()
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
                say("the encoder is late (simulated): nothing connects when the slot opens")
        events = ledger_view.stream_events(engine, sid, 100)
        for event in sorted((e for e in events if e.id not in heard), key=lambda e: e.id):
            heard.add(event.id)
            status = f" (stream {event.status})" if event.status else ""
            say(f"onair api received FastPix webhook {event.type}{status}")
        for record in ledger_view.alerts_recorded(engine):
            if record.key not in alerted and record.body.get("stream_id") == sid:
                alerted.add(record.key)
                say(f"ALERT {record.body.get('event')}: {record.body.get('text')}")
        now = datetime.now(UTC)
        no_signal = any(key.startswith("no_signal:") for key in alerted)
        if not connected and now >= start and (no_signal or now >= start + LATE_AT_MOST):
            control.connect(sid)
            connected = True
            say("encoder connected at last (simulated): the stream goes preparing, then active")
        if now > last + timedelta(seconds=4):
            return
        time.sleep(0.2)


def _print_outcome(engine: Engine) -> None:
    listed = broadcasts.list_slots(engine, now=SystemClock().now(), include_all=True)
    rows, happened = listed.rows, listed.verdicts
    for row in rows:
        verdict = happened[row.id]
        live = f", live {verdict.live_minutes * 60:.0f} s" if verdict.live_minutes is not None else ""
        typer.echo(f"\nThe broadcast {row.title!r}: {verdict.outcome.value}{live} (its encoder came late)")


def _print_ledger(engine: Engine) -> None:
    typer.echo("\nThe ledger (tomorrow's off-hours window is already planned and pending):")
    for action in ledger_view.ledger(engine):
        typer.echo(
            f"  {action.due_at:%Y-%m-%d %H:%M:%S} UTC  {action.kind:<8} {action.state:<10} "
            f"{action.outcome or ''}  — {action.reason}"
        )


if __name__ == "__main__":
    typer.run(demo)
