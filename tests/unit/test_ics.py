"""iCalendar through the `icalendar` library: what onair writes validates and reads back; calendars
exported by Google Calendar, Apple Calendar and Outlook read as their events, recurring ones expanded."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st
from icalendar import Calendar

from tests.ics_fixtures import EXPECTED, PROGRAMS, calendar_text
from worker.cli.ics import Event, IcsError, calendar, read_events

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)
STREAM = "0123456789abcdef0123456789abcdef"
DAY1 = date(2026, 12, 3)
WINDOW = {"since": NOW, "until": NOW + timedelta(days=365)}


def test_a_calendar_validates_and_reads_back_with_utc_times_and_stable_fields() -> None:
    berlin_start = datetime(2026, 12, 1, 19, 0, tzinfo=ZoneInfo("Europe/Berlin"))
    event = Event(
        uid="broadcast-12@onair",
        start=berlin_start,
        end=berlin_start + timedelta(hours=1),
        summary="Jazz, late; with ümlauts " * 4,
        description="line one\nline two, with a comma",
        location="main stage",
        extra=(("X-ONAIR-STREAM", "abc"),),
    )
    text = calendar([event], name="onair plan", now=NOW)
    assert text.startswith("BEGIN:VCALENDAR\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    assert all(len(line.encode()) <= 75 for line in text.split("\r\n"))
    (vevent,) = Calendar.from_ical(text).walk("VEVENT")
    assert vevent["DTSTART"].dt == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)

    (parsed,) = read_events(text, **WINDOW)
    assert parsed.line == text.split("\r\n").index("BEGIN:VEVENT") + 1
    assert parsed.time("DTSTART") == datetime(2026, 12, 1, 18, 0, tzinfo=UTC)
    assert parsed.end() == datetime(2026, 12, 1, 19, 0, tzinfo=UTC)
    assert parsed.text("DTSTAMP") == "20261127T090000Z"
    assert parsed.text("SUMMARY") == event.summary and parsed.text("DESCRIPTION") == event.description
    assert parsed.text("UID") == "broadcast-12@onair" and parsed.text("X-ONAIR-STREAM") == "abc"


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=300))
def test_any_title_survives_the_round_trip(title: str) -> None:
    event = Event(uid="x@onair", start=NOW, end=NOW + timedelta(hours=1), summary=title)
    (parsed,) = read_events(calendar([event], name="t", now=NOW), **WINDOW)
    assert parsed.text("SUMMARY") == title


def _utc(moment: object) -> datetime:
    assert isinstance(moment, datetime) and moment.tzinfo is not None, moment
    return moment.astimezone(UTC)


@pytest.mark.parametrize("program", PROGRAMS)
def test_each_calendar_programs_export_reads_as_its_events(program: str) -> None:
    events = read_events(calendar_text(program, STREAM, DAY1), **WINDOW)
    got = [(e.text("SUMMARY"), _utc(e.time("DTSTART")), _utc(e.end()), e.text("LOCATION")) for e in events]
    assert got == [(x.title, *x.span(DAY1), STREAM) for x in EXPECTED[program]]
    organisers = [e.param("ORGANIZER", "CN") for e in events]
    assert organisers == [x.organiser for x in EXPECTED[program]]


def test_occurrences_point_at_the_line_of_their_event() -> None:
    text = calendar_text("google", STREAM, DAY1)
    starts = [n for n, line in enumerate(text.split("\r\n"), start=1) if line == "BEGIN:VEVENT"]
    lines = [e.line for e in read_events(text, **WINDOW)]
    assert lines == [starts[0], starts[1], starts[2], starts[1]]  # the moved one has its own VEVENT


def test_a_rule_without_end_is_expanded_only_up_to_the_window() -> None:
    text = calendar_text("google", STREAM, DAY1).replace("RRULE:FREQ=WEEKLY;COUNT=4", "RRULE:FREQ=WEEKLY")
    weekly = [e for e in read_events(text, since=NOW, until=NOW + timedelta(days=60)) if e.occurrence]
    assert len(weekly) == 7  # Dec 4 to Jan 22: eight weeks, one excluded (EXDATE)
    assert max(e.time("DTSTART") for e in weekly) < NOW + timedelta(days=60)  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SUMMARY:x\r\n", "content outside BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nnot a property\r\nEND:VCALENDAR\r\n", "'not a property'"),
        ("BEGIN:VCALENDAR\r\n", "the calendar is cut short"),
        ("BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n", "the calendar is cut short"),
    ],
)
def test_broken_calendars_say_why(text: str, fragment: str) -> None:
    with pytest.raises(IcsError) as caught:
        read_events(text, **WINDOW)
    assert fragment in str(caught.value)
