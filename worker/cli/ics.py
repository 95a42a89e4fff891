"""iCalendar files (RFC 5545) with the `icalendar` library: write onair's events, read a calendar's.

Writing: every time in UTC, DTSTAMP on every event; `icalendar` folds, escapes and ends lines with CRLF.
Reading: each VEVENT as one event; a recurring event (RRULE, RDATE, EXDATE, moved or cancelled
occurrences) becomes one event per occurrence in a window, expanded by `recurring-ical-events`. Each
event keeps the line of its BEGIN:VEVENT so an importer can point at it.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import recurring_ical_events  # type: ignore[import-untyped]
from icalendar import Calendar, Component
from icalendar import Event as VEvent

PRODID = "-//onair//onair plan//EN"
_BEGIN_VEVENT = re.compile(r"^BEGIN:VEVENT\s*$", re.IGNORECASE | re.MULTILINE)


@dataclass(frozen=True)
class Event:
    """One VEVENT to write. Times are aware; they are written in UTC."""

    uid: str
    start: datetime
    end: datetime
    summary: str
    description: str = ""
    location: str | None = None
    categories: str | None = None
    transparent: bool = False
    last_modified: datetime | None = None
    extra: tuple[tuple[str, str], ...] = ()


def utc_stamp(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")


def calendar(events: Iterable[Event], *, name: str, now: datetime) -> str:
    """A whole VCALENDAR, CRLF-terminated."""
    cal = Calendar()
    cal.add("prodid", PRODID)
    cal.add("version", "2.0")
    cal.add("calscale", "GREGORIAN")
    cal.add("method", "PUBLISH")
    cal.add("x-wr-calname", name)
    for event in events:
        cal.add_component(_vevent(event, now))
    text: str = cal.to_ical().decode("utf-8")
    return text


def _vevent(event: Event, now: datetime) -> VEvent:
    vevent = VEvent()
    vevent.add("uid", event.uid)
    vevent.add("dtstamp", now.astimezone(UTC))
    vevent.add("dtstart", event.start.astimezone(UTC))
    vevent.add("dtend", event.end.astimezone(UTC))
    vevent.add("summary", event.summary)
    if event.description:
        vevent.add("description", event.description)
    if event.location:
        vevent.add("location", event.location)
    if event.categories:
        vevent.add("categories", [event.categories])
    if event.last_modified is not None:
        vevent.add("last-modified", event.last_modified.astimezone(UTC))
    vevent.add("status", "CONFIRMED")
    vevent.add("transp", "TRANSPARENT" if event.transparent else "OPAQUE")
    for name, value in event.extra:
        vevent.add(name, value)
    return vevent


# -- reading ----------------------------------------------------------------------------------------


class IcsError(ValueError):
    """The text is not iCalendar onair can read; the message says why."""


@dataclass(frozen=True)
class ReadEvent:
    """A VEVENT as read, or one occurrence of a recurring one (`occurrence` set)."""

    line: int
    component: Component
    occurrence: bool = False

    def text(self, name: str) -> str | None:
        value = self.component.get(name)
        if isinstance(value, list):  # a property given more than once: the first wins
            value = value[0] if value else None
        if value is None:
            return None
        if isinstance(value, str):  # TEXT values come unescaped
            return str(value)
        return bytes(value.to_ical()).decode("utf-8")

    def param(self, name: str, parameter: str) -> str | None:
        value = self.component.get(name)
        params = getattr(value, "params", None)
        return None if params is None else params.get(parameter)

    def time(self, name: str) -> datetime | date | None:
        value = self.component.get(name)
        moment = getattr(value, "dt", None)
        return moment if isinstance(moment, datetime | date) else None

    def end(self) -> datetime | date | None:
        """DTEND, or DTSTART + DURATION."""
        end = self.time("DTEND")
        if end is not None:
            return end
        start, duration = self.time("DTSTART"), getattr(self.component.get("DURATION"), "dt", None)
        if start is not None and isinstance(duration, timedelta):
            return start + duration
        return None


def read_events(text: str, *, since: datetime, until: datetime) -> list[ReadEvent]:
    """Every event of the calendar in file order; a recurring event as its occurrences that end after
    `since` and start before `until` (each with the line of its VEVENT). IcsError if it is not iCalendar."""
    try:
        cal = Calendar.from_ical(text.lstrip("\ufeff"))
    except ValueError as exc:
        raise IcsError(_reading_problem(str(exc))) from None
    if not isinstance(cal, Calendar) or cal.name != "VCALENDAR":
        raise IcsError("the file is not a VCALENDAR (it must start with BEGIN:VCALENDAR)")
    text = text.lstrip("\ufeff")
    lines = [text.count("\n", 0, match.start()) + 1 for match in _BEGIN_VEVENT.finditer(text)]
    vevents = cal.walk("VEVENT")
    line_of = {_key(event): line for event, line in zip(vevents, lines, strict=False)}
    recurring = {str(e.get("UID")) for e in vevents if _repeats(e)}

    events: list[ReadEvent] = []
    for event, line in zip(vevents, lines, strict=False):
        if str(event.get("UID")) in recurring:
            if _repeats(event):
                events.extend(_occurrences(cal, event, line, line_of, since, until))
            continue
        events.append(ReadEvent(line, event))
    return events


def _repeats(event: Component) -> bool:
    return "RRULE" in event or "RDATE" in event


def _key(event: Component) -> tuple[str, str | None]:
    recurrence = event.get("RECURRENCE-ID")
    return str(event.get("UID")), None if recurrence is None else _instant_text(recurrence.dt)


def _instant_text(value: Any) -> str:
    if isinstance(value, datetime) and value.tzinfo is not None:
        return value.astimezone(UTC).isoformat()
    return str(value)


def _occurrences(
    cal: Calendar,
    master: Component,
    line: int,
    line_of: dict[tuple[str, str | None], int],
    since: datetime,
    until: datetime,
) -> list[ReadEvent]:
    uid = str(master.get("UID"))
    one = Calendar()
    for component in cal.subcomponents:
        if component.name == "VTIMEZONE" or (component.name == "VEVENT" and str(component.get("UID")) == uid):
            one.add_component(component)
    found: list[ReadEvent] = []
    for occurrence in recurring_ical_events.of(one).between(since, until):
        moved = occurrence.get("RECURRENCE-ID")
        own_line = line_of.get((uid, _instant_text(moved.dt)), line) if moved is not None else line
        found.append(ReadEvent(own_line, occurrence, occurrence=True))
    return found


def _reading_problem(message: str) -> str:
    if message.startswith("Found no components where exactly one is required"):
        return "the calendar is cut short: a BEGIN:VCALENDAR or BEGIN:VEVENT has no matching END"
    if "does not have a parent component" in message:
        return f"{message.rstrip('.')}: content outside BEGIN:VCALENDAR ... END:VCALENDAR"
    return f"not iCalendar onair can read: {message}"
