"""What operators type and read in the scheduling commands: instants, zones, durations, metadata.

Instants are accepted only when their zone is certain: an ISO 8601 offset (`...+01:00`, `...Z`), a zone
name after the time (`2026-11-27 19:00 Europe/Berlin`), or `--tz ZONE` for a local time. A time with
no zone at all is refused: guessing the machine's zone would silently move a broadcast by hours.
Everything parsed is returned as an aware UTC datetime; everything shown carries its UTC offset.
"""

from __future__ import annotations

import os
import re
from datetime import UTC, datetime, timedelta, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo

from worker.domain.recurrence import validate_timezone
from worker.domain.text import show_duration as show_duration
from worker.service.errors import InvalidInput

DISPLAY_FORMAT = "%Y-%m-%d %H:%M:%S"
_DURATION = re.compile(r"(?P<plain>\d+)|(?:(?P<h>\d+)h)?(?:(?P<m>\d+)m)?(?:(?P<s>\d+)s)?")
_UNIT_SECONDS = {"h": 3600, "m": 60, "s": 1}
_ZONEINFO_ROOT = "zoneinfo/"


# A value the operator typed cannot be used; the message says which and how to fix it. The same type
# the service layer raises, so one `output.reporting(BadInput)` reports both.
BadInput = InvalidInput


def zone_named(name: str) -> ZoneInfo:
    reason = validate_timezone(name)
    if reason is not None:
        raise BadInput(f"{reason} (use an IANA name such as Europe/Berlin, America/New_York or UTC)")
    return ZoneInfo(name)


def local_zone() -> tzinfo:
    """The machine's zone: TZ if it names an IANA zone, else /etc/localtime's target, else the fixed
    offset the system applies right now (correct for display of nearby instants only)."""
    env = os.environ.get("TZ", "").lstrip(":")
    if env and validate_timezone(env) is None:
        return ZoneInfo(env)
    try:
        target = str(Path("/etc/localtime").resolve())
    except OSError:
        target = ""
    if _ZONEINFO_ROOT in target:
        name = target.split(_ZONEINFO_ROOT, 1)[1]
        if validate_timezone(name) is None:
            return ZoneInfo(name)
    return datetime.now(UTC).astimezone().tzinfo or UTC


def display_zone(name: str | None) -> tzinfo:
    """The zone to show times in: `--tz` when given, else the machine's."""
    return zone_named(name) if name else local_zone()


def parse_instant(text: str, tz: str | None = None, *, what: str = "time") -> datetime:
    """An aware UTC datetime from ISO 8601 with an offset, a local time plus a zone name, or a local
    time plus `tz`. BadInput when the text is not a time or carries no zone."""
    raw = text.strip()
    if not raw:
        raise BadInput(f"{what} is empty")
    value, suffix_zone = _split_zone_suffix(raw)
    try:
        parsed = datetime.fromisoformat(value.replace(" ", "T", 1) if " " in value else value)
    except ValueError:
        raise BadInput(
            f"{what} {text!r} is not an ISO 8601 time (e.g. 2026-11-27T19:00:00+01:00 or "
            f"'2026-11-27 19:00 Europe/Berlin')"
        ) from None
    if parsed.tzinfo is not None:
        if suffix_zone is not None:
            raise BadInput(f"{what} {text!r} has both a UTC offset and a zone name: give one")
        return parsed.astimezone(UTC)
    zone_name = suffix_zone or tz
    if zone_name is None:
        raise BadInput(
            f"{what} {text!r} has no time zone: add an offset (2026-11-27T19:00:00+01:00, or Z for UTC), "
            f"a zone name ('2026-11-27 19:00 Europe/Berlin') or pass --tz ZONE"
        )
    zone = zone_named(zone_name)
    local = parsed.replace(tzinfo=zone)
    if local.astimezone(UTC).astimezone(zone).replace(tzinfo=None) != parsed:
        raise BadInput(f"{what} {text!r} does not exist in {zone_name} (the clocks skip it): pick another")
    if local.utcoffset() != local.replace(fold=1).utcoffset():
        raise BadInput(
            f"{what} {text!r} happens twice in {zone_name} (the clocks go back): give the UTC offset too"
        )
    return local.astimezone(UTC)


def _split_zone_suffix(raw: str) -> tuple[str, str | None]:
    """'2026-11-27 19:00 Europe/Berlin' -> ('2026-11-27 19:00', 'Europe/Berlin')."""
    head, sep, last = raw.rpartition(" ")
    if sep and head.strip() and last[:1].isalpha() and last.upper() != "Z":
        return head.strip(), last
    return raw, None


def parse_duration(text: str, *, what: str = "duration", allow_zero: bool = False) -> timedelta:
    """`90s`, `5m`, `90m`, `8h`, `1h30m`; a bare number only when it is 0 (is `5` seconds or minutes?)."""
    raw = text.strip().lower()
    if raw.startswith("-"):
        raise BadInput(f"{what} {text!r} is negative: it must be {'zero or ' if allow_zero else ''}positive")
    match = _DURATION.fullmatch(raw)
    if not raw or match is None:
        raise BadInput(f"{what} {text!r} is not a duration: use e.g. 90s, 5m, 8h or 1h30m")
    if match["plain"] is not None and int(match["plain"]) != 0:
        raise BadInput(f"{what} {text!r} has no unit: write {text.strip()}s or {text.strip()}m")
    seconds = sum(int(match[unit] or 0) * factor for unit, factor in _UNIT_SECONDS.items())
    if seconds == 0 and not allow_zero:
        raise BadInput(f"{what} {text!r} must be more than zero")
    return timedelta(seconds=seconds)


def parse_metadata_pairs(pairs: list[str] | None) -> dict[str, str] | None:
    """`key=value` pairs into a mapping (the domain's check_broadcast judges its size)."""
    if not pairs:
        return None
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key.strip():
            raise BadInput(f"metadata must be given as key=value, got {pair!r}")
        if key in parsed:
            raise BadInput(f"metadata key {key!r} given twice")
        parsed[key] = value
    return parsed


def show_instant(value: datetime | None, zone: tzinfo) -> str:
    """`2026-11-27 19:00:00 +01:00`: the instant on the operator's clock, with its offset."""
    if value is None:
        return ""
    local = value.astimezone(zone)
    offset = local.utcoffset() or timedelta(0)
    sign = "-" if offset < timedelta(0) else "+"
    hours, rest = divmod(int(abs(offset).total_seconds()), 3600)
    return f"{local.strftime(DISPLAY_FORMAT)} {sign}{hours:02d}:{rest // 60:02d}"


def iso_utc(value: datetime | None) -> str | None:
    """For JSON: ISO 8601 in UTC, so scripts read the same text whatever the machine's zone."""
    return None if value is None else value.astimezone(UTC).isoformat()
