"""Request and response bodies of the API, as pydantic models: they validate what comes in and, through
model_json_schema, are the OpenAPI document's components, so the document cannot drift from the code.

Times come in as ISO 8601 with an offset and go out as UTC with `Z`; each `*_local` twin shows the same
instant in the zone the caller asked for with `?tz=` (null without it).
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, BeforeValidator, ConfigDict, Field, WithJsonSchema

from worker.api.times import EXAMPLE, parse_offset_instant, zone_or_error
from worker.service.text import TITLE_MAX_CHARS

STREAM_ID_MAX = 64
PLAN_HOURS_MAX = 168.0


def _instant(value: Any) -> Any:
    if isinstance(value, str):
        return parse_offset_instant(value)
    raise ValueError(f"must be a string with an ISO 8601 time and an offset, e.g. {EXAMPLE}")


def _zone(value: str) -> str:
    zone_or_error(value)
    return value


Instant = Annotated[
    datetime,
    BeforeValidator(_instant),
    WithJsonSchema(
        {
            "type": "string",
            "format": "date-time",
            "description": "ISO 8601 with a UTC offset (or Z)",
            "examples": [EXAMPLE],
        }
    ),
]
Zone = Annotated[str, AfterValidator(_zone), Field(description="IANA zone for the *_local fields")]
UtcText = Annotated[str, Field(json_schema_extra={"format": "date-time"}, description="UTC, ending in Z")]
LocalText = Annotated[
    str | None, Field(json_schema_extra={"format": "date-time"}, description="In ?tz= with its offset")
]
Title = Annotated[str | None, Field(max_length=TITLE_MAX_CHARS)]


def _path_id(value: Any) -> Any:
    text = str(value)
    if not text.isdigit() or len(text) > 18:
        raise ValueError(f"{text!r} is not a positive integer id")
    return int(text)


BookingId = Annotated[int, BeforeValidator(_path_id), WithJsonSchema({"type": "integer", "minimum": 0})]


class _Input(BaseModel):
    model_config = ConfigDict(extra="forbid")


# -- requests ----------------------------------------------------------------------------------------


class BookingCreate(_Input):
    """A new booking: the stream is enabled `lead_seconds` before `start` and finished at `end`."""

    stream_id: Annotated[str, Field(min_length=1, max_length=STREAM_ID_MAX)]
    start: Instant
    end: Instant
    title: Title = None
    lead_seconds: Annotated[
        int | None, Field(strict=True, ge=0, le=86400, description="default: the server's lead")
    ] = None


class BookingPatch(_Input):
    """Move a booking (new start and/or end) or rename it; fields left out stay as they are."""

    start: Instant | None = None
    end: Instant | None = None
    title: Title = None


class DisplayQuery(_Input):
    tz: Zone | None = None


class StreamsQuery(DisplayQuery):
    model_config = ConfigDict(extra="forbid", validate_by_name=True, validate_by_alias=True)

    range_from: Annotated[Instant | None, Field(alias="from", description="default: now")] = None
    range_to: Annotated[Instant | None, Field(alias="to", description="default: from + 24 h")] = None


class BookingsQuery(DisplayQuery):
    all: Annotated[bool, Field(description="include ended and cancelled bookings")] = False


class PlanQuery(DisplayQuery):
    hours: Annotated[float, Field(gt=0, le=PLAN_HOURS_MAX, description="how far ahead")] = 24.0
    stream_id: Annotated[str | None, Field(min_length=1, max_length=STREAM_ID_MAX)] = None


# -- responses ---------------------------------------------------------------------------------------


class ActionOut(BaseModel):
    """One planned action. `reason` is full only for the caller's own bookings."""

    id: int
    due_at: UtcText
    due_at_local: LocalText
    kind: Literal["enable", "disable", "finish", "update", "restore"]
    stream_id: str
    state: str
    reason: str
    mine: bool
    booking_id: int | None
    cause: Annotated[
        str | None,
        Field(description="for a failed or missed action of the caller's own booking: why (cause; rule)"),
    ] = None


class ViewersOut(BaseModel):
    """The booking's viewer counts, sampled every ONAIR_VIEWERS_EVERY while its stream was live."""

    peak: Annotated[int | None, Field(description="the highest sample; null before the first")]
    peak_at: UtcText | None
    average: Annotated[float | None, Field(description="the mean of the samples, one decimal")]
    samples: int
    failures: Annotated[int, Field(description="viewer-count calls that failed (not counted above)")]


class BookingOut(BaseModel):
    id: int
    stream_id: str
    start: UtcText
    end: UtcText
    slot_start: Annotated[UtcText, Field(description="start minus the lead: when the slot begins")]
    start_local: LocalText
    end_local: LocalText
    lead_seconds: int
    title: str | None
    status: Literal["scheduled", "on_air", "ended", "cancelled"]
    outcome: Annotated[
        Literal[
            "scheduled",
            "enabled",
            "live",
            "interrupted",
            "no signal",
            "finished",
            "failed",
            "missed",
            "cancelled",
        ],
        Field(description="what happened, from its actions and the stream's signal (docs/operations.md)"),
    ]
    outcome_cause: Annotated[str | None, Field(description="why it failed or was missed")]
    live_minutes: Annotated[
        float | None,
        Field(description="minutes the stream was live in the slot; null: its signal is unknown"),
    ]
    viewers: Annotated[
        ViewersOut | None, Field(description="its viewer counts; null: never sampled (not live yet)")
    ] = None
    cancelled_at: UtcText | None
    created_at: UtcText
    actions: Annotated[list[ActionOut], Field(description="its actions in the ledger, earliest first")]


class BookingList(BaseModel):
    bookings: list[BookingOut]


class BusySlot(BaseModel):
    """A slot taken on the stream, lead included. Title and id only for the caller's own bookings."""

    start: UtcText
    end: UtcText
    start_local: LocalText
    end_local: LocalText
    mine: bool
    booking_id: int | None
    title: str | None


class FreeSlot(BaseModel):
    start: UtcText
    end: UtcText
    start_local: LocalText
    end_local: LocalText


class StreamOut(BaseModel):
    stream_id: str
    name: str | None
    status: str | None
    busy: list[BusySlot]
    free: list[FreeSlot]


class StreamList(BaseModel):
    model_config = ConfigDict(serialize_by_alias=True, validate_by_name=True, validate_by_alias=True)

    range_from: Annotated[UtcText, Field(alias="from")]
    range_to: Annotated[UtcText, Field(alias="to")]
    streams: list[StreamOut]


class PlanOut(BaseModel):
    now: UtcText
    until: UtcText
    actions: list[ActionOut]


class Health(BaseModel):
    status: Literal["ok"]
    database: str


class FieldError(BaseModel):
    name: Annotated[str, Field(description="the field, query parameter or path parameter at fault")]
    message: str


class ErrorDetail(BaseModel):
    code: Literal[
        "unauthorized",
        "not_found",
        "method_not_allowed",
        "conflict",
        "invalid_input",
        "unsupported_media_type",
        "unavailable",
        "internal",
    ]
    message: str
    fields: list[FieldError]
    conflicts: Annotated[list[BusySlot] | None, Field(description="409 only: the slots in the way")] = None


class ErrorOut(BaseModel):
    error: ErrorDetail


class WebhookReceived(BaseModel):
    """What the receiver did with a FastPix event."""

    event_id: str
    type: str
    stream_id: str | None
    # stored: a new event; duplicate: this id was received before and nothing changed
    result: Literal["stored", "duplicate"]
    # True when the event's status became the stream's known status (False when a newer one is known)
    status_changed: bool
