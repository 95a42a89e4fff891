"""`onair plan --days N`: per stream, the slots, the off-hours windows (and the bookings that override
them) and every action, in the operator's zone; the same as JSON and as an iCalendar feed."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from icalendar import Calendar

from tests.integration.cli_support import (
    STREAM,
    Onair,
    add_broadcast,
    assert_one_line_error,
    migrated_on_backend,
    upcoming_hour,
)
from tests.integration.store_support import BACKENDS
from worker.cli.ics import read_events

ANY_TIME = {"since": datetime(2000, 1, 1, tzinfo=UTC), "until": datetime(2100, 1, 1, tzinfo=UTC)}

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def berlin_evening(days_ahead: int, hour: int, minute: int = 0) -> datetime:
    """A wall time in Berlin `days_ahead` local days from now, as an aware UTC instant."""
    day = (datetime.now(BERLIN) + timedelta(days=days_ahead)).date()
    return datetime(day.year, day.month, day.day, hour, minute, tzinfo=BERLIN).astimezone(UTC)


def a_booking_inside_off_hours(onair: Onair) -> tuple[dict[str, Any], dict[str, Any], datetime, datetime]:
    """Off-hours every night 22:00-06:00 Berlin; a booking 23:00-23:30 Berlin two days ahead; and an ops
    broadcast at noon three days ahead."""
    onair.add_stream()
    onair.ok("organiser", "add", "Jazz Club", "-q")
    onair.ok(
        "offhours", "add", "--stream", STREAM, "--cron", "0 22 * * *", "--duration", "8h",
        "--tz", "Europe/Berlin", "--label", "night",
    )  # fmt: skip
    start, end = berlin_evening(2, 23), berlin_evening(2, 23, 30)
    booking = onair.json(
        "book", "add", "--stream", STREAM, "--start", start.isoformat(), "--end", end.isoformat(),
        "--organiser", "Jazz Club", "--title", "Late jazz",
    )  # fmt: skip
    noon = berlin_evening(3, 12)
    broadcast = add_broadcast(onair, noon, noon + timedelta(hours=1), "--title", "Noon news")
    return booking, broadcast, start, end


def test_the_timeline_shows_a_booking_overriding_off_hours(onair: Onair) -> None:
    booking, broadcast, start, end = a_booking_inside_off_hours(onair)

    table = onair.ok("plan", "--days", "7", "--tz", "Europe/Berlin").stdout
    offset = start.astimezone(BERLIN).strftime("%z")
    keeps = f"keeps the stream enabled 22:55-23:30 {offset[:3]}:{offset[3:]}"
    assert f"booking #{booking['id']} by Jazz Club {keeps}" in table
    assert f"booking #{booking['id']} by Jazz Club 'Late jazz'" in table and "Noon news" in table
    assert "off-hours #1 'night'" in table and "stream disabled" in table
    # Beyond the planner's 24 h horizon the ledger has nothing yet: the actions are forecast.
    assert "enable (forecast)" in table and "not in the ledger yet" in table
    assert "(the booking overrode them)" in table  # the disable when the booking ends inside the window

    plan = onair.json("plan", "--days", "7", "--tz", "Europe/Berlin")
    assert plan["timezone"] == "Europe/Berlin"
    (stream,) = plan["streams"]
    assert stream["stream_id"] == STREAM and stream["stream_name"] == "morning show"
    slots = {s["id"]: s for s in stream["slots"]}
    assert slots[booking["id"]] == {
        **slots[booking["id"]],
        "kind": "booking",
        "organiser": "Jazz Club",
        "title": "Late jazz",
        "starts_at": start.isoformat(),
        "ends_at": end.isoformat(),
        "enabled_from": (start - timedelta(minutes=5)).isoformat(),
    }
    assert slots[broadcast["id"]]["kind"] == "broadcast" and slots[broadcast["id"]]["organiser"] is None
    assert 7 <= len(stream["off_hours"]) <= 8  # a window may be running now
    overridden = [w for w in stream["off_hours"] if w["overridden_by"]]
    assert [w["overridden_by"] for w in overridden] == [
        [
            {
                "slot_id": booking["id"],
                "kind": "booking",
                "organiser": "Jazz Club",
                "enabled_from": (start - timedelta(minutes=5)).isoformat(),
                "enabled_until": end.isoformat(),
            }
        ]
    ]
    actions = stream["actions"]
    dues = [a["due_at"] for a in actions]
    assert dues == sorted(dues)
    by_source = [
        (a["kind"], a["due_at"])
        for a in actions
        if (a["source"], a["source_id"]) == ("broadcast", booking["id"])
    ]
    assert by_source == [
        ("enable", (start - timedelta(minutes=5)).isoformat()),
        ("finish", end.isoformat()),
    ]
    after_booking = [a for a in actions if a["kind"] == "disable" and a["due_at"] == end.isoformat()]
    assert len(after_booking) == 1 and "booking overrode" in after_booking[0]["reason"]
    states = {a["state"] for a in actions}
    assert "forecast" in states and states <= {"pending", "forecast"}
    assert all(a["id"] is None for a in actions if a["state"] == "forecast")


def test_days_and_hours_bound_the_range_and_exclude_each_other(onair: Onair) -> None:
    onair.add_stream()
    soon = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    later = add_broadcast(onair, upcoming_hour(50), upcoming_hour(51))

    def slot_ids(*args: str) -> set[int]:
        return {s["id"] for stream in onair.json("plan", *args)["streams"] for s in stream["slots"]}

    assert slot_ids() == {soon["id"]}
    assert slot_ids("--days", "3") == {soon["id"], later["id"]}
    assert slot_ids("--hours", "10") == {soon["id"]}
    assert_one_line_error(onair("plan", "--days", "2", "--hours", "5"), "give --hours or --days, not both")
    assert_one_line_error(onair("plan", "--json", "--ics", "-"), "give one of --json and --ics")


def test_the_ics_export_has_one_event_per_slot_at_its_utc_times(onair: Onair, tmp_path: Path) -> None:
    booking, broadcast, start, end = a_booking_inside_off_hours(onair)
    target = tmp_path / "plan.ics"
    written = onair.ok("plan", "--days", "7", "--ics", str(target)).stdout
    plan = onair.json("plan", "--days", "7")
    windows = plan["streams"][0]["off_hours"]
    assert f"wrote {2 + len(windows)} events to {target}" in written

    raw = target.read_bytes()
    assert raw.startswith(b"BEGIN:VCALENDAR\r\n") and raw.endswith(b"END:VCALENDAR\r\n")
    assert b"\n" not in raw.replace(b"\r\n", b"")  # every line ends CRLF
    assert max(len(line) for line in raw.split(b"\r\n")) <= 75
    assert len(Calendar.from_ical(raw).walk("VEVENT")) == 2 + len(windows)  # valid for `icalendar`
    events = {e.text("UID"): e for e in read_events(raw.decode("utf-8"), **ANY_TIME)}
    assert len(events) == 2 + len(windows)

    jazz = events[f"broadcast-{booking['id']}@onair"]
    assert jazz.text("DTSTART") == start.strftime("%Y%m%dT%H%M%SZ")
    assert jazz.text("DTEND") == end.strftime("%Y%m%dT%H%M%SZ")
    assert jazz.text("SUMMARY") == "Late jazz (Jazz Club)"
    assert jazz.text("X-ONAIR-STREAM") == STREAM and jazz.text("CATEGORIES") == "booking"
    description = jazz.text("DESCRIPTION") or ""
    assert f"booking #{booking['id']} by Jazz Club on stream morning show ({STREAM})" in description
    assert "enabled 5m before the start" in description
    assert {"DTSTAMP", "UID", "DTSTART", "DTEND"} <= set(jazz.component.keys())

    news = events[f"broadcast-{broadcast['id']}@onair"]
    assert news.text("SUMMARY") == "Noon news" and news.text("CATEGORIES") == "broadcast"
    off = [e for uid, e in events.items() if uid and uid.startswith("offhours-1-")]
    assert sorted(e.text("DTSTART") for e in off) == sorted(
        datetime.fromisoformat(w["starts_at"]).strftime("%Y%m%dT%H%M%SZ") for w in windows
    )
    assert any(f"booking #{booking['id']} by Jazz Club keeps" in (e.text("DESCRIPTION") or "") for e in off)

    # Stable: the same UIDs next time; and `-` writes the calendar to stdout.
    again = read_events(onair.ok("plan", "--days", "7", "--ics", "-").stdout, **ANY_TIME)
    assert {e.text("UID") for e in again} == set(events)
