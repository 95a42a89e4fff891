"""Calendars exported by three calendar programs (Google Calendar, Apple Calendar, Outlook), kept in
tests/fixtures/ics with their dates as placeholders so they stay in the future, and what each holds."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

FOLDER = Path(__file__).parent / "fixtures" / "ics"
PROGRAMS = ("google", "apple", "outlook")


@dataclass(frozen=True)
class Expected:
    title: str
    day: int  # days after DAY1
    start: time
    end: time
    zone: str
    organiser: str | None = None

    def span(self, day1: date) -> tuple[datetime, datetime]:
        day = day1 + timedelta(days=self.day)
        zone = ZoneInfo(self.zone)
        return (
            datetime.combine(day, self.start, zone).astimezone(UTC),
            datetime.combine(day, self.end, zone).astimezone(UTC),
        )


# Every event each program's file becomes, recurring ones as their occurrences.
EXPECTED: dict[str, list[Expected]] = {
    # A one-off event; a weekly quiz of 4 with the 2nd excluded (EXDATE) and the 3rd moved to 20:00.
    "google": [
        Expected("Jazz night", 0, time(19), time(20, 30), "Europe/Berlin"),
        Expected("Pub quiz", 1, time(18), time(19), "Europe/Berlin"),
        Expected("Pub quiz (late edition)", 15, time(20), time(21), "Europe/Berlin"),
        Expected("Pub quiz", 22, time(18), time(19), "Europe/Berlin"),
    ],
    # A one-off event with an alarm; a daily news slot until DAY4 (three occurrences).
    "apple": [
        Expected("Late show", 0, time(20), time(21), "America/New_York"),
        Expected("Morning news", 1, time(7), time(7, 30), "America/New_York"),
        Expected("Morning news", 2, time(7), time(7, 30), "America/New_York"),
        Expected("Morning news", 3, time(7), time(7, 30), "America/New_York"),
    ],
    # Windows zone names defined by VTIMEZONE; ORGANIZER with a CN; every other week, three times.
    "outlook": [
        Expected("Board meeting", 0, time(10), time(11, 30), "Europe/Berlin", "Jazz Club"),
        Expected("Team update", 1, time(16), time(17), "Europe/Berlin", "Jazz Club"),
        Expected("Team update", 15, time(16), time(17), "Europe/Berlin", "Jazz Club"),
        Expected("Team update", 29, time(16), time(17), "Europe/Berlin", "Jazz Club"),
    ],
}


def calendar_text(program: str, stream: str, day1: date) -> str:
    """The program's export with its events on DAY1 and after, on `stream`."""
    days = {
        "@DAY1@": day1,
        "@DAY2@": day1 + timedelta(days=1),
        "@DAY4@": day1 + timedelta(days=3),
        "@WEEK0@": day1 + timedelta(days=1),
        "@WEEK1@": day1 + timedelta(days=8),
        "@WEEK2@": day1 + timedelta(days=15),
    }
    text = (FOLDER / f"{program}.ics").read_bytes().decode("utf-8")
    for placeholder, day in days.items():
        text = text.replace(placeholder, day.strftime("%Y%m%d"))
    return text.replace("@STREAM@", stream)
