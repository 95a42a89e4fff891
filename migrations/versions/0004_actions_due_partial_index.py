"""A partial index on the ledger's live rows: actions (state, next_attempt_at) WHERE state IN
('pending', 'claimed').

The dispatcher, reaper and missed-marker read only pending and claimed rows, while most of the table is
finished actions. With ANALYZE statistics SQLite judged the full (state, next_attempt_at) index poor
(half the table shares one state) and scanned the table instead (dispatcher tick 4 ms -> 73 ms at
100,000 rows, docs/performance.md). The partial index holds only the live rows, so it stays small and
is chosen whatever the statistics say. The full index stays: other queries filter on finished states.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | Sequence[str] | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

LIVE_STATES = "state IN ('pending', 'claimed')"


def upgrade() -> None:
    op.create_index(
        "ix_actions_live_state_next_attempt_at",
        "actions",
        ["state", "next_attempt_at"],
        postgresql_where=sa.text(LIVE_STATES),
        sqlite_where=sa.text(LIVE_STATES),
    )


def downgrade() -> None:
    op.drop_index("ix_actions_live_state_next_attempt_at", table_name="actions")
