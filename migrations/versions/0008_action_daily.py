"""Retention: action_daily keeps per-day figures of the actions `onair db prune` deletes, and an index
on actions.due_at lets the prune find old actions one day at a time without reading the whole ledger.

Revision ID: 0008
Revises: 0007
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | Sequence[str] | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    op.create_table(
        "action_daily",
        sa.Column("day", sa.Date(), nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("state", sa.String(16), nullable=False),
        sa.Column("actions", sa.Integer(), nullable=False),
        sa.Column("timed", sa.Integer(), nullable=False),
        sa.Column("lateness_p50_ms", sa.Float(), nullable=True),
        sa.Column("lateness_p99_ms", sa.Float(), nullable=True),
        sa.Column("lateness_max_ms", sa.Float(), nullable=True),
        sa.PrimaryKeyConstraint("day", "stream_id", "kind", "state", name="pk_action_daily"),
    )
    op.create_index("ix_actions_due_at", "actions", ["due_at"])


def downgrade() -> None:
    op.drop_index("ix_actions_due_at", table_name="actions")
    op.drop_table("action_daily")
