"""Where a broadcast's RESTORE finds what its UPDATE merged: the UPDATE's `api_response` (see
worker.domain.metadata for the record, ledger_fence.note_api_response for the write)."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from worker.store.sqlutil import actions


def merge_record(session: Session, update_key: str) -> str | None:
    """The record stored by the action with this idempotency key, if it stored one."""
    return session.execute(
        select(actions.c.api_response).where(actions.c.idempotency_key == update_key)
    ).scalar_one_or_none()
