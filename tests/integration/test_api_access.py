"""The booking API over real HTTP: who may call it, and what one organiser sees of another's bookings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import httpx
import pytest

from tests.integration.api_support import OTHER_STREAM, STREAM, ApiServer, api_server, booking_body, hour
from tests.integration.store_support import BACKENDS


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def _assert_401(response: httpx.Response) -> None:
    assert response.status_code == 401
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    error = response.json()["error"]
    assert error["code"] == "unauthorized"
    assert error["message"]
    assert error["fields"] == []


def test_missing_malformed_wrong_and_revoked_tokens_get_401_with_a_bearer_challenge(api: ApiServer) -> None:
    with api.client() as anonymous:
        for path in ("/v1/streams", "/v1/bookings", "/v1/plan", "/v1/bookings/1"):
            _assert_401(anonymous.get(path))
        _assert_401(anonymous.post("/v1/bookings", json=booking_body(hour(2), hour(3))))
        _assert_401(
            anonymous.get("/v1/bookings", headers={"Authorization": f"Basic {api.tokens['Jazz Club']}"})
        )
        wrong = anonymous.get("/v1/bookings", headers={"Authorization": "Bearer not-a-real-token"})
        _assert_401(wrong)
        assert 'error="invalid_token"' in wrong.headers["WWW-Authenticate"]
    assert api.broadcast_count() == 0

    with api.client("Jazz Club") as jazz:
        assert jazz.get("/v1/bookings").status_code == 200
        api.revoke("Jazz Club")
        _assert_401(jazz.get("/v1/bookings"))
        _assert_401(jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3))))
    assert api.broadcast_count() == 0


def test_another_organisers_booking_is_404_on_read_change_and_cancel_and_stays_as_it_was(
    api: ApiServer,
) -> None:
    with api.client("Chess Society") as chess, api.client("Jazz Club") as jazz:
        created = chess.post("/v1/bookings", json=booking_body(hour(2), hour(3), title="Grandmaster night"))
        assert created.status_code == 201
        theirs = created.json()["id"]

        read = jazz.get(f"/v1/bookings/{theirs}")
        moved = jazz.patch(f"/v1/bookings/{theirs}", json={"start": hour(5).isoformat()})
        cancelled = jazz.delete(f"/v1/bookings/{theirs}")
        for response in (read, moved, cancelled):
            assert response.status_code == 404
            assert response.json()["error"]["code"] == "not_found"
            assert "Grandmaster" not in response.text and "Chess" not in response.text
        # The same answer as for an id that does not exist at all: nothing says it is there.
        assert jazz.get("/v1/bookings/999999").json()["error"]["message"].replace("999999", "N") == (
            read.json()["error"]["message"].replace(str(theirs), "N")
        )
        assert jazz.get("/v1/bookings").json()["bookings"] == []
        assert [b["id"] for b in chess.get("/v1/bookings").json()["bookings"]] == [theirs]

    row = api.booking_row(theirs)
    assert row.cancelled_at is None
    assert row.starts_at == hour(2)


def test_an_ops_broadcast_cannot_be_read_changed_or_cancelled_through_the_api(api: ApiServer) -> None:
    ops = api.ops_broadcast(hour(4), hour(5), "Company all-hands")
    with api.client("Jazz Club") as jazz:
        assert jazz.get(f"/v1/bookings/{ops}").status_code == 404
        assert jazz.patch(f"/v1/bookings/{ops}", json={"title": "mine now"}).status_code == 404
        assert jazz.delete(f"/v1/bookings/{ops}").status_code == 404
    row = api.booking_row(ops)
    assert row.cancelled_at is None and row.title == "Company all-hands"


def test_free_busy_shows_every_slot_but_only_the_callers_own_titles(api: ApiServer) -> None:
    api.ops_broadcast(hour(6), hour(7), "Company all-hands")
    with api.client("Chess Society") as chess, api.client("Jazz Club") as jazz:
        theirs = chess.post("/v1/bookings", json=booking_body(hour(2), hour(3), title="Grandmaster night"))
        mine = jazz.post(
            "/v1/bookings", json=booking_body(hour(4), hour(5), title="Late set", lead_seconds=600)
        )
        assert theirs.status_code == mine.status_code == 201

        response = jazz.get("/v1/streams", params={"from": hour(1).isoformat(), "to": hour(8).isoformat()})
        assert response.status_code == 200
        assert "Grandmaster" not in response.text and "Chess" not in response.text
        assert "all-hands" not in response.text
        streams = {s["stream_id"]: s for s in response.json()["streams"]}
        main = streams[STREAM]
        assert [(b["mine"], b["title"], b["booking_id"]) for b in main["busy"]] == [
            (False, None, None),
            (True, "Late set", mine.json()["id"]),
            (False, None, None),
        ]
        # Slots include the lead: the default 5 minutes, and the 10 minutes asked for.
        assert main["busy"][0]["start"] == zulu(hour(2) - timedelta(minutes=5))
        assert main["busy"][1]["start"] == zulu(hour(4) - timedelta(minutes=10))
        assert main["busy"][1]["end"] == zulu(hour(5))
        assert [(f["start"], f["end"]) for f in main["free"]] == [
            (zulu(hour(1)), zulu(hour(2) - timedelta(minutes=5))),
            (zulu(hour(3)), zulu(hour(4) - timedelta(minutes=10))),
            (zulu(hour(5)), zulu(hour(6))),
            (zulu(hour(7)), zulu(hour(8))),
        ]
        assert main["name"] == "Main stage"
        other = streams[OTHER_STREAM]
        assert other["busy"] == [] and len(other["free"]) == 1

        plan = jazz.get("/v1/plan", params={"hours": 24})
        assert plan.status_code == 200
        assert "Grandmaster" not in plan.text and "Chess" not in plan.text and "all-hands" not in plan.text
        actions = plan.json()["actions"]
        assert {a["booking_id"] for a in actions if a["mine"]} == {mine.json()["id"]}
        assert any(not a["mine"] and a["reason"] == "enable before a slot on this stream" for a in actions)


def zulu(value: datetime) -> str:
    return value.isoformat().replace("+00:00", "Z")
