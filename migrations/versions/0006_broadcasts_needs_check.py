"""broadcasts.needs_check: set by the database whenever a row is written, so the planner validates new
and changed broadcasts on its next tick wherever they lie in time, not only once they enter its horizon.

The planner reads only the broadcasts near its window (a tick costs the window, not the table); rows
further ahead used to stay unchecked until then, so a typo made today surfaced days later. A new row
starts with needs_check true; a trigger sets it again on every UPDATE of a column the planner reads,
whoever writes (onair or plain SQL). The planner clears it once it has judged the row. Partial indexes
keep the lookup of rows to check (and of flagged rows, re-checked each tick) independent of table size.

Revision ID: 0006
Revises: 0005
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | Sequence[str] | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# The columns the planner's checks read: writing any of them makes the row due for a check.
CHECKED_COLUMNS = (
    "stream_id, starts_at, ends_at, lead_seconds, title, metadata, reconnect_window, organiser_id,"
    " cancelled_at"
)
PG_FUNCTION = (
    "CREATE FUNCTION broadcasts_mark_needs_check() RETURNS trigger LANGUAGE plpgsql AS $$\n"
    "BEGIN\n  NEW.needs_check := true;\n  RETURN NEW;\nEND\n$$"
)
PG_TRIGGER = (
    f"CREATE TRIGGER trg_broadcasts_needs_check BEFORE UPDATE OF {CHECKED_COLUMNS} ON broadcasts"
    " FOR EACH ROW EXECUTE FUNCTION broadcasts_mark_needs_check()"
)
SQLITE_TRIGGER = (
    f"CREATE TRIGGER trg_broadcasts_needs_check AFTER UPDATE OF {CHECKED_COLUMNS} ON broadcasts\n"
    "BEGIN\n  UPDATE broadcasts SET needs_check = 1 WHERE rowid = NEW.rowid;\nEND"
)


def upgrade() -> None:
    op.add_column(
        "broadcasts", sa.Column("needs_check", sa.Boolean(), server_default=sa.true(), nullable=False)
    )
    op.create_index(
        "ix_broadcasts_needs_check",
        "broadcasts",
        ["id"],
        postgresql_where=sa.text("needs_check"),
        sqlite_where=sa.text("needs_check"),
    )
    op.create_index(
        "ix_broadcasts_flagged",
        "broadcasts",
        ["id"],
        postgresql_where=sa.text("invalid_reason IS NOT NULL"),
        sqlite_where=sa.text("invalid_reason IS NOT NULL"),
    )
    if op.get_bind().dialect.name == "postgresql":
        op.execute(PG_FUNCTION)
        op.execute(PG_TRIGGER)
    else:
        op.execute(SQLITE_TRIGGER)


def downgrade() -> None:
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER trg_broadcasts_needs_check ON broadcasts")
        op.execute("DROP FUNCTION broadcasts_mark_needs_check()")
    else:
        op.execute("DROP TRIGGER trg_broadcasts_needs_check")
    op.drop_index("ix_broadcasts_flagged", table_name="broadcasts")
    op.drop_index("ix_broadcasts_needs_check", table_name="broadcasts")
    # Plain DROP COLUMN (SQLite 3.35+): a batch rebuild of the table would drop its other triggers.
    op.execute("ALTER TABLE broadcasts DROP COLUMN needs_check")
