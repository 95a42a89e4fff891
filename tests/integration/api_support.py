"""The booking API served for real: uvicorn in a thread on a free port, over a migrated database
(SQLite or PostgreSQL), with organisers, streams and an ops broadcast to book around."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from sqlalchemy import Engine, func, select

from tests.integration.store_support import backend_url, migrated
from worker.api.app import create_app, server_config
from worker.config import FastPixSettings, OnairSettings
from worker.store.db import transaction
from worker.store.models import Broadcast
from worker.store.organisers import create_organiser, revoke_organiser
from worker.store.schedules import upsert_stream
from worker.store.slots import insert_slot

STREAM = "a1b2c3d4e5f60718293a4b5c6d7e8f90"
OTHER_STREAM = "0f1e2d3c4b5a69788796a5b4c3d2e1f0"


def iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat()


@dataclass
class ApiServer:
    base_url: str
    engine: Engine
    tokens: dict[str, str] = field(default_factory=dict)

    def client(self, who: str | None = None) -> httpx.Client:
        headers = {"Authorization": f"Bearer {self.tokens[who]}"} if who else {}
        return httpx.Client(base_url=self.base_url, headers=headers, timeout=30)

    def add_organiser(self, name: str) -> str:
        with transaction(self.engine) as session:
            _, token = create_organiser(session, name, now=datetime.now(UTC))
        self.tokens[name] = token
        return token

    def revoke(self, name: str) -> None:
        with transaction(self.engine) as session:
            revoke_organiser(session, name, now=datetime.now(UTC))

    def ops_broadcast(self, start: datetime, end: datetime, title: str) -> int:
        with transaction(self.engine) as session:
            row = insert_slot(
                session,
                Broadcast(stream_id=STREAM, starts_at=start, ends_at=end, lead_seconds=0, title=title),
            )
            return row.id

    def broadcast_count(self) -> int:
        with transaction(self.engine, immediate=False) as session:
            return int(session.scalar(select(func.count()).select_from(Broadcast)) or 0)

    def booking_row(self, booking_id: int) -> Broadcast:
        with transaction(self.engine, immediate=False) as session:
            row = session.get(Broadcast, booking_id)
            assert row is not None
            return row


def serve(engine: Engine, url: str, fastpix: FastPixSettings | None = None) -> Iterator[ApiServer]:
    """The API over HTTP; FastPix's settings (the webhook secret) default to none at all."""
    fastpix = fastpix or FastPixSettings(webhook_secret=None, _env_file=None)
    app = create_app(engine, settings=OnairSettings(database_url=url, horizon_hours=24), fastpix=fastpix)
    server = uvicorn.Server(server_config(app, host="127.0.0.1", port=0, log_level="warning", lifespan="off"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    for _ in range(1000):
        if server.started or not thread.is_alive():
            break
        time.sleep(0.01)
    assert server.started, "uvicorn did not start"
    port = server.servers[0].sockets[0].getsockname()[1]
    try:
        yield ApiServer(f"http://127.0.0.1:{port}", engine)
    finally:
        server.should_exit = True
        thread.join(timeout=10)


def api_server(
    request: pytest.FixtureRequest, tmp_path: Any, fastpix: FastPixSettings | None = None
) -> Iterator[ApiServer]:
    url = backend_url(request, tmp_path)
    for engine in migrated(url):
        with transaction(engine) as session:
            now = datetime.now(UTC)
            upsert_stream(session, STREAM, name="Main stage", status="idle", seen_at=now)
            upsert_stream(session, OTHER_STREAM, name="Side stage", status="idle", seen_at=now)
        server = serve(engine, url, fastpix)
        api = next(server)
        api.add_organiser("Jazz Club")
        api.add_organiser("Chess Society")
        try:
            yield api
        finally:
            next(server, None)


# One whole minute for the whole run: a test that computes hour(2) twice across a minute boundary would
# otherwise compare two different instants. Every test asks an hour or more ahead, so it stays ahead.
_NOW_MINUTE = datetime.now(UTC).replace(second=0, microsecond=0)


def hour(n: float) -> datetime:
    """A whole minute n hours from the start of the run (the API compares times to the real clock)."""
    return _NOW_MINUTE + timedelta(hours=n)


def booking_body(start: datetime, end: datetime, **extra: object) -> dict[str, object]:
    return {"stream_id": STREAM, "start": iso(start), "end": iso(end), **extra}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


ONAIR = str(Path(sys.executable).parent / "onair")


@dataclass
class ApiProcess:
    proc: subprocess.Popen[bytes]
    output: bytes = b""


@contextmanager
def onair_api(database_url: str, port: int, **env: str) -> Iterator[ApiProcess]:
    """`onair api` as a user starts it, on this database and port, once /health answers; after it
    stops, `output` holds what it printed (stdout and stderr)."""
    proc = subprocess.Popen(
        [ONAIR, "api", "--port", str(port)],
        env={**os.environ, "ONAIR_DATABASE_URL": database_url, **env},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    running = ApiProcess(proc)
    try:
        for _ in range(300):
            try:
                if httpx.get(f"http://127.0.0.1:{port}/health", timeout=2).status_code == 200:
                    break
            except httpx.TransportError:
                assert proc.poll() is None, proc.communicate()[0]
                time.sleep(0.05)
        yield running
    finally:
        proc.terminate()
        running.output = proc.communicate(timeout=30)[0]
