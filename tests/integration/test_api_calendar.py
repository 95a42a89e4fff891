"""Each organiser's own calendar feed over real HTTP: their bookings in full, every other slot as
plain busy time, never another organiser's name or title; by token, or at the secret address that
`onair organiser add` prints for calendar apps. Every feed is parsed back with `icalendar`."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
from icalendar import Calendar
from jsonschema import Draft202012Validator
from typer.testing import CliRunner

from tests.integration.api_support import ApiServer, api_server, booking_body, free_port, hour, onair_api
from tests.integration.store_support import BACKENDS, migrated
from worker.cli.main import app as onair

LEAD = timedelta(minutes=5)


@pytest.fixture(params=BACKENDS)
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


def _events(response: httpx.Response) -> dict[str, tuple[object, object, str]]:
    """The feed's events by SUMMARY: (start, end, uid); the feed must parse as RFC 5545."""
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/calendar")
    calendar = Calendar.from_ical(response.content)
    assert calendar["VERSION"] == "2.0" and calendar["PRODID"]
    found: dict[str, tuple[object, object, str]] = {}
    uids = []
    for event in calendar.walk("VEVENT"):
        assert event.get("DTSTAMP") is not None
        uids.append(str(event["UID"]))
        found.setdefault(str(event["SUMMARY"]), (event.decoded("DTSTART"), event.decoded("DTEND"), uids[-1]))
    assert len(uids) == len(set(uids)), uids
    return found


def _onair(api: ApiServer, *args: str) -> list[str]:
    url = api.engine.url.render_as_string(hide_password=False)
    result = CliRunner().invoke(
        onair, list(args), env={"ONAIR_DATABASE_URL": url, "ONAIR_PUBLIC_URL": api.base_url + "/"}
    )
    assert result.exit_code == 0, result.output
    return result.stdout.strip().splitlines()


def test_an_organisers_calendar_has_their_bookings_and_only_busy_time_of_others(api: ApiServer) -> None:
    h = {n: hour(n) for n in range(2, 10)}  # taken once: hour() moves on with the clock
    api.ops_broadcast(h[6], h[7], "Company all-hands")
    with api.client("Chess Society") as chess, api.client("Jazz Club") as jazz:
        assert chess.post("/v1/bookings", json=booking_body(h[2], h[3], title="Grandmaster night"))
        mine = jazz.post("/v1/bookings", json=booking_body(h[4], h[5], title="Late set")).json()
        gone = jazz.post("/v1/bookings", json=booking_body(h[8], h[9], title="Cancelled gig")).json()
        assert jazz.delete(f"/v1/bookings/{gone['id']}").status_code == 200

        feed = jazz.get("/v1/calendar.ics")
        assert feed.headers["cache-control"] == "no-store"
        events = _events(feed)
        for secret in ("Grandmaster", "Chess", "all-hands", "Cancelled gig"):
            assert secret not in feed.text
        assert set(events) == {"Late set", "Busy: Main stage"}
        assert events["Late set"][:2] == (h[4], h[5])
        assert events["Late set"][2] == f"booking-{mine['id']}@onair"
        busy = [
            (e.decoded("DTSTART"), e.decoded("DTEND"))
            for e in Calendar.from_ical(feed.content).walk("VEVENT")
            if str(e["SUMMARY"]).startswith("Busy")
        ]
        # The busy slots include the lead, as GET /v1/streams shows them.
        assert sorted(busy) == [(h[2] - LEAD, h[3]), (h[6], h[7])]

        theirs = _events(chess.get("/v1/calendar.ics"))
        assert set(theirs) == {"Grandmaster night", "Busy: Main stage"}
        assert "Late set" not in chess.get("/v1/calendar.ics").text

    with api.client() as anonymous:
        refused = anonymous.get("/v1/calendar.ics")
        assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthorized"


def test_the_secret_feed_url_printed_once_works_without_a_header_until_replaced_or_revoked(
    api: ApiServer,
) -> None:
    out = _onair(api, "organiser", "add", "Folk Night")
    first = out[-1]
    assert first.startswith(f"{api.base_url}/v1/calendar/") and first.endswith(".ics")
    secret = first.rsplit("/", 1)[1].removesuffix(".ics")
    token = out[1]
    api.tokens["Folk Night"] = token
    start, end = hour(2), hour(3)
    with api.client("Folk Night") as folk:
        assert folk.post("/v1/bookings", json=booking_body(start, end, title="Reel session"))
        by_token = _events(folk.get("/v1/calendar.ics"))

    with httpx.Client(timeout=30) as calendar_app:
        by_feed = calendar_app.get(first)
        assert _events(by_feed) == by_token == {"Reel session": (start, end, by_token["Reel session"][2])}
        assert by_feed.headers["cache-control"] == "no-store"

        second = _onair(api, "organiser", "feed", "Folk Night")[-1]
        assert second != first
        old = calendar_app.get(first)
        assert old.status_code == 404 and old.json()["error"]["code"] == "not_found"
        document = calendar_app.get(f"{api.base_url}/openapi.json").json()
        documented = document["paths"]["/v1/calendar/{feed}.ics"]["get"]["responses"]["404"]["content"]
        schema = {"components": document["components"], **documented["application/json"]["schema"]}
        Draft202012Validator(schema).validate(old.json())
        assert _events(calendar_app.get(second)) == by_token

        api.revoke("Folk Night")
        assert calendar_app.get(second).status_code == 404
        assert calendar_app.get(f"{api.base_url}/v1/calendar/not-a-feed.ics").status_code == 404
    # Only a hash of the feed secret is stored.
    with api.engine.connect() as conn:
        stored = conn.exec_driver_sql("SELECT feed_token_hash FROM organisers").scalars().all()
    assert secret not in [s for s in stored if s]


def test_onair_api_keeps_feed_secrets_out_of_its_log_and_sends_no_server_banner(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path}/onair.db"
    for _ in migrated(url):
        pass
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    added = CliRunner().invoke(
        onair, ["organiser", "add", "Folk Night"], env={"ONAIR_DATABASE_URL": url, "ONAIR_PUBLIC_URL": base}
    )
    assert added.exit_code == 0, added.output
    feed = added.stdout.strip().splitlines()[-1]
    secret = feed.rsplit("/", 1)[1].removesuffix(".ics")
    with onair_api(url, port) as proc:
        answer = httpx.get(feed, timeout=10)
        assert "server" not in answer.headers
        assert Calendar.from_ical(answer.content)["X-WR-CALNAME"] == "onair: Folk Night"
        assert httpx.get(f"{base}/v1/calendar/{secret}x.ics", timeout=10).status_code == 404
    logged = proc.output
    assert b"/v1/calendar/<secret>.ics" in logged, logged
    assert secret.encode() not in logged
