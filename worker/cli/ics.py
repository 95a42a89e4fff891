"""iCalendar (RFC 5545) text, the little onair needs: write VEVENTs, read them back.

Writing: CRLF line ends, lines folded at 75 octets (never inside a UTF-8 character), TEXT values
escaped (backslash, semicolon, comma, newline), every time in UTC (`...Z`), DTSTAMP on every event.
Reading: lines unfolded, each property split into name, parameters and value, TEXT unescaped; each
VEVENT keeps the physical line number of its BEGIN so an importer can point at it.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime

FOLD_OCTETS = 75
PRODID = "-//onair//onair plan//EN"


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


def escape_text(value: str) -> str:
    return (
        value.replace("\\", "\\\\")
        .replace(";", "\\;")
        .replace(",", "\\,")
        .replace("\r\n", "\\n")
        .replace("\n", "\\n")
    )


def fold(line: str) -> str:
    """Split a content line into chunks of at most 75 octets, continuation lines starting with a space."""
    encoded = line.encode("utf-8")
    if len(encoded) <= FOLD_OCTETS:
        return line
    parts: list[str] = []
    current = ""
    size = 0
    limit = FOLD_OCTETS
    for char in line:
        width = len(char.encode("utf-8"))
        if size + width > limit:
            parts.append(current)
            current, size, limit = "", 0, FOLD_OCTETS - 1  # the leading space counts
        current += char
        size += width
    parts.append(current)
    return "\r\n ".join(parts)


def calendar(events: Iterable[Event], *, name: str, now: datetime) -> str:
    """A whole VCALENDAR, CRLF-terminated."""
    lines = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        f"PRODID:{PRODID}",
        "CALSCALE:GREGORIAN",
        "METHOD:PUBLISH",
        f"X-WR-CALNAME:{escape_text(name)}",
    ]
    stamp = utc_stamp(now)
    for event in events:
        lines.extend(_vevent(event, stamp))
    lines.append("END:VCALENDAR")
    return "".join(fold(line) + "\r\n" for line in lines)


def _vevent(event: Event, stamp: str) -> list[str]:
    lines = [
        "BEGIN:VEVENT",
        f"UID:{event.uid}",
        f"DTSTAMP:{stamp}",
        f"DTSTART:{utc_stamp(event.start)}",
        f"DTEND:{utc_stamp(event.end)}",
        f"SUMMARY:{escape_text(event.summary)}",
    ]
    if event.description:
        lines.append(f"DESCRIPTION:{escape_text(event.description)}")
    if event.location:
        lines.append(f"LOCATION:{escape_text(event.location)}")
    if event.categories:
        lines.append(f"CATEGORIES:{escape_text(event.categories)}")
    if event.last_modified is not None:
        lines.append(f"LAST-MODIFIED:{utc_stamp(event.last_modified)}")
    lines.append("STATUS:CONFIRMED")
    lines.append(f"TRANSP:{'TRANSPARENT' if event.transparent else 'OPAQUE'}")
    lines.extend(f"{name}:{escape_text(value)}" for name, value in event.extra)
    lines.append("END:VEVENT")
    return lines


# -- reading ----------------------------------------------------------------------------------------


class IcsError(ValueError):
    """The text is not iCalendar onair can read; the message names the line."""


@dataclass(frozen=True)
class Property:
    name: str
    params: dict[str, str]
    value: str


@dataclass
class ParsedEvent:
    """A VEVENT as read: its first line number and its properties (the first of each name wins)."""

    line: int
    properties: dict[str, Property] = field(default_factory=dict)

    def text(self, name: str) -> str | None:
        prop = self.properties.get(name)
        return None if prop is None else unescape_text(prop.value)


def unescape_text(value: str) -> str:
    out: list[str] = []
    chars = iter(value)
    for char in chars:
        if char != "\\":
            out.append(char)
            continue
        following = next(chars, "")
        out.append("\n" if following in ("n", "N") else following)
    return "".join(out)


def unfold(text: str) -> Iterator[tuple[int, str]]:
    """(line number of the logical line's first physical line, logical line), blank lines dropped."""
    number, current = 0, None
    for index, raw in enumerate(text.replace("\r\n", "\n").replace("\r", "\n").split("\n"), start=1):
        if raw[:1] in (" ", "\t") and current is not None:
            current += raw[1:]
            continue
        if current is not None and current.strip():
            yield number, current
        number, current = index, raw
    if current is not None and current.strip():
        yield number, current


def parse_property(line: str, number: int) -> Property:
    """`NAME;PARAM=value;PARAM="quoted":value` into its parts."""
    in_quotes = False
    for index, char in enumerate(line):
        if char == '"':
            in_quotes = not in_quotes
        elif char == ":" and not in_quotes:
            head, value = line[:index], line[index + 1 :]
            break
    else:
        raise IcsError(f"line {number}: {line[:40]!r} is not an iCalendar property (NAME:value)")
    name, *raw_params = head.split(";")
    params: dict[str, str] = {}
    for raw in raw_params:
        key, _, param_value = raw.partition("=")
        params[key.strip().upper()] = param_value.strip().strip('"')
    return Property(name.strip().upper(), params, value)


def read_events(text: str) -> list[ParsedEvent]:
    """Every VEVENT of the calendar, in file order. IcsError when the text is not a VCALENDAR."""
    events: list[ParsedEvent] = []
    stack: list[str] = []
    current: ParsedEvent | None = None
    for number, line in unfold(text.lstrip("\ufeff")):
        prop = parse_property(line, number)
        if prop.name == "BEGIN":
            stack.append(prop.value.strip().upper())
            if stack[-1] == "VEVENT":
                current = ParsedEvent(number)
            continue
        if prop.name == "END":
            ending = prop.value.strip().upper()
            if not stack or stack[-1] != ending:
                raise IcsError(f"line {number}: END:{ending} without a matching BEGIN")
            stack.pop()
            if ending == "VEVENT" and current is not None:
                events.append(current)
                current = None
            continue
        if not stack or stack[0] != "VCALENDAR":
            raise IcsError(f"line {number}: content outside BEGIN:VCALENDAR ... END:VCALENDAR")
        if current is not None and stack[-1] == "VEVENT":
            current.properties.setdefault(prop.name, prop)
    if stack:
        raise IcsError(f"the file ends inside {stack[-1]} (no END:{stack[-1]})")
    return events
