"""streams.between_slots: what a stream does between its slots, `keep` (the default) or `disable`.

With `disable` the planner disables the stream after each slot (after its finish and metadata
restore) unless the next slot's enable is a few minutes away. NOT NULL with a server default, so
existing rows and plain-SQL inserts read `keep`, today's behaviour; a check refuses other values.

Revision ID: 0010
Revises: 0009
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0010"
down_revision: str | Sequence[str] | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ck_streams_between_slots_known"
CHECK = "between_slots IN ('keep', 'disable')"


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        # A column constraint in ADD COLUMN: batch mode would rebuild the table and lose its triggers.
        op.execute(
            "ALTER TABLE streams ADD COLUMN between_slots VARCHAR(16) DEFAULT 'keep' NOT NULL"
            f" CONSTRAINT {NAME} CHECK ({CHECK})"
        )
        return
    op.add_column(
        "streams",
        sa.Column("between_slots", sa.String(length=16), server_default=sa.text("'keep'"), nullable=False),
    )
    op.create_check_constraint(NAME, "streams", CHECK)


def downgrade() -> None:
    if op.get_bind().dialect.name != "sqlite":
        op.drop_constraint(NAME, "streams", type_="check")
    # On SQLite the check belongs to the column and goes with it.
    op.drop_column("streams", "between_slots")
