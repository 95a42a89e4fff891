"""The pages under load: the ops board with 100 streams and 10,000 actions in its window, and an
organiser's week view with 1,000 bookings on the streams that week.

A real `onair api` process serves a database filled in bulk (ORM bulk inserts, so values are stored
exactly as onair stores them); an httpx client signs in through /login (as a browser does, keeping
the session cookie) and fetches each page over keep-alive HTTP on localhost. Figures, per backend and
page: request time p50/p99 (ms: the server's time plus a localhost round trip, so an upper bound of
server time) and bytes sent (the body, uncompressed). Target (issue 12): p99 under 150 ms server time
and under 300 KB.

    .venv/bin/python -m benchmarks.web_pages [embedded] [postgres] [--calls 30] [--runs 3]

Each run fills a fresh database; the raw lines go to benchmarks/results/web-pages-<backend>-<UTC>.jsonl.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from contextlib import closing
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import sqlalchemy as sa
from sqlalchemy.orm import Session

from benchmarks.common import (
    BIN,
    Proc,
    backend,
    backends_from_argv,
    base_env,
    emit,
    free_port,
    loadavg,
    machine,
    percentile,
    results_file,
    running,
    wait_for,
    workspace,
)
from worker.service.week_view import monday_of
from worker.store.db import make_engine
from worker.store.models import Action, Broadcast, Stream
from worker.store.organisers import OPS, create_organiser

STREAMS = 100
ACTIONS = 10_000
BOOKINGS = 1_000
# A night as ops see it: half done, half planned, a few skipped, 1 % failed and 1 % missed (each of
# those drawn with its cause, so they cost the most bytes).
STATES = ("succeeded",) * 48 + ("pending",) * 48 + ("skipped",) * 2 + ("failed", "missed")


def _fill(engine: sa.Engine, now: datetime) -> tuple[str, str, str]:
    """Streams, actions in the board's window, bookings in next week; the ops and organiser tokens
    and next week's Monday (ISO)."""
    streams = [f"{i:032x}" for i in range(1, STREAMS + 1)]
    monday = monday_of(now, UTC) + timedelta(days=7)
    with Session(engine) as session, session.begin():
        session.execute(
            sa.insert(Stream), [{"stream_id": s, "name": f"Stage {i:03d}"} for i, s in enumerate(streams)]
        )
        _, ops_token = create_organiser(session, "Bench Desk", now=now, role=OPS)
        mine, token = create_organiser(session, "Bench Club", now=now)
        other, _ = create_organiser(session, "Other Club", now=now)
        window = timedelta(hours=30)
        session.execute(
            sa.insert(Action),
            [
                {
                    "idempotency_key": f"bench:{n}",
                    "stream_id": streams[n % STREAMS],
                    "kind": "enable" if n % 2 else "finish",
                    "source": "broadcast",
                    "source_id": n,
                    "due_at": now - timedelta(hours=6) + window * (n / ACTIONS),
                    "deadline_at": now + timedelta(days=2),
                    "next_attempt_at": now,
                    "state": STATES[n % len(STATES)],
                    "reason": "bench",
                    "last_error": 'FastPix 500 "internal error" on PUT'
                    if STATES[n % len(STATES)] == "failed"
                    else None,
                }
                for n in range(ACTIONS)
            ],
        )
        per_stream = BOOKINGS // STREAMS
        length = timedelta(days=7) / per_stream
        session.execute(
            sa.insert(Broadcast),
            [
                {
                    "stream_id": s,
                    "starts_at": datetime.combine(monday, datetime.min.time(), UTC)
                    + length * k
                    + timedelta(minutes=10),
                    "ends_at": datetime.combine(monday, datetime.min.time(), UTC) + length * (k + 1),
                    "lead_seconds": 300,
                    "title": f"Show {i}-{k}",
                    "organiser_id": mine.id if (i + k) % 2 else other.id,
                    "needs_check": False,
                }
                for i, s in enumerate(streams)
                for k in range(per_stream)
            ],
        )
    return ops_token, token, monday.isoformat()


def _cpu_seconds(pid: int) -> float:
    """The process's CPU time so far (user + system)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _timed(client: httpx.Client, path: str, calls: int, server_pid: int) -> dict[str, float]:
    first = client.get(path)
    assert first.status_code == 200, (path, first.status_code, first.text[:300])
    spent, sizes = [], []
    cpu_before = _cpu_seconds(server_pid)
    for _ in range(calls):
        start = time.perf_counter()
        reply = client.get(path)
        spent.append((time.perf_counter() - start) * 1000)
        assert reply.status_code == 200
        sizes.append(len(reply.content))
    return {
        # The server's CPU per request: what the page costs, whatever else the machine is doing (the
        # times above also wait for the CPU when the machine is loaded).
        "cpu_ms": round((_cpu_seconds(server_pid) - cpu_before) / calls * 1000, 1),
        "p50_ms": round(statistics.median(spent), 1),
        "p99_ms": round(percentile(spent, 99), 1),
        "kb": round(max(sizes) / 1024, 1),
    }


def _signed_in(base_url: str, token: str) -> httpx.Client:
    client = httpx.Client(base_url=base_url, timeout=60)
    answer = client.post("/login", data={"token": token})
    assert answer.status_code == 303, (answer.status_code, answer.text[:300])
    return client


def run(name: str, calls: int, index: int, results: Path) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    with workspace(f"web-{name}") as workdir, backend(name, workdir) as be:
        engine = make_engine(be.database_url)
        try:
            ops_token, organiser_token, monday = _fill(engine, now)
        finally:
            engine.dispose()
        port = free_port()
        api = Proc(
            "api",
            [str(BIN / "onair"), "api", "--host", "127.0.0.1", "--port", str(port)],
            base_env(ONAIR_DATABASE_URL=be.database_url, ONAIR_DATA_DIR=str(workdir / "data")),
            workdir / "api.log",
        )
        base_url = f"http://127.0.0.1:{port}"
        with running(api):

            def up() -> bool:
                try:
                    return httpx.get(f"{base_url}/health", timeout=5).status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("onair api", up, 60, [api])
            with (
                closing(_signed_in(base_url, ops_token)) as ops,
                closing(_signed_in(base_url, organiser_token)) as organiser,
            ):
                board = _timed(ops, "/ops", calls, api.pid)
                week = _timed(organiser, f"/?week={monday}&tz=Europe/Berlin", calls, api.pid)
    emit(
        f"web pages {name}",
        {
            "run": index + 1,
            "streams": STREAMS,
            "actions": ACTIONS,
            "bookings": BOOKINGS,
            "load": loadavg(),
            **{f"board_{k}": v for k, v in board.items()},
            **{f"week_{k}": v for k, v in week.items()},
        },
        results,
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backends", nargs="*")
    parser.add_argument("--calls", type=int, default=30)
    parser.add_argument("--runs", type=int, default=1)
    args = parser.parse_args(argv)
    for name in backends_from_argv(args.backends):
        results = results_file("web-pages", name)
        emit("machine", {"backend": name, "machine": machine(), "calls": args.calls}, results)
        for index in range(args.runs):
            run(name, args.calls, index, results)
        print(f"raw lines: {results}", flush=True)


if __name__ == "__main__":
    main(sys.argv[1:])
