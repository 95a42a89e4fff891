"""Small SQL helpers shared by the ledger modules."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any, TypeVar, cast

from sqlalchemy import BindParameter, ColumnElement, Table, bindparam, literal_column, select
from sqlalchemy.orm import Session

from worker.store.models import Action, ActionEvent

# Stay well under SQLite's and PostgreSQL's bound-parameter limits in IN (...) lists.
CHUNK = 500
T = TypeVar("T")
actions = cast(Table, Action.__table__)
# Repeats the partial index's WHERE (migration 0004) with literal values: SQLite uses a partial index
# only when the query's WHERE names its condition, and `state = 'pending'` alone does not.
IN_LIVE_INDEX: ColumnElement[bool] = actions.c.state.in_(
    [literal_column("'pending'"), literal_column("'claimed'")]
)
events_table = cast(Table, ActionEvent.__table__)


def chunked(items: Sequence[T], size: int = CHUNK) -> Iterator[Sequence[T]]:
    for start in range(0, len(items), size):
        yield items[start : start + size]


def lock_in_state(session: Session, ids: Sequence[int], state: str) -> set[int]:
    """The ids among `ids` still in `state`, row-locked until commit.

    On PostgreSQL rows another transaction holds are skipped (SKIP LOCKED): they are left for the next
    tick rather than waited for. On SQLite the caller's BEGIN IMMEDIATE already excludes other writers.
    """
    held: set[int] = set()
    for chunk in chunked(ids):
        held.update(session.execute(_LOCK_IN_STATE, {"ids": list(chunk), "state": state}).scalars())
    return held


# Built once, like every statement of the act path: SQLAlchemy caches its compiled form.
IDS: BindParameter[Any] = bindparam("ids", expanding=True)
_LOCK_IN_STATE = (
    select(actions.c.id)
    .where(actions.c.id.in_(IDS), actions.c.state == bindparam("state"))
    .with_for_update(skip_locked=True)
)
