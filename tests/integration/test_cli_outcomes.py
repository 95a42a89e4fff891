"""Outcomes where a broadcast is shown, and the stream's webhooks in its history (both backends):
`onair plan` gives each slot its outcome so far, with live minutes from the stream's reported
signal; `onair history --stream ID` lists the stream's FastPix webhook events (type, status, when),
never the stream key or SRT secret their payloads carried."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import update

from tests.integration.cli_support import STREAM, Onair, add_broadcast, migrated_on_backend
from tests.integration.store_support import BACKENDS
from worker.service import webhook_receiver
from worker.store.db import transaction
from worker.store.models import Action

STREAM_KEY = "a1b2c3d4e5f6a7b8c9d0e1f2a3b4c5d6k" + STREAM
SRT_SECRET = "f6e5d4c3b2a1f6e5d4c3b2a1f6e5d4c3k" + STREAM


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    for instance in migrated_on_backend(request, tmp_path):
        instance.add_stream(STREAM, name="morning show")
        yield instance


def webhook(onair: Onair, event_id: str, event: str, status: str, at: datetime) -> None:
    body = {
        "type": f"video.live_stream.{event}",
        "id": event_id,
        "object": {"name": "live", "id": STREAM},
        "data": {"streamId": STREAM, "status": status, "streamKey": STREAM_KEY, "srtSecret": SRT_SECRET},
        "created_at": at.isoformat().replace("+00:00", "Z"),
    }
    webhook_receiver.receive(onair.engine, json.dumps(body).encode(), datetime.now(UTC))


def test_plan_shows_each_slots_outcome_and_history_the_streams_webhooks(onair: Onair) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    start = now - timedelta(minutes=10)
    running = add_broadcast(onair, start, now + timedelta(minutes=30), "--allow-past", "--title", "Now")
    coming = add_broadcast(onair, now + timedelta(hours=2), now + timedelta(hours=3), "--title", "Later")
    with transaction(onair.engine) as session:  # the running slot's enable went through
        session.execute(
            update(Action)
            .where(Action.source_id == running["id"], Action.kind == "enable")
            .values(state="succeeded", finished_at=start)
        )
    webhook(onair, "evt-1", "connected", "preparing", start + timedelta(seconds=30))
    webhook(onair, "evt-2", "active", "active", start + timedelta(minutes=1))

    (stream,) = onair.json("plan", "--hours", "4")["streams"]
    slots = {s["id"]: s for s in stream["slots"]}
    assert slots[running["id"]]["outcome"] == "live"
    assert 8.5 <= slots[running["id"]]["live_minutes"] <= 10
    assert (slots[coming["id"]]["outcome"], slots[coming["id"]]["live_minutes"]) == ("scheduled", None)
    assert stream["between_slots"] == "keep"
    table = onair.ok("plan", "--hours", "4", "--tz", "UTC").stdout
    assert "; live, live 9 min" in table or "; live, live 10 min" in table
    assert "; scheduled" in table

    history = onair.ok("history", "--stream", STREAM, "--tz", "UTC").stdout
    assert "2 stream events (FastPix webhooks and polls)" in history
    assert "video.live_stream.active" in history and "video.live_stream.connected" in history
    assert f"{start + timedelta(minutes=1):%Y-%m-%d %H:%M:%S} +00:00" in history
    assert STREAM_KEY[:32] not in history and SRT_SECRET[:32] not in history
    # Without --stream, the actions alone, as before.
    assert "stream events" not in onair.ok("history").stdout
