"""FastPix live-stream payloads as typed values.

Attributes are snake_case, the wire names camelCase (`populate_by_name` accepts either). Unknown fields
are ignored rather than kept: a field FastPix adds tomorrow could be another secret, and kept extras
would show up in reprs and dumps. Everything but the stream id and status is optional, because real
answers omit fields (`metadata` when unset). Stream keys and SRT secrets are `SecretStr`: hidden in
repr, str and JSON dumps; call `.get_secret_value()` where one is truly needed.
"""

from __future__ import annotations

from datetime import datetime
from enum import StrEnum
from typing import Generic, TypeVar

from pydantic import BaseModel, ConfigDict, Field, SecretStr
from pydantic.alias_generators import to_camel


class StreamStatus(StrEnum):
    """The statuses FastPix documents. `LiveStream.status` stays a plain str so a new one still parses."""

    IDLE = "idle"
    PREPARING = "preparing"
    ACTIVE = "active"
    DISABLED = "disabled"


ENABLED_STATUSES = frozenset({StreamStatus.IDLE, StreamStatus.PREPARING, StreamStatus.ACTIVE})


class FastPixModel(BaseModel):
    model_config = ConfigDict(
        alias_generator=to_camel,
        populate_by_name=True,
        extra="ignore",
        frozen=True,
    )


class PlaybackId(FastPixModel):
    id: str
    access_policy: str | None = None


class SrtPlayback(FastPixModel):
    srt_playback_stream_id: str | None = None
    srt_playback_secret: SecretStr | None = None


class Simulcast(FastPixModel):
    simulcast_id: str
    url: str | None = None
    stream_key: SecretStr | None = None
    is_enabled: bool | None = None
    metadata: dict[str, str] | None = None


class LiveStream(FastPixModel):
    stream_id: str
    status: str
    stream_key: SecretStr | None = None
    srt_secret: SecretStr | None = None
    trial: bool | None = None
    max_resolution: str | None = None
    max_duration: int | None = None
    created_at: datetime | None = None
    reconnect_window: int | None = None
    enable_recording: bool | None = None
    enable_dvr_mode: bool | None = None
    media_policy: str | None = None
    metadata: dict[str, str] | None = None
    low_latency: bool | None = None
    closed_captions: bool | None = None
    playback_ids: list[PlaybackId] = Field(default_factory=list)
    media_ids: list[str] = Field(default_factory=list)
    srt_playback_response: SrtPlayback | None = None
    simulcast_responses: list[Simulcast] = Field(default_factory=list)

    @property
    def is_enabled(self) -> bool:
        return self.status in ENABLED_STATUSES


class Pagination(FastPixModel):
    total_records: int | None = None
    current_offset: int | None = None
    offset_count: int | None = None


ItemT = TypeVar("ItemT", bound=BaseModel)


class Page(BaseModel, Generic[ItemT]):
    """One page of a list answer: the items as sent, and FastPix's pagination block when present."""

    model_config = ConfigDict(frozen=True)

    items: list[ItemT]
    pagination: Pagination | None = None


class ViewerCount(FastPixModel):
    views: int
