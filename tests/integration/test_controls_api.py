"""The booking API explains a collision its lead alone causes, without naming another's booking."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import select

from tests.integration.api_support import ApiServer, api_server, booking_body, hour, iso
from tests.integration.store_support import BACKENDS
from worker.store.db import transaction
from worker.store.models import ActionEvent


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def test_a_lead_collision_says_where_the_lead_puts_the_start_and_how_to_fix_it(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz, api.client("Chess Society") as chess:
        assert (
            chess.post(
                "/v1/bookings", json=booking_body(hour(2), hour(3), title="Grandmaster night")
            ).status_code
            == 201
        )
        start = hour(3) + timedelta(minutes=2)
        clash = jazz.post("/v1/bookings", json=booking_body(start, hour(4), lead_seconds=300))
    assert clash.status_code == 409
    message = clash.json()["error"]["message"]
    assert (
        f"your 5m lead makes this slot start at {start - timedelta(minutes=5):%H:%M}, inside a busy slot"
        in message
    )
    assert f"start at {hour(3) + timedelta(minutes=5):%H:%M} or use a lead of at most 2m" in message
    assert "Chess" not in clash.text and "Grandmaster" not in clash.text


def test_an_organisers_move_through_the_api_is_in_the_streams_history_as_theirs(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        mine = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3))).json()
        assert jazz.patch(f"/v1/bookings/{mine['id']}", json={"end": iso(hour(4))}).status_code == 200
    with transaction(api.engine, immediate=False) as session:
        actor, detail = session.execute(
            select(ActionEvent.actor, ActionEvent.detail).where(ActionEvent.event == "broadcast_changed")
        ).one()
    assert actor == "Jazz Club"
    assert f"booking #{mine['id']} moved from" in str(detail)
