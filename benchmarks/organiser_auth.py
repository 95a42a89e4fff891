"""Organiser authentication with many organisers: the cost of finding a bearer token's organiser.

50,000 organisers are bulk-inserted with one SQL statement (random tokens, stored as their sha256 hex
like `onair organiser add` does), one more is added through the store so its token is known. Figures,
per backend:
- store: `caller_of` on a fresh session per call, as each API request does (median / p99 ms), for the
  known token and for an unknown one (the 401 path);
- http: `GET /v1/bookings` against a real `onair api` process over keep-alive HTTP (median / p99 ms),
  with the known token and with an unknown one.

    .venv/bin/python -m benchmarks.organiser_auth [embedded] [postgres] [--organisers 50000] [--calls 50]
"""

from __future__ import annotations

import argparse
import hashlib
import secrets
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime

import httpx
import sqlalchemy as sa

from benchmarks.common import (
    BIN,
    Proc,
    backend,
    backends_from_argv,
    base_env,
    emit,
    free_port,
    machine,
    percentile,
    running,
    wait_for,
    workspace,
)
from worker.api.auth import caller_of
from worker.api.errors import ApiError
from worker.store.db import make_engine
from worker.store.organisers import create_organiser

NOW = datetime(2026, 11, 27, 12, tzinfo=UTC)


def _fill(engine: sa.Engine, count: int) -> str:
    """`count` organisers in one statement, plus one made by the store; returns that one's token."""
    rows = [
        {"name": f"org-{i:06d}", "token_hash": hashlib.sha256(secrets.token_bytes(32)).hexdigest()}
        for i in range(count)
    ]
    with engine.begin() as conn:
        conn.execute(sa.text("INSERT INTO organisers (name, token_hash) VALUES (:name, :token_hash)"), rows)
        if conn.dialect.name == "postgresql":
            conn.execute(sa.text("ANALYZE organisers"))
    with sa.orm.Session(engine) as session, session.begin():
        _, token = create_organiser(session, "bench-known", now=NOW)
    return token


def _timed(calls: int, one: Callable[[], object]) -> tuple[float, float]:
    one()  # warm caches and connections
    spent = []
    for _ in range(calls):
        start = time.perf_counter()
        one()
        spent.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(spent), 2), round(percentile(spent, 99), 2)


def _store_call(engine: sa.Engine, token: str) -> Callable[[], object]:
    def one() -> object:
        with sa.orm.Session(engine) as session:
            try:
                return caller_of(session, f"Bearer {token}")
            except ApiError:
                return None

    return one


def _http_call(client: httpx.Client, token: str, expect: int) -> Callable[[], object]:
    def one() -> object:
        reply = client.get("/v1/bookings", headers={"Authorization": f"Bearer {token}"})
        assert reply.status_code == expect, (reply.status_code, reply.text[:200])
        return reply

    return one


def run(name: str, organisers: int, calls: int) -> None:
    with workspace(f"auth-{name}") as workdir, backend(name, workdir) as be:
        engine = make_engine(be.database_url)
        try:
            start = time.perf_counter()
            token = _fill(engine, organisers)
            filled_s = round(time.perf_counter() - start, 1)
            unknown = secrets.token_urlsafe(32)
            store_ok = _timed(calls, _store_call(engine, token))
            store_401 = _timed(calls, _store_call(engine, unknown))
        finally:
            engine.dispose()

        port = free_port()
        api = Proc(
            "api",
            [str(BIN / "onair"), "api", "--host", "127.0.0.1", "--port", str(port)],
            base_env(ONAIR_DATABASE_URL=be.database_url, ONAIR_DATA_DIR=str(workdir / "data")),
            workdir / "api.log",
        )
        with running(api), httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:

            def up() -> bool:
                try:
                    return client.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_for("onair api", up, 60, [api])
            http_ok = _timed(calls, _http_call(client, token, 200))
            http_401 = _timed(calls, _http_call(client, unknown, 401))

    emit(
        f"organiser auth {name}",
        {
            "organisers": organisers + 1,
            "fill_s": filled_s,
            "store_ok_median_ms": store_ok[0],
            "store_ok_p99_ms": store_ok[1],
            "store_401_median_ms": store_401[0],
            "store_401_p99_ms": store_401[1],
            "http_ok_median_ms": http_ok[0],
            "http_ok_p99_ms": http_ok[1],
            "http_401_median_ms": http_401[0],
            "http_401_p99_ms": http_401[1],
        },
    )


def main(argv: list[str]) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("backends", nargs="*")
    parser.add_argument("--organisers", type=int, default=50_000)
    parser.add_argument("--calls", type=int, default=50)
    args = parser.parse_args(argv)
    print(machine(), flush=True)
    for name in backends_from_argv(args.backends):
        run(name, args.organisers, args.calls)


if __name__ == "__main__":
    main(sys.argv[1:])
