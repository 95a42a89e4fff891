"""`onair run` and the worker as an operator meets them: refusing an outdated schema, ticking, and
stopping cleanly on SIGTERM with no process left behind."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from pathlib import Path

import pytest

from tests.harness import BIN, migrate, onair_bin, scheduler_env, wait_for
from tests.integration.simulator_fixture import Simulator
from worker.store import schedules
from worker.store.db import make_engine, transaction

pytestmark = pytest.mark.processes


def children_of(pid: int) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
            except OSError:
                continue
            if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
                found.append(int(entry.name))
    return found


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat").read_text()
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize(
    "argv",
    [
        [onair_bin(), "run"],
        [str(BIN / "celery"), "-A", "worker.celery_app", "worker", "--pool", "threads"],
    ],
    ids=["onair-run", "celery-worker"],
)
def test_a_schema_that_is_not_migrated_is_refused_with_a_one_line_hint(
    argv: list[str], tmp_path: Path, simulator: Simulator
) -> None:
    env = scheduler_env(
        database_url=f"sqlite:///{tmp_path}/onair.db", data_dir=tmp_path, fastpix=simulator.env
    )
    done = subprocess.run(argv, env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert "has no onair schema: run `onair db upgrade`" in done.stderr
    assert "Traceback" not in done.stderr


@pytest.mark.parametrize("stop", [signal.SIGTERM, signal.SIGKILL], ids=["sigterm", "sigkill"])
def test_onair_run_ticks_and_leaves_no_process_behind(
    tmp_path: Path, simulator: Simulator, stop: signal.Signals
) -> None:
    """SIGTERM: it stops its children and exits 0 within 30 s. SIGKILL (it cannot clean up): its
    children are told by the kernel that it died, and stop too."""
    database_url = f"sqlite:///{tmp_path}/onair.db"
    migrate(database_url)
    env = scheduler_env(database_url=database_url, data_dir=tmp_path / "data", fastpix=simulator.env)
    with (tmp_path / "run.log").open("wb") as log:
        run = subprocess.Popen(
            [onair_bin(), "run", "--workers", "2"], env=env, stdout=log, stderr=subprocess.STDOUT
        )
    engine = make_engine(database_url)

    def state(key: str) -> str | None:
        with transaction(engine, immediate=False) as session:
            return schedules.get_state(session, key)

    children: list[int] = []
    try:
        wait_for("the first dispatcher tick", lambda: state("last_tick_at"), timeout=60)
        wait_for("the planner's first tick", lambda: state("last_plan_at"), timeout=30)
        children = children_of(run.pid)
        assert len(children) == 4, "onair run supervises the two workers asked for, the planner and beat"
        started = time.monotonic()
        run.send_signal(stop)
        code = run.wait(timeout=30)
        assert time.monotonic() - started < 30
        assert code == (0 if stop == signal.SIGTERM else -signal.SIGKILL)
        wait_for("the workers and beat to exit", lambda: not any(alive(pid) for pid in children), timeout=30)
    finally:
        if run.poll() is None:
            run.kill()
        for pid in children:
            if alive(pid):
                os.kill(pid, signal.SIGKILL)
        engine.dispose()
