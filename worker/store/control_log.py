"""The controls' own history: action_events rows with no action (a pause, a move, an edit, a token)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.models import ActionEvent


def control_events(session: Session, stream_id: str | None, *, limit: int) -> list[ActionEvent]:
    """The latest, newest first: of one stream, or (None) those of no stream (organisers' tokens)."""
    query = select(ActionEvent).where(ActionEvent.action_id.is_(None))
    if stream_id is None:
        query = query.where(ActionEvent.stream_id.is_(None))
    else:
        query = query.where(ActionEvent.stream_id == stream_id)
    return list(session.scalars(query.order_by(ActionEvent.at.desc(), ActionEvent.id.desc()).limit(limit)))
