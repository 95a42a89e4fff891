"""Schedule rows as the planner reads them, and the checks that tell a usable row from a broken one.

Values arrive raw, as an operator may have typed them in SQL: metadata as JSON text that may not parse,
a reconnect window out of range, a stream onair has never heard of. `check_broadcast` and
`check_off_hours` return the reasons a row cannot be planned; the planner records them and plans
every other row.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Protocol

from worker.domain.recurrence import validate_cron, validate_timezone
from worker.domain.text import control_character_problem, printable, quoted

METADATA_MAX_KEYS = 10
METADATA_MAX_VALUE_CHARS = 255
RECONNECT_WINDOW_RANGE = (60, 1800)
# A whole number of seconds a timedelta can hold and a plan can use: 100 years.
MAX_SECONDS = 100 * 366 * 86400


class BroadcastRow(Protocol):
    """What `BroadcastSpec.from_row` reads: the `broadcasts` columns (an ORM row fits)."""

    @property
    def id(self) -> int: ...
    @property
    def stream_id(self) -> str: ...
    @property
    def starts_at(self) -> datetime: ...
    @property
    def ends_at(self) -> datetime: ...
    @property
    def lead_seconds(self) -> int: ...
    @property
    def title(self) -> str | None: ...
    @property
    def metadata_json(self) -> str | None: ...
    @property
    def reconnect_window(self) -> int | None: ...
    @property
    def created_at(self) -> datetime | None: ...
    @property
    def organiser_id(self) -> int | None: ...
    @property
    def organiser_name(self) -> str | None: ...
    @property
    def cancelled_at(self) -> datetime | None: ...


class OffHoursRow(Protocol):
    """What `OffHoursSpec.from_row` reads: the `off_hours` columns (an ORM row fits)."""

    @property
    def id(self) -> int: ...
    @property
    def stream_id(self) -> str | None: ...
    @property
    def cron(self) -> str: ...
    @property
    def duration_seconds(self) -> int: ...
    @property
    def timezone(self) -> str: ...
    @property
    def label(self) -> str | None: ...
    @property
    def created_at(self) -> datetime | None: ...


@dataclass(frozen=True)
class BroadcastSpec:
    """One row of `broadcasts`. `metadata` is a mapping, JSON object text, or None.

    `created_at`, when given, keeps the planner from planning actions whose deadline had already
    passed before the row existed: they were never owed, so they are not reported as missed.
    """

    id: int
    stream_id: str
    starts_at: datetime
    ends_at: datetime
    lead: timedelta
    title: str | None = None
    metadata: Mapping[str, Any] | str | None = None
    reconnect_window: int | None = None
    created_at: datetime | None = None
    # The organiser's name when the row is a booking (plans say whose booking overrides off-hours).
    organiser: str | None = None
    # When a person cancelled it (the planner plans only a broadcast cancelled while it ran).
    cancelled_at: datetime | None = None
    # Set by worker.domain.cut_short: cancelled while it ran, so it ends at its cancel instant.
    ended_early: bool = False

    @classmethod
    def from_row(cls, row: BroadcastRow) -> BroadcastSpec:
        """Copy the raw values; nothing is validated here (the planner does, and reports reasons)."""
        return cls(
            id=row.id,
            stream_id=row.stream_id,
            starts_at=row.starts_at,
            ends_at=row.ends_at,
            lead=timedelta(seconds=row.lead_seconds),
            title=row.title,
            metadata=row.metadata_json,
            reconnect_window=row.reconnect_window,
            created_at=row.created_at,
            organiser=row.organiser_name,
            cancelled_at=row.cancelled_at,
        )

    @property
    def slot_start(self) -> datetime:
        """When the stream must be ready: the start minus the lead."""
        return self.starts_at - self.lead


@dataclass(frozen=True)
class OffHoursSpec:
    """One row of `off_hours`: a window [fire, fire + duration) for each firing of `cron` in `timezone`.

    `stream_id` None means every stream onair knows.
    """

    id: int
    stream_id: str | None
    cron: str
    duration: timedelta
    timezone: str
    label: str | None = None
    created_at: datetime | None = None

    @classmethod
    def from_row(cls, row: OffHoursRow) -> OffHoursSpec:
        return cls(
            id=row.id,
            stream_id=row.stream_id,
            cron=row.cron,
            duration=timedelta(seconds=row.duration_seconds),
            timezone=row.timezone,
            label=row.label,
            created_at=row.created_at,
        )

    def describe(self) -> str:
        label = f" {self.label!r}" if self.label else ""
        return f"off-hours #{self.id}{label} ({self.cron} {self.timezone})"


def unknown_stream_reason(stream_id: str) -> str:
    return f"stream {quoted(stream_id)} is not known to onair (run `onair streams list` / sync)"


def parse_metadata(raw: Mapping[str, Any] | str | None) -> tuple[dict[str, str] | None, str | None]:
    """(metadata, None) if usable, else (None, reason). Empty metadata counts as none to set."""
    if raw is None:
        return None, None
    if isinstance(raw, str):
        if not raw.strip():
            return None, None
        try:
            value: Any = json.loads(raw)
        except json.JSONDecodeError as exc:
            return None, f"metadata is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}"
        except RecursionError:
            return None, "metadata is nested too deeply to read (FastPix takes a flat object of strings)"
    elif not isinstance(raw, Mapping):
        return None, f"metadata must be JSON object text, got {type(raw).__name__}"
    else:
        value = raw
    if value is None:
        return None, None
    if not isinstance(value, Mapping):
        return None, f"metadata must be a JSON object, got {type(value).__name__}"
    if len(value) > METADATA_MAX_KEYS:
        return None, f"metadata has {len(value)} keys; FastPix allows at most {METADATA_MAX_KEYS}"
    parsed: dict[str, str] = {}
    for key, item in value.items():
        if not isinstance(item, str):
            return None, f"metadata value for {key!r} must be a string, got {type(item).__name__}"
        if len(item) > METADATA_MAX_VALUE_CHARS:
            return None, (
                f"metadata value for {key!r} has {len(item)} characters; "
                f"FastPix allows at most {METADATA_MAX_VALUE_CHARS}"
            )
        parsed[str(key)] = item
    return (parsed or None), None


def _aware_reason(name: str, value: datetime) -> str | None:
    if value.tzinfo is None or value.utcoffset() is None:
        return f"{name} {value.isoformat()} has no time zone"
    return None


def check_broadcast(spec: BroadcastSpec, known_streams: Collection[str]) -> list[str]:
    """Every reason the broadcast cannot be planned; empty if it can."""
    return [reason for _, reason in broadcast_problems(spec, known_streams)]


def broadcast_problems(spec: BroadcastSpec, known_streams: Collection[str]) -> list[tuple[str, str]]:
    """As check_broadcast, each reason with the field at fault (stream_id, title, start, end, lead,
    metadata, reconnect_window), so a front door can say which input to fix."""
    problems: list[tuple[str, str]] = []
    if spec.stream_id not in known_streams:
        problems.append(("stream_id", unknown_stream_reason(spec.stream_id)))
    title_problem = control_character_problem(spec.title, "title")
    if title_problem:
        problems.append(("title", title_problem))
    naive = [
        (field, r)
        for field, r in (
            ("start", _aware_reason("starts_at", spec.starts_at)),
            ("end", _aware_reason("ends_at", spec.ends_at)),
        )
        if r
    ]
    problems.extend(naive)
    if not naive and spec.ends_at <= spec.starts_at:
        problems.append(
            ("end", f"end {spec.ends_at.isoformat()} is not after start {spec.starts_at.isoformat()}")
        )
    if spec.lead < timedelta(0):
        problems.append(("lead", f"lead {spec.lead.total_seconds():g} s is negative"))
    _, metadata_reason = parse_metadata(spec.metadata)
    if metadata_reason:
        problems.append(("metadata", metadata_reason))
    low, high = RECONNECT_WINDOW_RANGE
    window = spec.reconnect_window
    if window is not None and (isinstance(window, bool) or not low <= window <= high):
        problems.append(("reconnect_window", f"reconnect window {window} s is outside {low}..{high} s"))
    return problems


def recurrence_problems(cron: str, timezone: str, text: str | None, what: str) -> list[str]:
    """Why a recurring row's rule (cron in a zone) or its text (title, label) is unusable."""
    found = (validate_cron(cron), validate_timezone(timezone), control_character_problem(text, what))
    return [r for r in found if r]


def check_off_hours(spec: OffHoursSpec, known_streams: Collection[str]) -> list[str]:
    """Every reason the off-hours row cannot be planned; empty if it can."""
    reasons = recurrence_problems(spec.cron, spec.timezone, spec.label, "label")
    if spec.stream_id is not None and spec.stream_id not in known_streams:
        reasons.append(unknown_stream_reason(spec.stream_id))
    if spec.duration <= timedelta(0):
        reasons.append(f"duration {spec.duration.total_seconds():g} s is not positive")
    return reasons


# -- Reading rows as stored --------------------------------------------------------------------------
#
# A row written with plain SQL may hold anything its column's storage accepts (SQLite stores any type
# in any column). These turn a row into a spec, or say why it cannot be one, and never raise: the
# planner plans every row in isolation, and one unreadable row must not stop the others.


def whole_seconds_problem(name: str, value: object, *, optional: bool = False) -> str | None:
    """None if `value` is a whole number of seconds a plan can use, else the reason."""
    if value is None and optional:
        return None
    if isinstance(value, bool) or not isinstance(value, int):
        shown = quoted(value)
        kind = "a whole number of seconds" if isinstance(value, float) else "a number of seconds"
        return f"{name} {shown} is not {kind}"
    if not -MAX_SECONDS <= value <= MAX_SECONDS:
        return f"{name} {value} is out of range (at most {MAX_SECONDS} s)"
    return None


def _text_problems(values: Mapping[str, object], *, required: Collection[str] = ()) -> list[str]:
    problems: list[str] = []
    for name, value in values.items():
        if value is None:
            if name in required:
                problems.append(f"{name} is empty")
        elif not isinstance(value, str):
            problems.append(f"{name} must be text, got {type(value).__name__}")
    return problems


def _instant_problems(values: Mapping[str, object]) -> list[str]:
    return [
        f"{name} {quoted(value)} is not a timestamp"
        for name, value in values.items()
        if value is not None and not isinstance(value, datetime)
    ]


def unexpected_problem(exc: Exception) -> str:
    """The reason recorded when reading or planning a row raised something no check foresaw."""
    if isinstance(exc, RecursionError):
        return "a value is nested too deeply to read"
    return f"cannot be planned: {type(exc).__name__}: {printable(str(exc))}"


def organiser_problem(organiser_id: object, organiser_name: object) -> str | None:
    """A row naming an organiser who does not exist (SQLite without foreign keys lets one in)."""
    if organiser_id is None:
        return None
    if isinstance(organiser_id, bool) or not isinstance(organiser_id, int):
        return f"organiser_id {quoted(organiser_id)} is not an organiser id"
    if organiser_name is None:
        return f"organiser #{organiser_id} does not exist"
    return None


def read_broadcast(row: BroadcastRow) -> BroadcastSpec | str:
    """The spec of a `broadcasts` row, or the reason it cannot be read. Never raises."""
    try:
        problems = _text_problems({"stream_id": row.stream_id}, required={"stream_id"})
        problems += _text_problems({"title": row.title, "metadata": row.metadata_json})
        problems += _instant_problems(
            {
                "starts_at": row.starts_at,
                "ends_at": row.ends_at,
                "created_at": row.created_at,
                "cancelled_at": row.cancelled_at,
            }
        )
        for name, value in (("lead_seconds", row.lead_seconds), ("reconnect_window", row.reconnect_window)):
            problem = whole_seconds_problem(name, value, optional=name == "reconnect_window")
            if problem:
                problems.append(problem)
        problem = organiser_problem(row.organiser_id, row.organiser_name)
        if problem:
            problems.append(problem)
        if problems:
            return "; ".join(problems)
        return BroadcastSpec.from_row(row)
    except Exception as exc:  # a row is judged alone: whatever it raises becomes its reason
        return unexpected_problem(exc)


def read_off_hours(row: OffHoursRow) -> OffHoursSpec | str:
    """The spec of an `off_hours` row, or the reason it cannot be read. Never raises."""
    try:
        problems = _text_problems({"stream_id": row.stream_id, "label": row.label})
        problems += _text_problems(
            {"cron": row.cron, "timezone": row.timezone}, required={"cron", "timezone"}
        )
        problems += _instant_problems({"created_at": row.created_at})
        problem = whole_seconds_problem("duration_seconds", row.duration_seconds)
        if problem:
            problems.append(problem)
        if problems:
            return "; ".join(problems)
        return OffHoursSpec.from_row(row)
    except Exception as exc:  # a row is judged alone: whatever it raises becomes its reason
        return unexpected_problem(exc)


def broadcast_problem(row: BroadcastRow, known_streams: Collection[str]) -> str | None:
    """Why a `broadcasts` row cannot be planned (read and checked as `plan` would), or None. Never
    raises: used for rows outside the planning window, which `plan` does not see."""
    spec = read_broadcast(row)
    if isinstance(spec, str):
        return spec
    try:
        return "; ".join(check_broadcast(spec, known_streams)) or None
    except Exception as exc:  # a row is judged alone: whatever it raises becomes its reason
        return unexpected_problem(exc)
