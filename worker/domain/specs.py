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

METADATA_MAX_KEYS = 10
METADATA_MAX_VALUE_CHARS = 255
RECONNECT_WINDOW_RANGE = (60, 1800)


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
    def organiser_name(self) -> str | None: ...


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
    return f"stream {stream_id!r} is not known to onair (run `onair streams list` / sync)"


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
    reasons: list[str] = []
    if spec.stream_id not in known_streams:
        reasons.append(unknown_stream_reason(spec.stream_id))
    naive = [
        r for r in (_aware_reason("starts_at", spec.starts_at), _aware_reason("ends_at", spec.ends_at)) if r
    ]
    reasons.extend(naive)
    if not naive and spec.ends_at <= spec.starts_at:
        reasons.append(f"end {spec.ends_at.isoformat()} is not after start {spec.starts_at.isoformat()}")
    if spec.lead < timedelta(0):
        reasons.append(f"lead {spec.lead.total_seconds():g} s is negative")
    _, metadata_reason = parse_metadata(spec.metadata)
    if metadata_reason:
        reasons.append(metadata_reason)
    low, high = RECONNECT_WINDOW_RANGE
    window = spec.reconnect_window
    if window is not None and (isinstance(window, bool) or not low <= window <= high):
        reasons.append(f"reconnect window {window} s is outside {low}..{high} s")
    return reasons


def check_off_hours(spec: OffHoursSpec, known_streams: Collection[str]) -> list[str]:
    """Every reason the off-hours row cannot be planned; empty if it can."""
    reasons = [r for r in (validate_cron(spec.cron), validate_timezone(spec.timezone)) if r]
    if spec.stream_id is not None and spec.stream_id not in known_streams:
        reasons.append(unknown_stream_reason(spec.stream_id))
    if spec.duration <= timedelta(0):
        reasons.append(f"duration {spec.duration.total_seconds():g} s is not positive")
    return reasons
