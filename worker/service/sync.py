"""Keep the `streams` table in step with FastPix, so the planner knows which streams exist."""

from __future__ import annotations

from worker.fastpix.models import LiveStream
from worker.service.runtime import Runtime
from worker.store import schedules
from worker.store.db import transaction


def stream_name(stream: LiveStream) -> str | None:
    metadata = stream.metadata or {}
    return metadata.get("livestream_name") or metadata.get("name")


def sync_streams(rt: Runtime) -> int:
    # The statuses are as of the listing's start: a webhook dated while the pages were read is newer
    # than what they say (dated at the end, an `active` sent meanwhile was ignored as older).
    now = rt.clock.now()
    streams = list(rt.client.iter_streams())
    with transaction(rt.engine) as session:
        # Stream id order: concurrent syncs (one per worker at start) then lock rows in the same order,
        # so PostgreSQL never sees two upserts waiting on each other.
        ordered = sorted(streams, key=lambda s: s.stream_id)
        schedules.upsert_streams(
            session, [(s.stream_id, stream_name(s), s.status) for s in ordered], seen_at=now
        )
    return len(streams)
