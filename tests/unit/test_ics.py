"""iCalendar text as calendar programs need it: folded at 75 octets, escaped, CRLF, UTC; and read back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given
from hypothesis import strategies as st

from worker.cli.ics import Event, IcsError, calendar, escape_text, fold, read_events, unescape_text, unfold

NOW = datetime(2026, 11, 27, 9, 0, tzinfo=UTC)


@given(st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=400))
def test_folding_keeps_every_line_within_75_octets_and_unfolds_to_the_original(text: str) -> None:
    line = f"SUMMARY:{text}"
    folded = fold(line)
    assert all(len(part.encode("utf-8")) <= 75 for part in folded.split("\r\n"))
    ((_, unfolded),) = list(unfold(folded))
    assert unfolded == line


@given(st.text(max_size=200))
def test_escaping_round_trips(text: str) -> None:
    expected = text.replace("\r\n", "\n")
    assert unescape_text(escape_text(text)) == expected
    assert "\n" not in escape_text(text)


def test_a_calendar_reads_back_with_utc_times_and_stable_fields() -> None:
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
    assert text.startswith("BEGIN:VCALENDAR\r\nVERSION:2.0\r\n") and text.endswith("END:VCALENDAR\r\n")
    assert "\n" not in text.replace("\r\n", "")
    (parsed,) = read_events(text)
    assert parsed.line == 7
    assert parsed.text("DTSTART") == "20261201T180000Z" and parsed.text("DTEND") == "20261201T190000Z"
    assert parsed.text("DTSTAMP") == "20261127T090000Z"
    assert parsed.text("SUMMARY") == event.summary and parsed.text("DESCRIPTION") == event.description
    assert parsed.text("UID") == "broadcast-12@onair" and parsed.text("X-ONAIR-STREAM") == "abc"


def test_parameters_and_quoted_colons_are_read() -> None:
    text = (
        "BEGIN:VCALENDAR\r\nBEGIN:VEVENT\r\n"
        'ORGANIZER;CN="Club: Jazz":mailto:jazz@example.org\r\n'
        "DTSTART;TZID=Europe/Berlin:20261201T190000\r\n"
        "END:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    (event,) = read_events(text)
    organizer = event.properties["ORGANIZER"]
    assert organizer.params == {"CN": "Club: Jazz"} and organizer.value == "mailto:jazz@example.org"
    assert event.properties["DTSTART"].params == {"TZID": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("SUMMARY:x\r\n", "line 1: content outside BEGIN:VCALENDAR"),
        ("BEGIN:VCALENDAR\r\nnot a property\r\nEND:VCALENDAR\r\n", "line 2: 'not a property' is not"),
        ("BEGIN:VCALENDAR\r\nEND:VEVENT\r\n", "line 2: END:VEVENT without a matching BEGIN"),
        ("BEGIN:VCALENDAR\r\n", "the file ends inside VCALENDAR"),
    ],
)
def test_broken_calendars_name_the_line(text: str, fragment: str) -> None:
    with pytest.raises(IcsError) as caught:
        read_events(text)
    assert fragment in str(caught.value)
