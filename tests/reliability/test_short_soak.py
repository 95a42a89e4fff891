"""The soak benchmark's night, short: a dozen streams with 1-minute slots every 2 minutes, off-hours
windows and encoders, from an empty database, for about two minutes, with the scheduler as shipped
(`onair run`; the Procfile's processes on PostgreSQL + Redis). No act is missed, the ledger agrees with
what FastPix received, no log says `database is locked`, and `onair doctor` never fails.

It runs `python -m benchmarks.soak` as a user would and reads the JSON lines it writes. Speed is the
benchmark's business: this asserts outcomes, not lateness.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.reliability.conftest import RedisServer

ROOT = Path(__file__).resolve().parents[2]
SHORT_NIGHT = [
    "--minutes", "1.75",
    "--streams", "10",
    "--periods", "2",
    "--slot-seconds", "60",
    "--offhours-streams", "3",
    "--offhours-period", "2",
    "--offhours-seconds", "40",
    "--stagger",
    "--first-after", "30",
    "--settle", "10",
    "--sample-seconds", "5",
]  # fmt: skip


def soak_figures(results: Path) -> dict[str, dict[str, object]]:
    [path] = results.glob("soak-*.jsonl")
    figures = {}
    for line in path.read_text().splitlines():
        row = json.loads(line)
        figures[row.pop("benchmark").split()[-1]] = row
    return figures


@pytest.mark.parametrize("backend", ["embedded", "postgres"])
def test_short_soak(backend: str, tmp_path: Path, postgres_admin_url: str, redis_server: RedisServer) -> None:
    env = {
        **os.environ,
        "BENCH_POSTGRES_URL": postgres_admin_url,
        "BENCH_REDIS_URL": redis_server.url,
        "TMPDIR": str(tmp_path),
    }
    results = tmp_path / "results"
    argv = [sys.executable, "-m", "benchmarks.soak", backend, *SHORT_NIGHT, "--results-dir", str(results)]
    done = subprocess.run(argv, cwd=ROOT, env=env, capture_output=True, text=True, timeout=420, check=False)
    output = f"{done.stdout[-6000:]}\n{done.stderr[-3000:]}"
    figures = soak_figures(results)
    ledger, errors, doctor = figures["ledger"], figures["errors"], figures["doctor"]
    lateness = figures["lateness"]["all"]
    assert isinstance(lateness, dict)

    # The night happened: acts fell due, FastPix received calls, encoders went live.
    assert ledger["acts"] and ledger["acts_needing_effect"] and lateness["n"], output
    assert ledger["missed"] == 0 and ledger["not_done"] == 0 and ledger["failed"] == 0, output
    assert ledger["disagreements"] == 0, output
    assert errors["database_is_locked"] == 0, output
    assert doctor["runs"] and doctor["failed"] == 0, output
    assert done.returncode == 0, output
