"""The booking API over real HTTP: validation, conflicts (also two callers racing for one slot), and
the ledger following every create, move and cancel at once."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from tests.integration.api_support import STREAM, ApiServer, api_server, booking_body, hour, iso
from tests.integration.store_support import BACKENDS
from worker.store.types import to_sqlite_text


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def _fields(response: httpx.Response) -> dict[str, str]:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    return {f["name"]: f["message"] for f in error["fields"]}


BAD_BOOKINGS: list[tuple[str, dict[str, Any], str, str]] = [
    ("end before start", booking_body(hour(3), hour(2)), "end", "is not after start"),
    (
        "unknown stream",
        {**booking_body(hour(2), hour(3)), "stream_id": "nope"},
        "stream_id",
        "unknown stream",
    ),
    ("start in the past", booking_body(hour(-1), hour(3)), "start", "is in the past"),
    ("not a time", {**booking_body(hour(2), hour(3)), "start": "next friday"}, "start", "is not an ISO 8601"),
    (
        "no offset",
        {**booking_body(hour(2), hour(3)), "end": "2030-01-01T10:00:00"},
        "end",
        "has no UTC offset",
    ),
    (
        "time as a number",
        {**booking_body(hour(2), hour(3)), "start": 1767225600},
        "start",
        "must be a string",
    ),
    ("missing stream", {"start": iso(hour(2)), "end": iso(hour(3))}, "stream_id", "is required"),
    ("unknown field", {**booking_body(hour(2), hour(3)), "colour": "red"}, "colour", "is not a known field"),
    (
        "negative lead",
        booking_body(hour(2), hour(3), lead_seconds=-5),
        "lead_seconds",
        "greater than or equal",
    ),
    ("lead as text", booking_body(hour(2), hour(3), lead_seconds="300"), "lead_seconds", "valid integer"),
    ("long title", booking_body(hour(2), hour(3), title="x" * 256), "title", "at most 255"),
    ("too long", booking_body(hour(2), hour(2) + timedelta(days=8)), "end", "at most 7 days"),
]


def test_each_bad_booking_is_422_naming_its_field_and_writes_nothing(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        for case, body, field, says in BAD_BOOKINGS:
            fields = _fields(jazz.post("/v1/bookings", json=body))
            assert says in fields.get(field, ""), (case, fields)
    assert api.broadcast_count() == 0


def test_bad_bodies_queries_and_ids_are_422_naming_what_is_wrong(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        assert "is not valid JSON" in _fields(jazz.post("/v1/bookings", content=b"{nope"))["body"]
        assert "must be a JSON object" in _fields(jazz.post("/v1/bookings", json=[1, 2]))["body"]
        assert "is empty" in _fields(jazz.post("/v1/bookings"))["body"]
        bad_tz = jazz.post("/v1/bookings", params={"tz": "Mars/Olympus"}, json=booking_body(hour(2), hour(3)))
        assert "unknown time zone 'Mars/Olympus'" in _fields(bad_tz)["tz"]
        assert "not a positive integer" in _fields(jazz.get("/v1/bookings/abc"))["booking_id"]
        span = {"from": iso(hour(5)), "to": iso(hour(4))}
        assert "is not after from" in _fields(jazz.get("/v1/streams", params=span))["to"]
        assert "at most 31 days" in _fields(jazz.get("/v1/streams", params={"to": iso(hour(24 * 40))}))["to"]
        assert (
            "has no UTC offset"
            in _fields(jazz.get("/v1/streams", params={"from": "2030-01-01T00:00"}))["from"]
        )
        assert "greater than 0" in _fields(jazz.get("/v1/plan", params={"hours": "0"}))["hours"]
        assert "unknown stream" in _fields(jazz.get("/v1/plan", params={"stream_id": "nope"}))["stream_id"]
        assert "is not a known field" in _fields(jazz.get("/v1/plan", params={"hour": "2"}))["hour"]

        booking = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3))).json()
        path = f"/v1/bookings/{booking['id']}"
        assert "at least one of" in _fields(jazz.patch(path, json={}))["body"]
        assert "cannot be null" in _fields(jazz.patch(path, json={"start": None}))["start"]
        assert "is not after start" in _fields(jazz.patch(path, json={"end": iso(hour(1))}))["end"]
        assert "is in the past" in _fields(jazz.patch(path, json={"start": iso(hour(-2))}))["start"]
    row = api.booking_row(booking["id"])
    assert (row.starts_at, row.ends_at) == (hour(2), hour(3))


def test_a_colliding_booking_is_409_naming_the_slot_without_anothers_title(api: ApiServer) -> None:
    api.ops_broadcast(hour(6), hour(7), "Company all-hands")
    with api.client("Jazz Club") as jazz, api.client("Chess Society") as chess:
        mine = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3), title="Late set")).json()
        theirs = chess.post("/v1/bookings", json=booking_body(hour(4), hour(5), title="Grandmaster night"))
        assert theirs.status_code == 201

        # Overlapping only through its 5-minute lead.
        own_clash = jazz.post("/v1/bookings", json=booking_body(hour(3) + timedelta(minutes=4), hour(3.5)))
        assert own_clash.status_code == 409
        error = own_clash.json()["error"]
        assert error["code"] == "conflict"
        assert f"your booking #{mine['id']} 'Late set'" in error["message"]
        assert error["conflicts"][0]["booking_id"] == mine["id"]
        assert error["conflicts"][0]["end"] == iso(hour(3)).replace("+00:00", "Z")

        for start, end in ((hour(4.5), hour(5.5)), (hour(6.5), hour(6.75))):
            clash = jazz.post("/v1/bookings", json=booking_body(start, end, title="Mine"))
            assert clash.status_code == 409
            assert "a busy slot" in clash.json()["error"]["message"]
            assert (
                "Grandmaster" not in clash.text
                and "Chess" not in clash.text
                and "all-hands" not in clash.text
            )
            assert clash.json()["error"]["conflicts"][0]["title"] is None

        moved = jazz.patch(f"/v1/bookings/{mine['id']}", json={"end": iso(hour(4.5))})
        assert moved.status_code == 409 and "a busy slot" in moved.json()["error"]["message"]
    assert api.broadcast_count() == 3
    assert api.booking_row(mine["id"]).ends_at == hour(3)


def test_two_organisers_posting_the_same_slot_at_once_get_exactly_one_201(api: ApiServer) -> None:
    for round_ in range(3):
        start, end = hour(2 + 2 * round_), hour(3 + 2 * round_)
        barrier = threading.Barrier(2)
        statuses: dict[str, int] = {}

        def book(
            who: str,
            start: Any = start,
            end: Any = end,
            barrier: threading.Barrier = barrier,
            statuses: dict[str, int] = statuses,
        ) -> None:
            with api.client(who) as client:
                barrier.wait()
                statuses[who] = client.post(
                    "/v1/bookings", json=booking_body(start, end, title=who)
                ).status_code

        threads = [threading.Thread(target=book, args=(who,)) for who in ("Jazz Club", "Chess Society")]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert sorted(statuses.values()) == [201, 409], statuses
    assert api.broadcast_count() == 3


def _plan(client: httpx.Client, booking_id: int) -> list[tuple[str, str]]:
    actions = client.get("/v1/plan", params={"hours": 24, "stream_id": STREAM}).json()["actions"]
    return [(a["kind"], a["due_at"]) for a in actions if a["booking_id"] == booking_id]


def z(value: Any) -> str:
    return iso(value).replace("+00:00", "Z")


def test_create_move_and_cancel_replan_the_ledger_at_once(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        created = jazz.post(
            "/v1/bookings", params={"tz": "Europe/Berlin"}, json=booking_body(hour(2), hour(3))
        )
        assert created.status_code == 201
        booking = created.json()
        assert booking["status"] == "scheduled"
        assert booking["start"] == z(hour(2)) and booking["start_local"].endswith(("+01:00", "+02:00"))
        enable_at = z(hour(2) - timedelta(minutes=5))
        assert [(a["kind"], a["due_at"]) for a in booking["actions"]] == [
            ("enable", enable_at),
            ("finish", z(hour(3))),
        ]
        assert _plan(jazz, booking["id"]) == [("enable", enable_at), ("finish", z(hour(3)))]

        moved = jazz.patch(
            f"/v1/bookings/{booking['id']}",
            json={"start": iso(hour(4)), "end": iso(hour(5)), "title": "Moved"},
        )
        assert moved.status_code == 200, moved.text
        assert moved.json()["title"] == "Moved"
        new_enable = z(hour(4) - timedelta(minutes=5))
        assert _plan(jazz, booking["id"]) == [("enable", new_enable), ("finish", z(hour(5)))]
        states = {(a["kind"], a["due_at"]): a["state"] for a in moved.json()["actions"]}
        assert states[("enable", enable_at)] == "cancelled"
        assert states[("enable", new_enable)] == "pending"

        # The freed slot can be booked again at once.
        again = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3)))
        assert again.status_code == 201

        cancelled = jazz.delete(f"/v1/bookings/{booking['id']}")
        assert cancelled.status_code == 200
        assert cancelled.json()["status"] == "cancelled" and cancelled.json()["cancelled_at"]
        assert _plan(jazz, booking["id"]) == []
        assert {a["state"] for a in cancelled.json()["actions"]} == {"cancelled"}
        assert jazz.delete(f"/v1/bookings/{booking['id']}").status_code == 200
        refused = jazz.patch(f"/v1/bookings/{booking['id']}", json={"title": "back?"})
        assert refused.status_code == 409 and "was cancelled" in refused.json()["error"]["message"]

        listed = jazz.get("/v1/bookings").json()["bookings"]
        assert [b["id"] for b in listed] == [again.json()["id"]]
        everything = jazz.get("/v1/bookings", params={"all": "true"}).json()["bookings"]
        assert {b["id"] for b in everything} == {booking["id"], again.json()["id"]}
    assert api.booking_row(booking["id"]).cancelled_at is not None


def test_a_booking_on_air_cancelled_ends_now_and_an_ended_one_is_refused(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        soon = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=5)
        on_air = jazz.post("/v1/bookings", json=booking_body(soon, soon + timedelta(hours=1), lead_seconds=0))
        short = jazz.post(
            "/v1/bookings",
            json={
                **booking_body(soon + timedelta(hours=2), soon + timedelta(hours=2, seconds=1)),
                "lead_seconds": 0,
            },
        )
        assert on_air.status_code == short.status_code == 201, (on_air.text, short.text)
        time.sleep(max(0.0, (soon - datetime.now(UTC)).total_seconds()) + 0.5)
        cancelled = jazz.delete(f"/v1/bookings/{on_air.json()['id']}")
        assert cancelled.status_code == 200, cancelled.text
        finishes = {a["state"]: a["due_at"] for a in cancelled.json()["actions"] if a["kind"] == "finish"}
        assert finishes["cancelled"] == z(soon + timedelta(hours=1))
        assert finishes["pending"] < z(soon + timedelta(seconds=60))
        [finish] = [
            a for a in cancelled.json()["actions"] if a["kind"] == "finish" and a["state"] == "pending"
        ]
        assert finish["reason"].endswith("cancelled while live, finished early")

    with api.engine.begin() as conn:  # the short booking is over: moved into the past in SQL
        conn.execute(
            text("UPDATE broadcasts SET starts_at = :a, ends_at = :b WHERE id = :i"),
            {
                "a": stamp(api, soon - timedelta(hours=2)),
                "b": stamp(api, soon - timedelta(hours=1)),
                "i": short.json()["id"],
            },
        )
    with api.client("Jazz Club") as jazz:
        refused = jazz.delete(f"/v1/bookings/{short.json()['id']}")
        assert refused.status_code == 409
        assert refused.json()["error"]["message"].endswith("Z: there is nothing left to cancel")
    assert api.booking_row(short.json()["id"]).cancelled_at is None


def stamp(api: ApiServer, value: datetime) -> object:
    return to_sqlite_text(value) if api.engine.dialect.name == "sqlite" else value
