"""`onair broadcast add --cron ...` and `onair series ...` on a migrated database: what the operator
reads, what lands in SQL, and that bad input writes nothing."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import select

from tests.integration.cli_support import (
    STREAM,
    Onair,
    assert_one_line_error,
    migrated_on_backend,
)
from tests.integration.store_support import BACKENDS
from worker.store.db import transaction
from worker.store.models import Broadcast, BroadcastSeries

NEW_YORK = ZoneInfo("America/New_York")
WEEKDAYS = ("--stream", STREAM, "--cron", "0 19 * * MON-FRI", "--duration", "90m", "--tz", "America/New_York")


@pytest.fixture(params=BACKENDS)
def cli(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    for onair in migrated_on_backend(request, tmp_path):
        onair.add_stream()
        yield onair


def rows(onair: Onair, series_id: int) -> list[Broadcast]:
    with transaction(onair.engine, immediate=False) as session:
        return list(
            session.scalars(
                select(Broadcast).where(Broadcast.series_id == series_id).order_by(Broadcast.starts_at)
            )
        )


def live(onair: Onair, series_id: int) -> list[Broadcast]:
    return [r for r in rows(onair, series_id) if r.cancelled_at is None]


def test_add_prints_the_series_and_its_next_three_occurrences_in_its_zone(cli: Onair) -> None:
    result = cli.ok(
        "broadcast", "add", *WEEKDAYS, "--until", "2099-03-31", "--skip", "2099-12-25", "--title", "News"
    )

    lines = result.stdout.splitlines()
    assert lines[0] == (
        f"series 1 added: stream {STREAM}, '0 19 * * MON-FRI' America/New_York, 1h30m each, "
        "enable 5m before, until 2099-03-31 23:59:59 -04:00, skipping 2099-12-25"
    )
    assert len(lines) == 4
    for line in lines[1:]:
        assert re.fullmatch(
            r"  \d{4}-\d\d-\d\d 19:00:00 -0[45]:00 to \d{4}-\d\d-\d\d 20:30:00 -0[45]:00", line
        ), line
    occurrences = live(cli, 1)
    assert len(occurrences) > 200  # a year ahead, weekdays
    first = occurrences[0].starts_at.astimezone(NEW_YORK)
    assert lines[1].startswith(f"  {first:%Y-%m-%d} 19:00:00")
    assert {(r.title, r.lead_seconds, r.stream_id) for r in occurrences} == {("News", 300, STREAM)}
    assert all(r.starts_at.astimezone(NEW_YORK).weekday() < 5 for r in occurrences)


def test_the_two_forms_do_not_mix_and_a_refusal_writes_nothing(cli: Onair) -> None:
    before = cli.snapshot()
    assert_one_line_error(
        cli("broadcast", "add", *WEEKDAYS, "--start", "2099-01-01T10:00Z"),
        "--start is for a one-off broadcast, --cron for a recurring one: give one form",
    )
    assert_one_line_error(
        cli(
            "broadcast",
            "add",
            "--stream",
            STREAM,
            "--start",
            "2099-01-01T10:00Z",
            "--end",
            "2099-01-01T11:00Z",
            "--count",
            "3",
        ),
        "--count: only for a recurring broadcast",
    )
    assert_one_line_error(
        cli("broadcast", "add", "--stream", STREAM),
        "give --start and --end for a one-off broadcast, or --cron",
    )
    assert_one_line_error(
        cli(
            "broadcast", "add", "--stream", STREAM, "--cron", "0 25 * * *", "--duration", "1h", "--tz", "UTC"
        ),
        "bad cron expression '0 25 * * *'",
    )
    assert_one_line_error(
        cli("broadcast", "add", *WEEKDAYS, "--skip", "25/12/2099"),
        "skip date '25/12/2099' is not a date: use YYYY-MM-DD",
    )
    assert_one_line_error(
        cli("broadcast", "add", "--stream", STREAM, "--cron", "0 19 * * *", "--duration", "1h"),
        "give the zone the cron rule is read in",
    )
    assert cli.snapshot() == before
    with transaction(cli.engine, immediate=False) as session:
        assert session.scalars(select(BroadcastSeries)).all() == []


def test_edit_replans_and_cancel_one_occurrence_survives(cli: Onair) -> None:
    cli.ok("broadcast", "add", *WEEKDAYS, "--count", "5", "--lead", "0s")  # no occurrence under way
    occurrences = live(cli, 1)
    assert len(occurrences) == 5
    second = occurrences[1]
    cli.ok("broadcast", "cancel", str(second.id))

    edited = cli.ok("series", "edit", "1", "--duration", "1h", "--title", "Shorter")

    assert edited.stdout.startswith("series 1 edited: ")
    after = live(cli, 1)
    assert [r.starts_at for r in after] == [r.starts_at for i, r in enumerate(occurrences) if i != 1]
    assert {(r.ends_at - r.starts_at).total_seconds() for r in after} == {3600}
    assert {r.title for r in after} == {"Shorter"}
    assert second.id not in {r.id for r in after}

    moved = cli.ok("series", "edit", "1", "--cron", "0 20 * * MON-FRI")
    assert "20:00:00 -0" in moved.stdout
    assert all(r.starts_at.astimezone(NEW_YORK).hour == 20 for r in live(cli, 1))
    assert_one_line_error(cli("series", "edit", "1"), "nothing to change")
    assert_one_line_error(cli("series", "edit", "1", "--tz", "Mars/Base"), "unknown time zone 'Mars/Base'")


def test_list_shows_series_and_cancel_ends_it(cli: Onair) -> None:
    cli.ok("broadcast", "add", *WEEKDAYS, "--count", "2", "--title", "News")

    listed = cli.ok("broadcast", "list").stdout
    assert "(series 1)" in listed
    assert "1 recurring broadcast" in listed and "0 19 * * MON-FRI" in listed
    data = cli.json("series", "list")
    assert [(s["id"], s["cron"], s["occurrence_limit"], len(s["next"])) for s in data] == [
        (1, "0 19 * * MON-FRI", 2, 1)
    ]

    cancelled = cli.ok("series", "cancel", "1")

    assert cancelled.stdout.strip() == "series 1 cancelled; 2 upcoming occurrences cancelled"
    assert live(cli, 1) == []
    assert cli.json("series", "list") == []
    assert cli.ok("series", "cancel", "1").stdout.startswith("series 1 was already cancelled at ")
    assert_one_line_error(cli("series", "cancel", "9"), "no recurring broadcast with id 9")


def test_json_of_a_new_series(cli: Onair) -> None:
    data = cli.json("broadcast", "add", *WEEKDAYS, "--skip", "2099-12-25", "--skip", "2099-01-01")
    assert data["skip_dates"] == ["2099-01-01", "2099-12-25"]
    assert data["timezone"] == "America/New_York"
    assert len(data["next"]) == 3
    starts = [datetime.fromisoformat(o["start"]) for o in data["next"]]
    assert all(s.tzinfo is not None and s.astimezone(UTC) > datetime.now(UTC) for s in starts)
