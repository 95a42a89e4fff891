"""Local checks of what we send, so a typo fails at once with a clear reason instead of a round trip.

Limits are FastPix's documented ones (OpenAPI CreateLiveStreamRequest / patchLiveStreamRequest).
"""

from __future__ import annotations

import re
from collections.abc import Mapping

from worker.fastpix.errors import InvalidRequest

STREAM_ID = re.compile(r"[0-9a-fA-F]{32}")
PLAYBACK_ID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
RECONNECT_WINDOW_RANGE = (60, 1800)
MAX_DURATION_RANGE = (60, 28800)  # or 0: unbounded
METADATA_MAX_KEYS = 10
METADATA_MAX_VALUE_CHARS = 255
PAGE_SIZE_RANGE = (1, 50)
ORDERS = ("asc", "desc")
RESOLUTIONS = ("1080p", "720p", "480p")
ACCESS_POLICIES = ("public", "private")


def stream_id(value: str) -> str:
    if not isinstance(value, str) or not STREAM_ID.fullmatch(value):
        raise InvalidRequest(f"invalid stream id {_shown(value)}: expected 32 hexadecimal characters")
    return value


def playback_id(value: str) -> str:
    if not isinstance(value, str) or not PLAYBACK_ID.fullmatch(value):
        raise InvalidRequest(f"invalid playback id {_shown(value)}: expected a UUID")
    return value


def reconnect_window(value: int) -> int:
    low, high = RECONNECT_WINDOW_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"reconnect window must be {low}..{high} seconds, got {value!r}")
    return value


def max_duration(value: int) -> int:
    low, high = MAX_DURATION_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not (value == 0 or low <= value <= high):
        raise InvalidRequest(f"max duration must be 0 (unbounded) or {low}..{high} seconds, got {value!r}")
    return value


def metadata(value: Mapping[str, str]) -> dict[str, str]:
    if len(value) > METADATA_MAX_KEYS:
        raise InvalidRequest(f"metadata allows at most {METADATA_MAX_KEYS} keys, got {len(value)}")
    for key, text in value.items():
        if not isinstance(key, str) or not key:
            raise InvalidRequest("metadata keys must be non-empty strings")
        if not isinstance(text, str):
            raise InvalidRequest(f"metadata value for {key!r} must be a string")
        if len(text) > METADATA_MAX_VALUE_CHARS:
            raise InvalidRequest(
                f"metadata value for {key!r} is {len(text)} characters; at most {METADATA_MAX_VALUE_CHARS}"
            )
    return dict(value)


def page_size(value: int) -> int:
    low, high = PAGE_SIZE_RANGE
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise InvalidRequest(f"page size (limit) must be {low}..{high}, got {value!r}")
    return value


def page_offset(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise InvalidRequest(f"offset must be a non-negative integer, got {value!r}")
    return value


def one_of(name: str, value: str, allowed: tuple[str, ...]) -> str:
    if value not in allowed:
        raise InvalidRequest(f"{name} must be one of {', '.join(allowed)}; got {value!r}")
    return value


def _shown(value: object) -> str:
    # Someone may paste a stream key where the id goes: never echo something that long.
    text = repr(value)
    return text if len(text) <= 40 else f"of {len(str(value))} characters"
