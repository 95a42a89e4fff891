"""Bad input at the edges of the booking API is a 422 naming the field (or a 415 for a body that is
not JSON), never a 500; every reply carries the security headers; and a real crash is still a JSON
500 that says nothing of the internals. Over real HTTP, on SQLite and PostgreSQL (where a NUL byte
would otherwise reach the database)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import text

from tests.integration.api_support import ApiServer, api_server, booking_body, hour, iso
from tests.integration.store_support import BACKENDS

EDGES_OF_THE_CALENDAR = ["9999-12-31T23:00:00Z", "0001-01-01T00:00:01+14:00"]


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def _field(response: httpx.Response, name: str) -> str:
    """The message for `name` of a 422 in the uniform error body."""
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "invalid_input"
    fields = {f["name"]: f["message"] for f in error["fields"]}
    assert name in fields, fields
    return fields[name]


@pytest.mark.parametrize("zone", ["Europe", "America", "Etc", "x" * 256, "Europe/Berlin\x00"])
def test_a_zone_that_is_a_tzdata_folder_too_long_or_has_a_nul_is_422_on_tz(api: ApiServer, zone: str) -> None:
    with api.client("Jazz Club") as jazz:
        for path in ("/v1/plan", "/v1/streams", "/v1/bookings"):
            message = _field(jazz.get(path, params={"tz": zone}), "tz")
            assert "time zone" in message or "control character" in message, message
        refused = jazz.post("/v1/bookings", params={"tz": zone}, json=booking_body(hour(2), hour(3)))
        _field(refused, "tz")
    assert api.broadcast_count() == 0


@pytest.mark.parametrize("when", EDGES_OF_THE_CALENDAR)
def test_times_at_the_edges_of_the_calendar_are_422_in_bodies_and_queries(api: ApiServer, when: str) -> None:
    with api.client("Jazz Club") as jazz:
        for field in ("start", "end"):
            body = {**booking_body(hour(2), hour(3)), field: when}
            assert "outside the times onair accepts" in _field(jazz.post("/v1/bookings", json=body), field)
        for field in ("from", "to"):
            answer = jazz.get("/v1/streams", params={field: when, "tz": "Pacific/Kiritimati"})
            assert "outside the times onair accepts" in _field(answer, field)
        start, end = hour(2), hour(3)
        booking = jazz.post("/v1/bookings", json=booking_body(start, end)).json()
        moved = jazz.patch(f"/v1/bookings/{booking['id']}", json={"end": when}, params={"tz": "Etc/GMT-14"})
        assert "outside the times onair accepts" in _field(moved, "end")
    row = api.booking_row(booking["id"])
    assert (row.starts_at, row.ends_at) == (start, end)


def test_control_characters_in_titles_and_query_parameters_are_422_and_write_nothing(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz:
        for title, code in (("a\x00b", "U+0000"), ("\x1b[2Jgone", "U+001B"), ("two\nlines", "U+000A")):
            refused = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3), title=title))
            expected = f"title contains a control character ({code} at position"
            assert _field(refused, "title").startswith(expected)
        for params in ({"stream_id": "\x00"}, {"hours": "2\x00"}):
            name = next(iter(params))
            assert "character (U+0000 at position" in _field(jazz.get("/v1/plan", params=params), name)
        booking = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3), title="Late set")).json()
        renamed = jazz.patch(f"/v1/bookings/{booking['id']}", json={"title": "\x1b]0;owned\x07"})
        assert _field(renamed, "title") == "title contains a control character (U+001B at position 1)"
    assert api.broadcast_count() == 1
    assert api.booking_row(booking["id"]).title == "Late set"


def test_a_repeated_json_key_is_422_a_non_json_body_415_and_one_over_64_kib_413(api: ApiServer) -> None:
    start, end = iso(hour(2)), iso(hour(3))
    body = booking_body(hour(2), hour(3))
    with api.client("Jazz Club") as jazz:
        again = iso(hour(5))
        stream = body["stream_id"]
        twice = f'{{"stream_id": "{stream}", "start": "{start}", "end": "{end}", "start": "{again}"}}'
        repeated = jazz.post("/v1/bookings", content=twice, headers={"Content-Type": "application/json"})
        assert _field(repeated, "start") == "is given more than once in the body"
        for media in ("text/plain", "application/x-www-form-urlencoded", "application/xml"):
            refused = jazz.post("/v1/bookings", json=body, headers={"Content-Type": media})
            assert refused.status_code == 415, refused.text
            error = refused.json()["error"]
            assert error["code"] == "unsupported_media_type" and "application/json" in error["message"]
        too_big = jazz.post("/v1/bookings", json={**body, "title": "x" * 70_000})
        assert too_big.status_code == 413 and too_big.headers["x-content-type-options"] == "nosniff"
        assert "at most 65536" in too_big.json()["error"]["fields"][0]["message"]
        assert api.broadcast_count() == 0
        # A JSON type with a charset is JSON, and so is a body sent without any Content-Type.
        charset = {"Content-Type": "application/json; charset=utf-8"}
        assert jazz.post("/v1/bookings", json=body, headers=charset).status_code == 201
        later = booking_body(hour(4), hour(5))
        untyped = jazz.build_request("POST", "/v1/bookings", json=later)
        del untyped.headers["Content-Type"]
        assert jazz.send(untyped).status_code == 201
    assert api.broadcast_count() == 2


def test_replies_carry_nosniff_no_store_under_v1_and_no_server_banner(api: ApiServer) -> None:
    with api.client("Jazz Club") as jazz, api.client() as anonymous:
        replies = {
            "health": anonymous.get("/health"),
            "docs": anonymous.get("/docs"),
            "401": anonymous.get("/v1/bookings"),
            "200": jazz.get("/v1/bookings"),
            "201": jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3))),
            "422": jazz.get("/v1/plan", params={"tz": "Europe"}),
            "404": jazz.get("/v1/nothing"),
        }
    for what, reply in replies.items():
        assert reply.headers.get("x-content-type-options") == "nosniff", what
        assert "server" not in reply.headers, (what, reply.headers)
        if what not in ("health", "docs"):
            assert reply.headers.get("cache-control") == "no-store", what


def test_an_unexpected_failure_is_a_json_500_without_internals(api: ApiServer) -> None:
    """Not bad input (that never gets here) but a broken database: the body is the fixed message."""
    with api.engine.begin() as conn:
        conn.execute(text("DROP TABLE action_events"))
        conn.execute(text("DROP TABLE actions"))
    with api.client("Jazz Club") as jazz:
        crashed = jazz.get("/v1/plan")
    assert crashed.status_code == 500
    assert crashed.json() == {
        "error": {"code": "internal", "message": "internal error; it was logged", "fields": []}
    }
    assert crashed.headers["x-content-type-options"] == "nosniff"
    for leak in ("Traceback", "actions", "sqlite", "psycopg", "SELECT", api.tokens["Jazz Club"]):
        assert leak not in crashed.text


def test_docs_work_offline_head_is_get_without_a_body_and_405_names_every_method(api: ApiServer) -> None:
    with api.client() as anonymous:
        page = anonymous.get("/docs")
        assert page.status_code == 200 and "SwaggerUIBundle" in page.text
        assert "cdn" not in page.text and "https://" not in page.text
        for asset in ("swagger-ui-bundle.js", "swagger-ui.css", "favicon.png"):
            assert anonymous.get(f"/docs/assets/{asset}").status_code == 200, asset
        head = anonymous.head("/health")
        assert head.status_code == 200 and head.content == b"" and head.headers["content-length"] != "0"
        wrong = anonymous.put("/v1/bookings")
        assert wrong.status_code == 405
        assert wrong.headers["allow"] == "GET, POST"
