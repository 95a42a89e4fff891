"""POST /webhooks/fastpix over real HTTP, fed by the simulator's signed FastPix webhooks: a signed
event is stored (without the stream's secrets) and sets the stream's known status at once; a wrong
or missing signature is a 401 that stores nothing; a redelivery changes nothing; an older event never
rolls a newer status back; without a secret the route is a 503 that says why. SQLite and PostgreSQL."""

from __future__ import annotations

import base64
import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from pydantic import SecretStr
from sqlalchemy import Engine, func, select, text

from tests.harness import wait_for
from tests.integration.api_support import STREAM, ApiServer, api_server
from tests.integration.store_support import BACKENDS
from worker.config import FastPixSettings
from worker.simulator.app import SimulatorHandle, run_in_thread
from worker.simulator.control import SimulatorControl
from worker.simulator.webhook_events import decode_secret, sign
from worker.store.db import transaction
from worker.store.models import Action, Broadcast, Organiser, Stream, WebhookEvent
from worker.store.schedules import upsert_stream
from worker.store.slots import insert_slot

SECRET = base64.b64encode(b"onair-receiver-test-signing-key").decode()
KEY = decode_secret(SECRET)
CREATE_BODY: dict[str, Any] = {"playbackSettings": {"accessPolicy": "public"}, "inputMediaSettings": {}}


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    fastpix = FastPixSettings(webhook_secret=SecretStr(SECRET), _env_file=None)
    yield from api_server(request, tmp_path, fastpix)


@pytest.fixture
def sim(api: ApiServer) -> Iterator[SimulatorHandle]:
    with run_in_thread(
        connect_delay=0.2,
        time_scale=0.01,
        webhook_url=f"{api.base_url}/webhooks/fastpix",
        webhook_secret=SECRET,
    ) as handle:
        yield handle


@pytest.fixture
def control(sim: SimulatorHandle) -> Iterator[SimulatorControl]:
    with SimulatorControl(sim.control_url) as ctl:
        yield ctl


def live_stream(api: ApiServer, sim: SimulatorHandle) -> tuple[str, dict[str, Any]]:
    """A stream created on the simulator and known to onair; returns its id and its GET data."""
    with httpx.Client(base_url=sim.base_url, auth=(sim.access_token_id, sim.secret_key)) as fastpix:
        created = fastpix.post("/live/streams", json=CREATE_BODY)
        assert created.status_code == 201, created.text
        data: dict[str, Any] = created.json()["data"]
    with transaction(api.engine) as session:
        upsert_stream(session, data["streamId"], name="Studio B", status=None, seen_at=_epoch())
    return data["streamId"], data


def _epoch() -> datetime:
    return datetime(2000, 1, 1, tzinfo=UTC)


def events(engine: Engine, sid: str) -> list[WebhookEvent]:
    with transaction(engine, immediate=False) as session:
        return list(
            session.scalars(
                select(WebhookEvent).where(WebhookEvent.stream_id == sid).order_by(WebhookEvent.id)
            )
        )


def known(engine: Engine, sid: str) -> tuple[str | None, Any]:
    with transaction(engine, immediate=False) as session:
        row = session.get(Stream, sid)
        assert row is not None
        return row.status, row.status_at


def count(engine: Engine) -> int:
    with transaction(engine, immediate=False) as session:
        return int(session.scalar(select(func.count()).select_from(WebhookEvent)) or 0)


def deliveries(control: SimulatorControl, sid: str, kind: str = "event") -> list[dict[str, Any]]:
    return [d for d in control.webhooks(stream_id=sid)["deliveries"] if d["kind"] == kind]


def connect_until_active(api: ApiServer, control: SimulatorControl, sid: str) -> None:
    """Connect the encoder and wait for its last event, `active`: `recording` comes just before it
    and already makes the stream active, so the status alone says too early that all arrived."""
    control.connect(sid)
    wait_for(
        "the active event", lambda: [e for e in events(api.engine, sid) if e.type.endswith(".active")], 15
    )


def database_text(engine: Engine) -> str:
    """Every value of every table, as text: what a leaked secret would be found in."""
    found = []
    with engine.connect() as conn:
        tables = [t for t in engine.dialect.get_table_names(conn) if t != "alembic_version"]
        for table in tables:
            for row in conn.execute(text(f"SELECT * FROM {table}")):
                found.append(" ".join(str(v) for v in row))
    return "\n".join(found)


def test_a_signed_event_is_stored_without_secrets_and_sets_the_status_at_once(
    api: ApiServer, sim: SimulatorHandle, control: SimulatorControl
) -> None:
    sid, data = live_stream(api, sim)
    connect_until_active(api, control, sid)
    stored = events(api.engine, sid)
    types = [e.type.removeprefix("video.live_stream.") for e in stored]
    assert types[0] == "created" and "connected" in types and types[-1] == "active"
    assert len({e.event_id for e in stored}) == len(stored)
    assert known(api.engine, sid)[0] == "active"
    assert all(200 <= d["http_status"] < 300 for d in deliveries(control, sid))
    # The payloads carried the stream key and SRT secret; none of it reached the database.
    everything = database_text(api.engine)
    assert data["streamKey"] and data["srtSecret"]
    assert data["streamKey"] not in everything and data["srtSecret"] not in everything
    assert data["streamKey"][:32] not in everything


def test_a_wrong_or_missing_signature_is_401_and_stores_nothing(
    api: ApiServer, sim: SimulatorHandle, control: SimulatorControl
) -> None:
    sid, _ = live_stream(api, sim)
    wait_for("the created event", lambda: events(api.engine, sid), 15)
    before, status = count(api.engine), known(api.engine, sid)
    sent = control.send_webhook("bad_signature", stream_id=sid, event="active")
    assert sent["http_status"] == 401
    with httpx.Client(base_url=api.base_url) as client:
        body = b'{"type":"video.live_stream.active","id":"x","created_at":"2026-11-30T00:00:00Z"}'
        missing = client.post("/webhooks/fastpix", content=body)
    assert missing.status_code == 401
    assert missing.json()["error"]["message"] == "the FastPix-Signature header is missing"
    assert count(api.engine) == before and known(api.engine, sid) == status


def test_a_redelivered_event_changes_nothing(
    api: ApiServer, sim: SimulatorHandle, control: SimulatorControl
) -> None:
    sid, _ = live_stream(api, sim)
    connect_until_active(api, control, sid)
    first = deliveries(control, sid)[0]  # the `created` event, older than the status now known
    before = [(e.id, e.event_id, e.status, e.created_at) for e in events(api.engine, sid)]
    status = known(api.engine, sid)
    again = control.send_webhook("duplicate", event_id=first["event_id"])
    assert again["http_status"] == 200
    latest = control.send_webhook("duplicate", stream_id=sid)
    assert latest["http_status"] == 200
    assert [(e.id, e.event_id, e.status, e.created_at) for e in events(api.engine, sid)] == before
    assert known(api.engine, sid) == status


def test_an_older_event_never_rolls_a_newer_status_back(
    api: ApiServer, sim: SimulatorHandle, control: SimulatorControl
) -> None:
    sid, _ = live_stream(api, sim)
    connect_until_active(api, control, sid)
    status = known(api.engine, sid)
    stale = control.send_webhook("stale", stream_id=sid, event="idle", age=30)
    assert stale["http_status"] == 200
    # Stored as history, but the stream stays active: the idle report is 30 s older than `active`.
    assert next(e for e in events(api.engine, sid) if e.event_id == stale["event_id"]).status == "idle"
    assert known(api.engine, sid) == status


@pytest.fixture(params=BACKENDS)
def no_secret(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def test_without_a_secret_the_receiver_is_503_and_says_why(no_secret: ApiServer) -> None:
    with httpx.Client(base_url=no_secret.base_url) as client:
        answer = client.post("/webhooks/fastpix", content=b"{}", headers={"FastPix-Signature": "x"})
    assert answer.status_code == 503
    assert "FASTPIX_WEBHOOK_SECRET is not set" in answer.json()["error"]["message"]
    assert count(no_secret.engine) == 0


def test_bad_bodies_are_4xx_in_the_error_body_never_500(api: ApiServer) -> None:
    key = KEY
    with httpx.Client(base_url=api.base_url) as client:

        def post(body: bytes) -> httpx.Response:
            return client.post(
                "/webhooks/fastpix", content=body, headers={"FastPix-Signature": sign(key, body)}
            )

        for body in (b"not json", b"[1]", b'{"id": "e1"}', b'{"id":"e","type":"t","created_at":"yesterday"}'):
            answer = post(body)
            assert answer.status_code == 422, (body, answer.text)
            assert answer.json()["error"]["code"] == "invalid_input"
        huge = b'{"pad": "' + b"x" * 70_000 + b'"}'
        assert post(huge).status_code == 413
        unknown = b'{"id":"u1","type":"video.media.created","created_at":"2026-11-30T00:00:00Z","data":{}}'
        assert post(unknown).json()["result"] == "stored"
        assert post(unknown).json()["result"] == "duplicate"
    assert count(api.engine) == 1


def test_the_booking_view_shows_the_outcome_from_the_signal(api: ApiServer) -> None:
    """A running booking whose stream went live, then dropped 5 minutes ago: `interrupted`, live
    minutes counted from the webhooks."""
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=15)
    with transaction(api.engine) as session:
        jazz = session.scalars(select(Organiser).where(Organiser.name == "Jazz Club")).one()
        row = insert_slot(
            session,
            Broadcast(
                stream_id=STREAM, starts_at=start, ends_at=now + timedelta(hours=1), lead_seconds=0,
                title="Jam", organiser_id=jazz.id,
            ),
        )  # fmt: skip
        session.add(
            Action(
                idempotency_key=f"test:enable:{row.id}", stream_id=STREAM, kind="enable", source="broadcast",
                source_id=row.id, due_at=start, deadline_at=row.ends_at, state="succeeded",
                next_attempt_at=start, reason="test",
            )
        )  # fmt: skip
        booking_id = row.id
    with httpx.Client(base_url=api.base_url) as client:
        for n, (at, status) in enumerate(
            [(start - timedelta(minutes=1), "active"), (now - timedelta(minutes=5), "idle")]
        ):
            envelope = {
                "type": f"video.live_stream.{status}",
                "id": f"e{n}",
                "object": {"name": "live", "id": STREAM},
                "data": {"status": status},
                "created_at": at.isoformat(),
            }
            body = json.dumps(envelope).encode()
            sent = client.post(
                "/webhooks/fastpix", content=body, headers={"FastPix-Signature": sign(KEY, body)}
            )
            assert sent.status_code == 200, sent.text
    with api.client("Jazz Club") as jazz_client:
        booking = jazz_client.get(f"/v1/bookings/{booking_id}").json()
    assert booking["outcome"] == "interrupted" and booking["live_minutes"] == 10.0
