"""Viewer-count sampling (issue 13): what a look costs the database and what a round of samples takes.

100 streams, each with a daily one-hour broadcast from 90 days ago to a year ahead (what a materialised
series leaves: ~45,000 rows), one of them in its slot now on every stream; half the streams are
active. In-process rounds (worker.service.viewers.sample_round) with a fixed clock against the
simulator over HTTP. Figures: a round that samples the 50 active streams (50 viewer-count calls, 4 in
parallel), and a look that finds nothing due (every period already sampled: what the 5 s beat entry
costs between samples), p50/p99/max over 200 looks; the size of broadcast_viewers per broadcast.

    .venv/bin/python -m benchmarks.viewers [embedded] [postgres] [--looks 200]
"""

from __future__ import annotations

import argparse
import time
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks.common import (
    backend,
    backends_from_argv,
    emit,
    loadavg,
    machine,
    percentile,
    simulator,
    workspace,
)

STREAMS = 100
PAST_DAYS = 90
FUTURE_DAYS = 365


def populate(engine: sa.Engine, stream_ids: list[str], now: datetime) -> list[int]:
    """The streams (half active) and their daily broadcasts; returns the ids of those in slot now."""
    from worker.store.db import transaction
    from worker.store.models import Broadcast
    from worker.store.schedules import upsert_streams

    with transaction(engine) as session:
        known = [(s, f"studio {i}", "active" if i % 2 == 0 else "idle") for i, s in enumerate(stream_ids)]
        upsert_streams(session, known, seen_at=now)
    base = now.replace(minute=0, second=0, microsecond=0)
    with engine.begin() as conn:
        for stream_id in stream_ids:
            rows = [
                {
                    "stream_id": stream_id,
                    "starts_at": base + timedelta(days=d),
                    "ends_at": base + timedelta(days=d, hours=1),
                    "lead_seconds": 300,
                    "title": "daily",
                }
                for d in range(-PAST_DAYS, FUTURE_DAYS)
            ]
            conn.execute(sa.insert(Broadcast.__table__), rows)  # type: ignore[arg-type]
        found = conn.execute(
            sa.select(Broadcast.id).where(Broadcast.starts_at == base, Broadcast.ends_at > now)
        ).scalars()
        return list(found)


def run(name: str, looks: int) -> None:
    from worker.clock import FixedClock
    from worker.config import FastPixSettings, OnairSettings
    from worker.fastpix.client import FastPixClient
    from worker.service.runtime import Runtime
    from worker.service.viewers import sample_round
    from worker.store.db import make_engine

    with workspace(f"viewers-{name}") as workdir, backend(name, workdir) as found, simulator(workdir) as sim:
        with FastPixClient(sim.base_url, *_credentials(sim.env)) as api:
            stream_ids = [api.create_stream().stream_id for _ in range(STREAMS)]
        engine = make_engine(found.database_url)
        try:
            now = datetime.now(UTC).replace(minute=20, second=0, microsecond=0)
            in_slot = populate(engine, stream_ids, now)
            rt = Runtime(
                settings=OnairSettings(database_url=found.database_url, alert_webhook_url=""),
                fastpix=FastPixSettings(
                    api_url=sim.base_url,
                    access_token_id=sim.env["FASTPIX_ACCESS_TOKEN_ID"],
                    secret_key=sim.env["FASTPIX_SECRET_KEY"],
                ),
                clock=FixedClock(now),
            )
            rt.engine = engine
            started = time.perf_counter()
            first = sample_round(rt)
            round_ms = (time.perf_counter() - started) * 1000
            idle = []
            for i in range(looks):
                rt.clock = FixedClock(now + timedelta(seconds=1 + i * 0.1))  # the same period throughout
                started = time.perf_counter()
                again = sample_round(rt)
                idle.append((time.perf_counter() - started) * 1000)
                assert not again.sampled and not again.failed
            emit(
                f"viewers {name}",
                {
                    "broadcasts": STREAMS * (PAST_DAYS + FUTURE_DAYS),
                    "in_slot": len(in_slot),
                    "sampled": len(first.sampled),
                    "failed": len(first.failed),
                    "round_ms": round(round_ms, 1),
                    "look_p50_ms": round(percentile(idle, 50), 2),
                    "look_p99_ms": round(percentile(idle, 99), 2),
                    "look_max_ms": round(max(idle), 2),
                    "load": loadavg(),
                },
            )
            rt.client.close()
        finally:
            engine.dispose()


def _credentials(env: dict[str, str]) -> tuple[str, str]:
    return env["FASTPIX_ACCESS_TOKEN_ID"], env["FASTPIX_SECRET_KEY"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("backends", nargs="*", default=[])
    parser.add_argument("--looks", type=int, default=200)
    args = parser.parse_args()
    print(machine(), flush=True)
    for name in backends_from_argv(args.backends):
        run(name, args.looks)


if __name__ == "__main__":
    main()
