"""A partial index on the ledger's live rows by due time: actions (state, due_at) WHERE state IN
('pending', 'claimed'), so a dispatcher tick reads only the rows it may act on.

Every second the dispatcher marks missed the pending rows whose deadline passed, and ranks each
stream's due, claimed and retrying rows. With the live rows indexed on (state, next_attempt_at) alone,
both statements visited every live row: a busy night's 75,000 planned actions cost ~60 ms a tick on
SQLite, inside the tick's write lock, which the executors' write-ahead records waited behind at the
instant of a call. Every row either statement needs is claimed or due by now (a deadline is never
before its due time; a retrying row that can hold back a due one was due before it), so both become a
range of this index. docs/performance.md has the figures.

Revision ID: 0016
Revises: 0015
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0016"
down_revision: str | Sequence[str] | None = "0015"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_STATES = "state IN ('pending', 'claimed')"


def upgrade() -> None:
    op.create_index(
        "ix_actions_live_state_due_at",
        "actions",
        ["state", "due_at"],
        postgresql_where=sa.text(LIVE_STATES),
        sqlite_where=sa.text(LIVE_STATES),
    )


def downgrade() -> None:
    op.drop_index("ix_actions_live_state_due_at", table_name="actions")
