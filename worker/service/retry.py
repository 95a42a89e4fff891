"""`onair action retry ID`: run a failed or missed action again, if it is still useful (domain.rerun):
as the next attempt of the same action, with a deadline from the slot it serves as it is now."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine

from worker.domain.decisions import supersedes
from worker.domain.rerun import NotUseful, Slot, judge_retry
from worker.service.refusal import NotFound, Refused, check_note
from worker.store import rerun
from worker.store.db import transaction


@dataclass(frozen=True)
class Retried:
    action_id: int
    kind: str
    stream_id: str
    attempt: int  # the attempt the retry will be
    deadline_at: datetime


def retry_action(
    engine: Engine, action_id: int, *, actor: str, now: datetime, note: str | None = None
) -> Retried:
    """Put the action back to pending now; Refused, with the reason, when it is not useful any more."""
    check_note(note)
    with transaction(engine) as session:
        action = rerun.find_action(session, action_id)
        if action is None:
            raise NotFound("action_id", f"no action with id {action_id} (see `onair history`)")
        found = rerun.slot_of(session, action)
        slot = None
        if found is not None:
            row, following = found
            slot = Slot(row.ends_at, following, cancelled=row.cancelled_at is not None)
        later = next(
            (other for other in rerun.later_succeeded(session, action) if supersedes(other, action)), None
        )
        by = (
            None
            if later is None
            else f"the {later.kind} #{later.id} due {later.due_at:%Y-%m-%d %H:%M:%S} UTC"
        )
        verdict = judge_retry(
            action.kind,
            action.state,
            now=now,
            stored_deadline=action.deadline_at,
            slot=slot,
            superseded_by=by,
        )
        if isinstance(verdict, NotUseful):
            raise Refused("action_id", f"action {action_id} cannot be retried: {verdict.reason}")
        why = f": {note}" if note else ""
        if not rerun.rerun(
            session,
            action,
            deadline_at=verdict.deadline_at,
            now=now,
            actor=actor,
            event="retry_requested",
            detail=f"retry asked by {actor}{why}; runs now as attempt {action.attempts + 1}, "
            f"by {verdict.deadline_at:%Y-%m-%d %H:%M:%S} UTC",
        ):
            raise Refused(
                "action_id",
                f"action {action_id} changed meanwhile: look again (`onair history --action {action_id}`)",
            )
        return Retried(action.id, action.kind, action.stream_id, action.attempts + 1, verdict.deadline_at)
