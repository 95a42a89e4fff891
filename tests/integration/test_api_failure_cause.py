"""The booking API over real HTTP shows an organiser why an action of their booking failed: the cause,
then the rule that stopped it."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.api_support import ApiServer, api_server, booking_body, hour
from tests.integration.store_support import BACKENDS
from worker.domain.causes import FailureCause


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def test_a_failed_action_of_my_booking_carries_its_cause(api: ApiServer) -> None:
    cause = FailureCause(500, "internal error", "PUT", "/live/streams/x/live-enable", 7, "no time left")
    with api.client("Jazz Club") as jazz:
        booking = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3))).json()
        with api.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE actions SET state = 'failed', outcome = :c "
                    "WHERE source_id = :b AND kind = 'enable'"
                ),
                {"c": cause.summary, "b": booking["id"]},
            )
        actions = jazz.get(f"/v1/bookings/{booking['id']}").json()["actions"]
    assert [(a["kind"], a["state"], a["cause"]) for a in actions] == [
        ("enable", "failed", 'FastPix 500 "internal error" on PUT live-enable, 7 attempts; no time left'),
        ("finish", "pending", None),
    ]
