"""The live-stream operations of the FastPix API, each a plain function over the simulator state.

Every operation runs under the state lock with the request's arrival time, settles the streams it
touches (encoder timers, maxDuration), and returns `(http_status, body)`. Refusals come back as
FastPix's error envelope with the real messages.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from worker.simulator import validation
from worker.simulator.model import SIMULCAST_NOT_IDLE, PlaybackId, Refused, Simulcast, Stream
from worker.simulator.state import SimState

Result = tuple[int, dict[str, Any]]

STREAM_NOT_FOUND = (
    404,
    "stream not found",
    "The requested resource (eg:streamId) doesn't exist in the workspace",
)
PLAYBACK_NOT_FOUND = (
    404,
    "stream/playbackId not found",
    "The requested resource (eg:streamId/playbackId) doesn't exist in the workspace",
)
SIMULCAST_NOT_FOUND = (
    404,
    "stream/simulcast not found",
    "The requested resource (eg:streamId/simulcastId) doesn't exist in the workspace",
)
UNAUTHORIZED = (
    401,
    "unauthorized",
    "This happens because of 1)Miss match between access token and secret key 2)Miss match between "
    "access token and workspace 3)No valid Access token provided.",
)


def error_body(status: int, message: str, description: str) -> dict[str, Any]:
    return {"success": False, "error": {"code": status, "message": message, "description": description}}


def validation_body(fields: list[dict[str, str]]) -> dict[str, Any]:
    return {
        "success": False,
        "error": {"code": 422, "message": "payload validation failed", "fields": fields},
    }


def ok(data: Any = None, status: int = 200) -> Result:
    return (status, {"success": True} if data is None else {"success": True, "data": data})


@dataclass(frozen=True)
class Call:
    """What an operation needs from one request."""

    now: datetime
    stream_id: str | None
    sub_id: str | None  # playbackId or simulcastId
    query: Mapping[str, str]
    body: Any


class NotFound(Exception):
    def __init__(self, spec: tuple[int, str, str]) -> None:
        super().__init__(spec[1])
        self.spec = spec


def settled(state: SimState, call: Call) -> Stream:
    stream = state.streams.get(call.stream_id or "")
    if stream is None:
        raise NotFound(STREAM_NOT_FOUND)
    state.settle(stream, call.now)
    return stream


def create(state: SimState, call: Call) -> Result:
    request = validation.check_create(call.body)
    stream = Stream.new(call.now, request.access_policy, **request.settings)
    state.streams[stream.stream_id] = stream
    state.changed(stream)
    return ok(stream.to_api(), 201)


def list_streams(state: SimState, call: Call) -> Result:
    query = validation.check_list_query(call.query)
    streams = list(state.streams.values())
    for stream in streams:
        state.settle(stream, call.now)
    if query.descending:
        streams.reverse()
    start = (query.page - 1) * query.limit
    page = streams[start : start + query.limit]
    body = {
        "success": True,
        "data": [s.to_api() for s in page],
        "pagination": {
            "totalRecords": len(streams),
            "currentOffset": query.page,
            "offsetCount": math.ceil(len(streams) / query.limit),
        },
    }
    return 200, body


def get(state: SimState, call: Call) -> Result:
    return ok(settled(state, call).to_api())


def viewers(state: SimState, call: Call) -> Result:
    return ok({"views": settled(state, call).views})


def update(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    metadata, window = validation.check_update(call.body)
    stream.update(call.now, metadata, window)
    state.changed(stream)
    return ok(stream.to_api())


def enable(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    stream.enable(call.now)
    state.changed(stream)
    return ok()


def disable(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    stream.disable(call.now)
    state.changed(stream)
    return ok()


def finish(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    stream.finish(call.now)
    state.changed(stream)
    return ok()


def delete(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    stream.delete(call.now)
    state.changed(stream)
    del state.streams[stream.stream_id]
    return ok()


def playback_create(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    policy = validation.check_access_policy(call.body)
    playback = PlaybackId(str(uuid.uuid4()), policy)
    # The real API lists the newest playback id first.
    stream.playback_ids.insert(0, playback)
    state.mark_dirty()
    return ok(playback.to_api(), 201)


def _playback(stream: Stream, playback_id: str | None) -> PlaybackId:
    for playback in stream.playback_ids:
        if playback.id == playback_id:
            return playback
    raise NotFound(PLAYBACK_NOT_FOUND)


def playback_get(state: SimState, call: Call) -> Result:
    return ok(_playback(settled(state, call), call.sub_id).to_api())


def playback_delete(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    playback = _playback(stream, call.query.get("playbackId"))
    stream.playback_ids.remove(playback)
    state.mark_dirty()
    return ok()


def _simulcast(stream: Stream, simulcast_id: str | None) -> Simulcast:
    for simulcast in stream.simulcasts:
        if simulcast.simulcastId == simulcast_id:
            return simulcast
    raise NotFound(SIMULCAST_NOT_FOUND)


def simulcast_create(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    url, key, metadata = validation.check_simulcast(call.body)
    if stream.status != "idle":
        raise Refused(*SIMULCAST_NOT_IDLE)
    simulcast = Simulcast(uuid.uuid4().hex, url, key, True, metadata or None)
    stream.simulcasts.append(simulcast)
    state.mark_dirty()
    return ok(simulcast.to_api(), 201)


def simulcast_get(state: SimState, call: Call) -> Result:
    return ok(_simulcast(settled(state, call), call.sub_id).to_api())


def simulcast_update(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    simulcast = _simulcast(stream, call.sub_id)
    enabled, metadata = validation.check_simulcast_update(call.body)
    if stream.status == "disabled":
        raise Refused(400, "simulcast cannot be updated", "The parent stream is disabled.")
    if enabled is not None:
        simulcast.isEnabled = enabled
    if metadata is not None:
        simulcast.metadata = metadata or None
    state.mark_dirty()
    return ok(simulcast.to_api())


def simulcast_delete(state: SimState, call: Call) -> Result:
    stream = settled(state, call)
    stream.simulcasts.remove(_simulcast(stream, call.sub_id))
    state.mark_dirty()
    return ok()


Operation = Callable[[SimState, Call], Result]


def run(operation: Operation, state: SimState, call: Call) -> Result:
    """Run one operation, turning refusals into FastPix's error bodies."""
    try:
        return operation(state, call)
    except NotFound as missing:
        return missing.spec[0], error_body(*missing.spec)
    except Refused as refused:
        return refused.status, error_body(refused.status, refused.message, refused.description)
    except validation.Invalid as invalid:
        return 422, validation_body(invalid.fields)


def status_of(state: SimState, stream_id: str | None, now: datetime) -> str | None:
    stream = state.streams.get(stream_id or "")
    if stream is None:
        return None
    state.settle(stream, now)
    return stream.status
