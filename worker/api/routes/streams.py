"""GET /v1/streams: every known stream with its busy and free times in a range."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated

from fastapi import APIRouter, Query

from worker.api.deps import Ctx, Reader, Who
from worker.api.errors import invalid_field
from worker.api.responses import errors
from worker.api.schemas import StreamList, StreamOut, StreamsQuery
from worker.api.times import iso_z, zone_or_error
from worker.api.views import busy_slot, free_between, free_slot
from worker.service import booking_views

DEFAULT_RANGE = timedelta(hours=24)
MAX_RANGE = timedelta(days=31)


router = APIRouter(tags=["streams"])


@router.get(
    "/v1/streams",
    operation_id="listStreams",
    summary="Every stream with its busy slots (lead included) and free time in [from, to)",
    response_description="the streams, each with busy and free intervals",
    responses=errors(401, 422),
)
def list_streams(query: Annotated[StreamsQuery, Query()], who: Who, ctx: Ctx, session: Reader) -> StreamList:
    zone = zone_or_error(query.tz) if query.tz else None
    start = query.range_from or ctx.clock.now()
    end = query.range_to or start + DEFAULT_RANGE
    if end <= start:
        raise invalid_field("to", f"to {iso_z(end)} is not after from {iso_z(start)}")
    if end - start > MAX_RANGE:
        raise invalid_field(
            "to", f"the range is {end - start}; ask for at most {MAX_RANGE.days} days at a time"
        )
    out = []
    for stream, rows in booking_views.slots_by_stream(session, start, end):
        gaps = free_between([(r.slot_starts_at, r.ends_at) for r in rows], start, end)
        out.append(
            StreamOut(
                stream_id=stream.stream_id,
                name=stream.name,
                status=stream.status,
                busy=[busy_slot(r, who.organiser_id, zone) for r in rows],
                free=[free_slot(a, b, zone) for a, b in gaps],
            )
        )
    return StreamList(range_from=iso_z(start), range_to=iso_z(end), streams=out)
