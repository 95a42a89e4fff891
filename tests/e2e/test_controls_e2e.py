"""The operators' controls end to end, in one `onair run` (embedded SQLite and broker) against the
FastPix simulator over HTTP, each typed as a real `onair` command, plus a real `onair api` process:

* pause / resume: a broadcast due while its stream is paused gets no act (its enable ends
  `skipped: paused (note)`); `onair streams resume` brings the enable back, and it is sent;
* move and edit: a broadcast moved from an hour ahead to a few seconds ahead is enabled at its new
  start (never before), with the metadata the edit gave it;
* retry: an enable FastPix refused (a 400) is run again by `onair action retry`, as attempt 2;
* rotate: `onair organiser rotate` makes the old token fail at once and the new one work.
"""

from __future__ import annotations

import subprocess
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, select

from tests.harness import migrate, onair_bin, onair_run_proc, running, scheduler_env, wait_for, wait_ticking
from tests.integration.api_support import free_port, onair_api
from tests.integration.simulator_fixture import Simulator
from worker.fastpix.client import FastPixClient
from worker.store.db import make_engine, transaction
from worker.store.models import Action, ActionEvent, Broadcast

pytestmark = pytest.mark.processes

AHEAD = timedelta(seconds=15)  # how far ahead each broadcast starts: room for the commands after it
LENGTH = timedelta(seconds=60)


def at(delta: timedelta) -> str:
    return (datetime.now(UTC) + delta).isoformat(timespec="seconds")


def action(engine: Engine, stream: str, kind: str) -> Action | None:
    with transaction(engine, immediate=False) as session:
        return session.scalars(select(Action).where(Action.stream_id == stream, Action.kind == kind)).first()


def events(engine: Engine, action_id: int) -> list[str]:
    with transaction(engine, immediate=False) as session:
        return list(session.scalars(select(ActionEvent.event).where(ActionEvent.action_id == action_id)))


def test_pause_move_edit_retry_and_rotate_in_one_run(simulator: Simulator, tmp_path: Path) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as api:
        paused, moved, failing = (api.create_stream().stream_id for _ in range(3))
        for stream in (paused, moved, failing):
            api.disable_stream(stream)
    url = f"sqlite:///{tmp_path}/onair.db"
    migrate(url)
    env = scheduler_env(database_url=url, data_dir=tmp_path / "data", fastpix=simulator.env)
    engine = make_engine(url)

    def onair(*args: str) -> str:
        done = subprocess.run([onair_bin(), *args], env=env, capture_output=True, text=True, timeout=90)
        assert done.returncode == 0, f"onair {' '.join(args)}: {done.stdout}{done.stderr}"
        return done.stdout

    port = free_port()
    with running(onair_run_proc(env, tmp_path)) as procs, onair_api(url, port, **env):
        wait_ticking(engine, procs)

        # Rotate, against the API process, while the scheduler runs.
        old = onair("organiser", "add", "Jazz Club", "--quiet").strip()
        bookings = f"http://127.0.0.1:{port}/v1/bookings"
        assert httpx.get(bookings, headers={"Authorization": f"Bearer {old}"}).status_code == 200
        new = onair("organiser", "rotate", "Jazz Club").splitlines()[-1].strip()
        assert httpx.get(bookings, headers={"Authorization": f"Bearer {old}"}).status_code == 401
        assert httpx.get(bookings, headers={"Authorization": f"Bearer {new}"}).status_code == 200

        # Each broadcast is added an hour ahead and then moved to start soon, so only the move command
        # itself eats into the AHEAD margin, however loaded the machine. The paused stream's is paused
        # before it moves; the other's is given metadata before it moves.
        later = (at(timedelta(hours=1)), at(timedelta(hours=2)))
        onair("broadcast", "add", "--stream", paused, "--start", later[0], "--end", later[1], "--lead", "0s")
        onair("streams", "pause", paused, "--note", "encoder swap")
        onair("broadcast", "add", "--stream", moved, "--start", later[0], "--end", later[1], "--lead", "0s")
        moved_id = _broadcast_on(engine, moved)
        onair("broadcast", "edit", str(moved_id), "--title", "Moved show", "--metadata", "show=edited")
        onair(
            "broadcast",
            "move",
            str(_broadcast_on(engine, paused)),
            "--start",
            at(AHEAD),
            "--end",
            at(AHEAD + LENGTH),
        )
        new_start = datetime.now(UTC).replace(microsecond=0) + AHEAD
        onair(
            "broadcast",
            "move",
            str(moved_id),
            "--start",
            new_start.isoformat(),
            "--end",
            (new_start + LENGTH).isoformat(),
        )
        # Its enable is refused once by FastPix (a permanent 400).
        simulator.inject_fault("enable", "400", count=1, stream_id=failing)
        onair(
            "broadcast",
            "add",
            "--stream",
            failing,
            "--start",
            at(AHEAD),
            "--end",
            at(AHEAD + LENGTH),
            "--lead",
            "0s",
        )

        skipped = wait_for(
            "the paused stream's enable to be skipped",
            lambda: (a := action(engine, paused, "enable")) is not None and a.state == "skipped" and a,
            timeout=AHEAD.total_seconds() + 30,
            procs=procs,
        )
        assert skipped.outcome == "paused (encoder swap)"
        assert simulator.calls(stream_id=paused, endpoint="enable") == []
        assert "encoder swap" in onair("plan", "--stream", paused)

        resumed_at = datetime.now(UTC)
        assert f"runs after all: action #{skipped.id}" in onair("streams", "resume", paused)
        [enable] = wait_for(
            "the resumed stream's enable",
            lambda: simulator.calls(stream_id=paused, endpoint="enable"),
            timeout=30,
            procs=procs,
        )
        assert datetime.fromisoformat(enable.time) >= resumed_at
        history = onair("history", "--stream", paused)
        assert "encoder swap" in history

        [moved_enable] = wait_for(
            "the moved broadcast's enable",
            lambda: simulator.calls(stream_id=moved, endpoint="enable"),
            timeout=30,
            procs=procs,
        )
        assert datetime.fromisoformat(moved_enable.time) >= new_start, "never before the new start"
        wait_for(
            "the edited metadata on the stream",
            lambda: simulator.stream(moved).get("metadata", {}).get("show") == "edited",
            timeout=30,
            procs=procs,
        )

        failed = wait_for(
            "the refused enable to fail",
            lambda: (a := action(engine, failing, "enable")) is not None and a.state == "failed" and a,
            timeout=30,
            procs=procs,
        )
        assert "attempt 2" in onair("action", "retry", str(failed.id), "--note", "FastPix fixed it")
        retried = wait_for(
            "the retried enable to succeed",
            lambda: (a := action(engine, failing, "enable")) is not None and a.state == "succeeded" and a,
            timeout=30,
            procs=procs,
        )
        assert retried.attempts == 2
        assert len(simulator.calls(stream_id=failing, endpoint="enable")) == 2
        assert "retry_requested" in events(engine, failed.id)
    engine.dispose()


def _broadcast_on(engine: Engine, stream: str) -> int:
    with transaction(engine, immediate=False) as session:
        return int(session.scalars(select(Broadcast.id).where(Broadcast.stream_id == stream)).one())
