"""`onair book ...` and `onair organiser ...`: what the operator sees, what lands in SQL, and that a
refused command writes nothing."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import text

from tests.integration.cli_support import (
    STREAM,
    Onair,
    assert_one_line_error,
    migrated_on_backend,
    migrated_sqlite,
    upcoming_hour,
)
from tests.integration.store_support import BACKENDS

LEAD = timedelta(minutes=5)


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


@pytest.fixture
def onair_sqlite(tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_sqlite(tmp_path)


def book(onair: Onair, hours: tuple[int, int], organiser: str = "Alice", *extra: str) -> list[str]:
    start, end = upcoming_hour(hours[0]), upcoming_hour(hours[1])
    return [
        "book", "add", "--stream", STREAM, "--start", start.isoformat(), "--end", end.isoformat(),
        "--organiser", organiser, *extra,
    ]  # fmt: skip


def organisers_rows(onair: Onair) -> list[tuple[object, ...]]:
    with onair.engine.connect() as conn:
        return [tuple(r) for r in conn.execute(text("SELECT * FROM organisers ORDER BY id"))]


def test_book_add_list_cancel(onair: Onair) -> None:
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    onair.ok("organiser", "add", "Bob")

    added = onair.json(*book(onair, (3, 4), "Alice", "--title", "Jazz night", "--lead", "10m"))
    onair.ok(*book(onair, (5, 6), "Bob"))

    assert added["organiser"] == "Alice" and added["title"] == "Jazz night"
    assert added["lead_seconds"] == 600
    assert [a["kind"] for a in added["actions"]] == ["enable", "finish"]
    assert "booking #1 by Alice 'Jazz night'" in added["actions"][0]["reason"]
    assert [b["organiser"] for b in onair.json("book", "list")] == ["Alice", "Bob"]
    assert [b["id"] for b in onair.json("book", "list", "--organiser", "Bob")] == [2]
    table = onair.ok("book", "list").stdout
    assert "2 bookings" in table and "Jazz night" in table

    cancelled = onair.ok("book", "cancel", "1")

    assert cancelled.stdout.startswith("booking 1 of Alice cancelled; 2 planned actions cancelled")
    assert [b["id"] for b in onair.json("book", "list")] == [2]
    assert {a.state for a in onair.actions(source="broadcast", source_id=1)} == {"cancelled"}
    # The cancelled booking's slot is free again.
    again = onair.json(*book(onair, (3, 4), "Bob"))
    assert again["organiser"] == "Bob"


def test_an_overlapping_booking_or_broadcast_is_refused_naming_the_slot(onair: Onair) -> None:
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    onair.ok("organiser", "add", "Bob")
    onair.ok(*book(onair, (3, 4), "Alice", "--title", "Jazz night"))
    before = onair.snapshot()
    slot = (upcoming_hour(3) - LEAD).strftime("%Y-%m-%d %H:%M")

    refused = onair(*book(onair, (4, 5), "Bob"))  # its 5-minute lead reaches into Alice's hour
    line = assert_one_line_error(refused, "overlaps booking #1 by Alice 'Jazz night'", "(lead included)")
    assert slot in line and f"on stream {STREAM}" in line
    # The lead alone collides, so the refusal explains it (docs/operations.md, "The controls").
    named, _, why = line.removeprefix("error: ").partition(": your ")
    taken = f"{upcoming_hour(3) - LEAD:%H:%M}-{upcoming_hour(4):%H:%M}"
    assert why == (
        f"5m lead makes this slot start at {upcoming_hour(4) - LEAD:%H:%M}, inside booking #1 by Alice "
        f"({taken}); start at {upcoming_hour(4) + LEAD:%H:%M} or use a lead of at most 0s"
    )
    broadcast = onair(
        "broadcast", "add", "--stream", STREAM,
        "--start", upcoming_hour(3).isoformat(), "--end", upcoming_hour(5).isoformat(),
    )  # fmt: skip
    assert assert_one_line_error(broadcast).removeprefix("error: ") == named

    assert onair.snapshot() == before
    onair.ok(*book(onair, (4, 5), "Bob", "--lead", "0"))  # touching is not overlapping


def test_refused_commands_say_why_in_one_line_and_write_nothing(onair_sqlite: Onair) -> None:
    onair = onair_sqlite
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    onair.ok("organiser", "add", "Carol")
    onair.ok("organiser", "revoke", "Carol")
    onair.ok("broadcast", "add", "--stream", STREAM, "--start", upcoming_hour(8).isoformat(),
             "--end", upcoming_hour(9).isoformat())  # fmt: skip
    onair.ok(*book(onair, (-3, -2), "Alice", "--allow-past"))  # booking 2, ended
    before, people = onair.snapshot(), organisers_rows(onair)

    cases = [
        (book(onair, (3, 4), "Nobody"), "no organiser named 'Nobody'"),
        (book(onair, (3, 4), "Carol"), "organiser 'Carol' was revoked at"),
        (book(onair, (4, 3), "Alice"), "is not after start"),
        (book(onair, (3, 4), "Alice", "--lead", "-5m"), "lead '-5m' is negative"),
        (["book", "add", "--stream", STREAM, "--start", "tomorrow", "--end", "later", "--organiser", "Alice"],
         "start 'tomorrow' is not an ISO 8601 time"),
        (book(onair, (-3, -2), "Alice"), "is in the past"),
        (["book", "cancel", "99"], "no broadcast with id 99"),
        (["book", "cancel", "1"], "broadcast 1 is not a booking: use `onair broadcast cancel`"),
        (["book", "cancel", "2"], "booking #2 by Alice ended at ", "Z: there is nothing left to cancel"),
        (["broadcast", "cancel", "2"], "booking #2 by Alice ended at ", "there is nothing left to cancel"),
        (["book", "list", "--organiser", "Nobody"], "no organiser named 'Nobody'"),
        (["organiser", "add", "Alice"], "organiser 'Alice' already exists"),
        (["organiser", "add", " "], "organiser name is empty"),
        (["organiser", "revoke", "Carol"], "organiser 'Carol' was already revoked"),
        (["organiser", "revoke", "Nobody"], "no organiser named 'Nobody'"),
    ]  # fmt: skip
    for args, *message in cases:
        assert_one_line_error(onair(*args), *message)

    assert onair.snapshot() == before
    assert organisers_rows(onair) == people


def test_a_booking_cancelled_on_air_ends_now_and_the_history_says_who(onair: Onair) -> None:
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    onair.ok(*book(onair, (-1, 2), "Alice", "--allow-past"))
    cancelled = onair.ok("book", "cancel", "1")
    assert cancelled.stdout.startswith(
        "booking 1 of Alice cancelled while live: finished early (1 action planned for now to end it)"
    )
    finishes = {
        a.state: a.due_at for a in onair.actions(source="broadcast", source_id=1) if a.kind == "finish"
    }
    assert finishes["cancelled"] == upcoming_hour(2) and finishes["pending"] < upcoming_hour(1)
    history = onair.ok("history", "--stream", STREAM).stdout
    assert "booking #1 by Alice cancelled while live by" in history and "finished early" in history


def test_organiser_token_is_printed_once_and_stored_hashed(onair_sqlite: Onair) -> None:
    added = onair_sqlite.ok("organiser", "add", "Jazz Club")
    quiet = onair_sqlite.ok("organiser", "add", "Bob", "-q")

    first_line, token, feed_line, feed_url = added.stdout.strip().splitlines()
    assert (
        first_line == "organiser 'Jazz Club' added. Their API token (it cannot be shown again; keep it safe):"
    )
    assert feed_line.startswith("Their calendar feed") and "shown once" in feed_line
    assert feed_url.startswith("http://127.0.0.1:8000/v1/calendar/") and feed_url.endswith(".ics")
    feed_secret = feed_url.rsplit("/", 1)[1].removesuffix(".ics")
    assert [(row[2], row[5]) for row in organisers_rows(onair_sqlite)] == [
        (hashlib.sha256(token.encode()).hexdigest(), hashlib.sha256(feed_secret.encode()).hexdigest()),
        (hashlib.sha256(quiet.stdout.strip().encode()).hexdigest(), None),
    ]
    listed = onair_sqlite.ok("organiser", "list").stdout
    assert "Jazz Club" in listed and token not in listed
    assert [(o["name"], o["revoked_at"]) for o in onair_sqlite.json("organiser", "list")] == [
        ("Bob", None),
        ("Jazz Club", None),
    ]

    revoked = onair_sqlite.ok("organiser", "revoke", "Jazz Club")

    assert revoked.stdout.strip() == "organiser 'Jazz Club' revoked: their token no longer works"
    assert [o["name"] for o in onair_sqlite.json("organiser", "list")] == ["Bob"]
    assert [o["name"] for o in onair_sqlite.json("organiser", "list", "--all")] == ["Bob", "Jazz Club"]


def test_plan_shows_a_booking_overriding_off_hours(onair: Onair) -> None:
    onair.add_stream()
    onair.ok("organiser", "add", "Alice")
    off_start = upcoming_hour(2)
    onair.ok("offhours", "add", "--stream", STREAM, "--cron", f"0 {off_start.hour} * * *",
             "--duration", "6h", "--tz", "UTC")  # fmt: skip

    booking = onair.json(*book(onair, (3, 4), "Alice"))

    plan = onair.json("plan", "--hours", "12")["actions"]
    mine = [(a["kind"], a["due_at"], a["reason"]) for a in plan if a["stream_id"] == STREAM]
    booked = f"booking #{booking['id']} by Alice"
    assert ("disable", off_start.isoformat(), f"off-hours #1 (0 {off_start.hour} * * * UTC) starts") in mine
    assert ("enable", (upcoming_hour(3) - LEAD).isoformat()) in [m[:2] for m in mine if booked in m[2]]
    assert (
        "disable",
        upcoming_hour(4).isoformat(),
        f"disable after {booked} ends inside off-hours #1 (the booking overrode them)",
    ) in mine
