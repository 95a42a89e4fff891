"""`onair import FILE`: CSV and iCalendar bookings or broadcasts, every row checked first, all or nothing."""

from __future__ import annotations

import csv
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import func, select
from typer.testing import Result

from tests.ics_fixtures import EXPECTED, PROGRAMS, calendar_text
from tests.integration.cli_support import (
    OTHER,
    STREAM,
    Onair,
    migrated_on_backend,
    upcoming_hour,
)
from tests.integration.store_support import BACKENDS
from worker.store.db import transaction
from worker.store.models import Broadcast

BERLIN = ZoneInfo("Europe/Berlin")
HEADER = ["stream_id", "start", "end", "title", "lead", "organiser", "metadata", "reconnect_window"]


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    for instance in migrated_on_backend(request, tmp_path):
        instance.add_stream(STREAM, name="morning show")
        instance.add_stream(OTHER, name=None)
        instance.ok("organiser", "add", "Jazz Club", "-q")
        yield instance


def write_csv(path: Path, rows: list[list[str]], header: list[str] = HEADER) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(header)
        writer.writerows(rows)
    return path


def row(stream: str, start: datetime, end: datetime, title: str = "", **extra: str) -> list[str]:
    values = {
        "stream_id": stream,
        "start": start.isoformat(),
        "end": end.isoformat(),
        "title": title,
        **extra,
    }
    return [values.get(column, "") for column in HEADER]


def stored(onair: Onair) -> list[Broadcast]:
    with transaction(onair.engine, immediate=False) as session:
        return list(session.scalars(select(Broadcast).order_by(Broadcast.id)))


def count_stored(onair: Onair) -> int:
    with transaction(onair.engine, immediate=False) as session:
        return session.scalar(select(func.count()).select_from(Broadcast)) or 0


def refused_lines(result: Result) -> list[str]:
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    return result.stderr.strip().splitlines()


def hourly_rows(count: int, first: datetime) -> list[list[str]]:
    """`count` bookings of 30 minutes, one an hour, alternating between the two streams by day."""
    rows = []
    for n in range(count):
        start = first + timedelta(hours=n)
        stream = STREAM if (n // 24) % 2 == 0 else OTHER
        rows.append(row(stream, start, start + timedelta(minutes=30), f"show {n}"))
    return rows


def test_a_valid_csv_is_imported_and_planned(onair: Onair, tmp_path: Path) -> None:
    soon = upcoming_hour(2)
    berlin_day = (datetime.now(BERLIN) + timedelta(days=3)).date().isoformat()
    path = write_csv(
        tmp_path / "bookings.csv",
        [
            row(STREAM, soon, soon + timedelta(hours=1), "Soon", metadata="show=soon;host=ann"),
            ["", "", "", "", "", "", "", ""],  # blank lines are skipped
            [OTHER, f"{berlin_day} 19:00", f"{berlin_day} 20:30", "Local, with --tz", "10m", "", "", "120"],
            row(STREAM, soon + timedelta(hours=3), soon + timedelta(hours=4), "JSON", metadata='{"a": "b"}'),
        ],
    )
    result = onair.ok("import", str(path), "--organiser", "Jazz Club", "--tz", "Europe/Berlin")
    assert "imported 3 bookings from" in result.stdout

    rows = stored(onair)
    assert [(r.title, r.organiser_name, r.stream_id) for r in rows] == [
        ("Soon", "Jazz Club", STREAM),
        ("Local, with --tz", "Jazz Club", OTHER),
        ("JSON", "Jazz Club", STREAM),
    ]
    local_start = datetime.fromisoformat(f"{berlin_day}T19:00").replace(tzinfo=BERLIN)
    assert (rows[1].starts_at, rows[1].lead_seconds, rows[1].reconnect_window) == (
        local_start.astimezone(UTC), 600, 120
    )  # fmt: skip
    assert rows[0].metadata_json == '{"host": "ann", "show": "soon"}'
    assert rows[2].metadata_json == '{"a": "b"}'
    # The planner ran once at the end: the first booking's enable is in the ledger.
    assert [a.kind for a in onair.actions(source="broadcast", source_id=rows[0].id)][:1] == ["enable"]


def test_a_valid_ics_is_imported(onair: Onair, tmp_path: Path) -> None:
    day = (datetime.now(BERLIN) + timedelta(days=2)).date()
    stamp = day.strftime("%Y%m%d")
    long_title = "A rather long title, with a comma; and a semicolon, that must be folded over lines"
    folded = f"SUMMARY:{long_title.replace(',', chr(92) + ',').replace(';', chr(92) + ';')}"
    folded = folded[:70] + "\r\n " + folded[70:]
    calendar = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//test//EN",
            "BEGIN:VEVENT",
            "UID:one@test",
            f"DTSTART;TZID=Europe/Berlin:{stamp}T190000",
            f"DTEND;TZID=Europe/Berlin:{stamp}T200000",
            folded,
            f"X-ONAIR-STREAM:{STREAM}",
            "X-ONAIR-LEAD:10m",
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:two@test",
            f"DTSTART:{stamp}T220000Z",
            f"DTEND:{stamp}T230000Z",
            "SUMMARY:By location",
            f"LOCATION:{OTHER}",
            'ORGANIZER;CN="Jazz Club":mailto:jazz@example.org',
            "END:VEVENT",
            "BEGIN:VEVENT",
            "UID:three@test",
            "STATUS:CANCELLED",
            f"DTSTART:{stamp}T220000Z",
            f"DTEND:{stamp}T230000Z",
            f"LOCATION:{OTHER}",
            "END:VEVENT",
            "END:VCALENDAR",
            "",
        ]
    )
    path = tmp_path / "events.ics"
    path.write_text(calendar, encoding="utf-8", newline="")
    result = onair.ok("import", str(path), "--organiser", "Jazz Club")
    assert "imported 2 bookings" in result.stdout and "skipped line 21: a cancelled event" in result.stdout

    first, second = stored(onair)
    evening = datetime(day.year, day.month, day.day, 19, tzinfo=BERLIN).astimezone(UTC)
    assert (first.title, first.stream_id, first.starts_at, first.lead_seconds) == (
        long_title, STREAM, evening, 600
    )  # fmt: skip
    assert (second.stream_id, second.organiser_name) == (OTHER, "Jazz Club")
    assert second.starts_at == datetime(day.year, day.month, day.day, 22, tzinfo=UTC)


@pytest.mark.parametrize("program", PROGRAMS)
def test_a_calendar_programs_export_imports_with_its_recurring_events_as_occurrences(
    onair: Onair, tmp_path: Path, program: str
) -> None:
    day1 = (datetime.now(UTC) + timedelta(days=3)).date()
    path = tmp_path / f"{program}.ics"
    path.write_text(calendar_text(program, STREAM, day1), encoding="utf-8", newline="")
    expected = EXPECTED[program]
    result = onair.ok("import", str(path), "--organiser", "Jazz Club")
    assert f"imported {len(expected)} bookings" in result.stdout
    got = sorted((b.starts_at, b.ends_at, b.title, b.stream_id, b.organiser_name) for b in stored(onair))
    assert got == sorted((*x.span(day1), x.title, STREAM, "Jazz Club") for x in expected)


def test_ten_thousand_rows_are_imported(onair: Onair, tmp_path: Path) -> None:
    path = write_csv(tmp_path / "many.csv", hourly_rows(10_000, upcoming_hour(1)))
    result = onair.ok("import", str(path), "--organiser", "Jazz Club")
    assert "imported 10000 bookings" in result.stdout
    assert count_stored(onair) == 10_000


def test_one_bad_row_in_ten_thousand_rejects_the_file(onair: Onair, tmp_path: Path) -> None:
    rows = hourly_rows(10_000, upcoming_hour(1))
    start = datetime.fromisoformat(rows[4_999][1])
    rows[4_999][2] = (start - timedelta(minutes=1)).isoformat()  # file line 5001: ends before it starts
    path = write_csv(tmp_path / "many.csv", rows)

    lines = refused_lines(onair("import", str(path), "--organiser", "Jazz Club"))
    assert lines == [
        f"line 5001: end {rows[4_999][2]} is not after start {start.isoformat()}",
        "error: 1 of 10000 rows are bad: nothing was imported",
    ]
    assert count_stored(onair) == 0


def test_overlapping_rows_of_one_file_are_refused_naming_both_lines(onair: Onair, tmp_path: Path) -> None:
    start = upcoming_hour(3)
    path = write_csv(
        tmp_path / "overlap.csv",
        [
            row(STREAM, start, start + timedelta(hours=1), "first"),
            row(OTHER, start, start + timedelta(hours=1), "another stream: fine"),
            # Starts as the first ends, but its 5 minute lead reaches back into it.
            row(STREAM, start + timedelta(hours=1), start + timedelta(hours=2), "second"),
            row(STREAM, start + timedelta(hours=3), start + timedelta(hours=4), "bad", organiser="Nobody"),
            row(STREAM, start + timedelta(hours=5), start + timedelta(hours=6), "bad time", lead="-5m"),
        ],
    )
    lines = refused_lines(onair("import", str(path), "--organiser", "Jazz Club"))
    assert lines[0].startswith(f"line 4: overlaps line 2 on stream {STREAM}: ")
    assert lines[0].endswith("(lead included)")
    assert lines[1] == "line 5: no organiser named 'Nobody' (see `onair organiser list`)"
    assert lines[2].startswith("line 6: lead '-5m' is negative")
    assert lines[3] == "error: 3 of 5 rows are bad: nothing was imported"
    assert count_stored(onair) == 0


def test_a_row_overlapping_a_stored_booking_names_it(onair: Onair, tmp_path: Path) -> None:
    start = upcoming_hour(3)
    onair.ok(
        "book", "add", "--stream", STREAM, "--start", start.isoformat(),
        "--end", (start + timedelta(hours=1)).isoformat(), "--organiser", "Jazz Club", "--title", "Taken",
    )  # fmt: skip
    path = write_csv(
        tmp_path / "late.csv",
        [
            row(STREAM, start + timedelta(minutes=30), start + timedelta(hours=2), "clash"),
            row(STREAM, start + timedelta(hours=5), start + timedelta(hours=6), "fine"),
        ],
    )
    lines = refused_lines(onair("import", str(path), "--kind", "broadcasts"))
    assert lines[0].startswith("line 2: overlaps booking #1 by Jazz Club 'Taken' ")
    assert lines[0].endswith(f"UTC on stream {STREAM} (lead included)") and len(lines) == 2
    assert len(stored(onair)) == 1


def test_broadcasts_need_no_organiser_and_bookings_do(onair: Onair, tmp_path: Path) -> None:
    start = upcoming_hour(3)
    path = write_csv(tmp_path / "ops.csv", [row(STREAM, start, start + timedelta(hours=1), "Ops")])
    lines = refused_lines(onair("import", str(path)))
    assert lines[0].startswith("line 2: a booking needs an organiser")
    assert "imported 1 broadcast from" in onair.ok("import", str(path), "--kind", "broadcasts").stdout
    (ops,) = stored(onair)
    assert ops.organiser_id is None and ops.title == "Ops"


@pytest.mark.parametrize(
    ("content", "fragment"),
    [
        ("", "the file is empty"),
        ("stream_id,start\n", "the header lacks end"),
        ("stream_id,start,end,colour\n", "unknown column 'colour'"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "the calendar is cut short"),
    ],
)
def test_files_that_cannot_be_read_are_one_line_errors(
    onair: Onair, tmp_path: Path, content: str, fragment: str
) -> None:
    path = tmp_path / "broken.csv"
    path.write_text(content, encoding="utf-8")
    (line,) = refused_lines(onair("import", str(path), "--organiser", "Jazz Club"))
    assert line.startswith("error: ") and fragment in line
    assert count_stored(onair) == 0
