"""A simulated live stream: its fields, its status machine, and its JSON as FastPix shows it.

Pure: no I/O, no locks. Every time-dependent step takes `now` (an aware UTC datetime).
The encoder's effects (preparing -> active, a disconnect ending after the reconnect window,
a broadcast reaching maxDuration) are stored as instants and applied lazily by `settle(now)`,
so a FixedClock drives them exactly. Every change a webhook reports is noted in `changes` (the
event, its instant, and the stream as the API showed it then) for the state to hand on.
"""

from __future__ import annotations

import secrets
import uuid
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta
from typing import Any

IDLE = "idle"
PREPARING = "preparing"
ACTIVE = "active"
DISABLED = "disabled"


class Refused(Exception):
    """An operation the real API refuses: carries the HTTP status and FastPix's error text."""

    def __init__(self, status: int, message: str, description: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.description = description


RefusalText = tuple[int, str, str]

ALREADY_ENABLED: RefusalText = (
    400,
    "stream is already enabled",
    "The requested stream is already in an enabled state.",
)
ALREADY_DISABLED: RefusalText = (400, "stream already disabled", "The requested stream is already disabled.")
CANNOT_COMPLETE: RefusalText = (
    400,
    "stream cannot be completed",
    "Only active streams can be marked as completed.",
)
# Not captured from the real API: wording chosen to match the style of the captured errors.
DURATION_EXHAUSTED: RefusalText = (
    400,
    "stream duration exceeded",
    "The stream has used its maximum allowed duration and cannot be enabled again.",
)
UPDATE_DISABLED: RefusalText = (
    400,
    "stream cannot be updated",
    "A disabled stream cannot be updated. Enable it first.",
)
SIMULCAST_NOT_IDLE: RefusalText = (
    400,
    "simulcast cannot be created",
    "A simulcast can only be created while the stream is idle.",
)


def iso_micro(when: datetime) -> str:
    """FastPix's timestamp form: UTC, microseconds, a trailing Z."""
    return when.strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def parse_instant(text: str | None) -> datetime | None:
    if text is None:
        return None
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


@dataclass(frozen=True)
class Change:
    """A change FastPix reports by webhook: `event` is the suffix of `video.live_stream.<event>`."""

    event: str
    at: datetime
    data: dict[str, Any]


def _hex32() -> str:
    return secrets.token_hex(16)


@dataclass
class PlaybackId:
    id: str
    accessPolicy: str

    def to_api(self) -> dict[str, Any]:
        return {"id": self.id, "accessPolicy": self.accessPolicy}


@dataclass
class Simulcast:
    simulcastId: str
    url: str
    streamKey: str
    isEnabled: bool = True
    metadata: dict[str, str] | None = None

    def to_api(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "simulcastId": self.simulcastId,
            "url": self.url,
            "streamKey": self.streamKey,
            "isEnabled": self.isEnabled,
        }
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        return out


@dataclass
class Stream:
    stream_id: str
    stream_key: str
    srt_secret: str
    srt_playback_secret: str
    created_at: str
    status: str = IDLE
    max_resolution: str = "1080p"
    max_duration: int = 0
    reconnect_window: int = 60
    enable_recording: bool = True
    enable_dvr_mode: bool = False
    media_policy: str = "public"
    metadata: dict[str, str] | None = None
    low_latency: bool = False
    closed_captions: bool = False
    trial: bool = False
    playback_ids: list[PlaybackId] = field(default_factory=list)
    simulcasts: list[Simulcast] = field(default_factory=list)
    views: int = 0
    # Encoder and broadcast bookkeeping (simulator-only, shown by GET /_sim/streams/{id}).
    encoder_connected: bool = False
    active_at: str | None = None  # preparing becomes active at this instant
    idle_at: str | None = None  # a disconnected encoder's reconnect window ends here
    live_since: str | None = None  # start of the current active stretch
    live_seconds: float = 0.0  # active time accumulated before live_since
    duration_exhausted: bool = False
    # Not persisted: drained by SimState after every operation.
    changes: list[Change] = field(default_factory=list, repr=False, compare=False)

    @classmethod
    def new(cls, now: datetime, access_policy: str = "public", **settings: Any) -> Stream:
        stream_id = _hex32()
        stream = cls(
            stream_id=stream_id,
            stream_key=f"{_hex32()}k{stream_id}",
            srt_secret=f"{_hex32()}k{stream_id}",
            srt_playback_secret=f"{_hex32()}k{stream_id}",
            created_at=iso_micro(now),
            **settings,
        )
        stream.playback_ids.append(PlaybackId(str(uuid.uuid4()), access_policy))
        stream._note("created", now)
        return stream

    def _note(self, event: str, at: datetime) -> None:
        self.changes.append(Change(event, at, self.to_api()))

    def take_changes(self) -> list[Change]:
        taken, self.changes = self.changes, []
        return taken

    def has_timer(self) -> bool:
        """Whether `settle` may change this stream later without any call."""
        return (
            self.active_at is not None
            or self.idle_at is not None
            or (self.status == ACTIVE and self.max_duration > 0)
        )

    # --- time-driven effects -------------------------------------------------------------

    def live_time(self, now: datetime) -> float:
        since = parse_instant(self.live_since)
        running = (now - since).total_seconds() if since is not None else 0.0
        return self.live_seconds + max(running, 0.0)

    def settle(self, now: datetime) -> bool:
        """Apply every time-driven effect due by `now`; True when anything changed."""
        changed = False
        active_at = parse_instant(self.active_at)
        if self.status == PREPARING and active_at is not None and now >= active_at:
            self.status = ACTIVE
            self.active_at = None
            self.live_since = iso_micro(active_at)
            if self.enable_recording:
                self._note("recording", active_at)
            self._note("active", active_at)
            changed = True
        if self.status == ACTIVE and self.max_duration > 0:
            since = parse_instant(self.live_since)
            if since is not None and self.live_time(now) >= self.max_duration:
                # The broadcast ends the moment its allowed time is used up.
                ended = since + timedelta(seconds=self.max_duration - self.live_seconds)
                self._stop_live(ended)
                self.status = DISABLED
                self.duration_exhausted = True
                self.encoder_connected = False
                self.idle_at = None
                self._note("disabled", ended)
                changed = True
        idle_at = parse_instant(self.idle_at)
        if idle_at is not None and now >= idle_at and self.status in (PREPARING, ACTIVE):
            self._stop_live(idle_at)
            self.status = IDLE
            self.idle_at = None
            self.active_at = None
            self.views = 0
            self._note("idle", idle_at)
            changed = True
        return changed

    def _stop_live(self, at: datetime) -> None:
        since = parse_instant(self.live_since)
        if since is not None:
            self.live_seconds += max((at - since).total_seconds(), 0.0)
        self.live_since = None

    def _end_broadcast(self, now: datetime) -> None:
        self._stop_live(now)
        self.encoder_connected = False
        self.active_at = None
        self.idle_at = None
        self.views = 0

    # --- API operations (call settle first) ----------------------------------------------

    def enable(self, now: datetime) -> None:
        if self.status != DISABLED:
            raise Refused(*ALREADY_ENABLED)
        if self.duration_exhausted or (self.max_duration > 0 and self.live_seconds >= self.max_duration):
            raise Refused(*DURATION_EXHAUSTED)
        self.status = IDLE
        self._note("idle", now)

    def disable(self, now: datetime) -> None:
        if self.status == DISABLED:
            raise Refused(*ALREADY_DISABLED)
        self._end_broadcast(now)
        self.status = DISABLED
        self._note("disabled", now)

    def finish(self, now: datetime) -> None:
        if self.status != ACTIVE:
            raise Refused(*CANNOT_COMPLETE)
        self._end_broadcast(now)
        self.status = IDLE
        self._note("idle", now)

    def update(self, now: datetime, metadata: dict[str, str] | None, reconnect_window: int | None) -> None:
        if self.status == DISABLED:
            raise Refused(*UPDATE_DISABLED)
        if metadata is not None:
            self.metadata = dict(metadata) or None
        if reconnect_window is not None:
            self.reconnect_window = reconnect_window
        self._note("updated", now)

    def delete(self, now: datetime) -> None:
        """Deleting always succeeds; the event carries the stream as it was."""
        self._note("deleted", now)

    # --- encoder (simulator control) -----------------------------------------------------

    def connect(self, now: datetime, delay_seconds: float) -> None:
        """The encoder starts pushing: idle -> preparing -> active after `delay_seconds`.

        Back within the reconnect window of a live broadcast, the broadcast goes on: `connected`
        and `active` again.
        """
        was_connected = self.encoder_connected
        resumed = self.status == ACTIVE and self.idle_at is not None and not was_connected
        self.encoder_connected = True
        self.idle_at = None
        if self.status == IDLE:
            self.status = PREPARING
            self.active_at = iso_micro(now + timedelta(seconds=delay_seconds))
            self._note("connected", now)
            self._note("preparing", now)
        elif not was_connected:
            self._note("connected", now)
            if resumed:
                self._note("active", now)

    def disconnect(self, now: datetime, window_seconds: float) -> None:
        """The encoder drops: the stream goes back to idle once the reconnect window passes."""
        if self.encoder_connected:
            self._note("disconnected", now)
        self.encoder_connected = False
        if self.status in (PREPARING, ACTIVE):
            self.idle_at = iso_micro(now + timedelta(seconds=window_seconds))

    # --- serialisation ---------------------------------------------------------------------

    def to_api(self) -> dict[str, Any]:
        """The stream exactly as FastPix shows it: field order as captured, unset metadata omitted."""
        out: dict[str, Any] = {
            "streamId": self.stream_id,
            "streamKey": self.stream_key,
            "srtSecret": self.srt_secret,
            "trial": self.trial,
            "status": self.status,
            "maxResolution": self.max_resolution,
            "maxDuration": self.max_duration,
            "createdAt": self.created_at,
            "reconnectWindow": self.reconnect_window,
            "enableRecording": self.enable_recording,
            "enableDvrMode": self.enable_dvr_mode,
            "mediaPolicy": self.media_policy,
        }
        if self.metadata:
            out["metadata"] = dict(self.metadata)
        out["lowLatency"] = self.low_latency
        out["closedCaptions"] = self.closed_captions
        out["playbackIds"] = [p.to_api() for p in self.playback_ids]
        if self.simulcasts:
            out["simulcastResponses"] = [s.to_api() for s in self.simulcasts]
        out["srtPlaybackResponse"] = {
            "srtPlaybackStreamId": f"play{self.stream_id}",
            "srtPlaybackSecret": self.srt_playback_secret,
        }
        return out

    def to_state(self) -> dict[str, Any]:
        pending, self.changes = self.changes, []
        try:
            out = asdict(self)
        finally:
            self.changes = pending
        del out["changes"]
        return out

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> Stream:
        values = dict(data)
        values.pop("changes", None)
        values["playback_ids"] = [PlaybackId(**p) for p in values.get("playback_ids", [])]
        values["simulcasts"] = [Simulcast(**s) for s in values.get("simulcasts", [])]
        return cls(**values)

    def __repr__(self) -> str:
        # Keys and secrets stay out of reprs and logs.
        return f"Stream(stream_id={self.stream_id!r}, status={self.status!r})"
