"""broadcast_viewers: each sampled broadcast's viewer counts as running figures.

One row per broadcast that was sampled (or tried): how many samples, their sum, the peak and when,
the last count, when the last sample was taken and tried (the claim that makes each period's sample
one call, whichever worker looks), and the failed calls with the last cause. A few dozen bytes per
broadcast whatever its length; deleted with its broadcast.

Revision ID: 0011
Revises: 0010
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | Sequence[str] | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"
TIMESTAMPS = ("peak_at", "sampled_at", "attempted_at", "last_error_at")


def _is_timestamp(expr: str) -> str:
    return (
        f"(typeof({expr}) = 'text'"
        f" AND {expr} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        f" AND {CANONICAL.format(expr)} IS NOT NULL"
        f" AND date(substr({expr}, 1, 10), '+0 days') IS substr({expr}, 1, 10))"
    )


def _timestamp_triggers(table: str, columns: Sequence[str]) -> list[str]:
    """The SQLite timestamp triggers of 0001-0003 (which this copies, as migrations are frozen)."""
    checks = "\n".join(
        f"  SELECT RAISE(ABORT, '{table}.{column} is not a timestamp: use YYYY-MM-DD HH:MM:SS (UTC)"
        f" or ISO 8601 with an offset') WHERE NEW.{column} IS NOT NULL"
        f" AND NOT {_is_timestamp('NEW.' + column)};"
        for column in columns
    )
    differs = " OR ".join(f"NEW.{c} IS NOT {CANONICAL.format('NEW.' + c)}" for c in columns)
    assignments = ", ".join(f"{c} = {CANONICAL.format(c)}" for c in columns)
    normalise = f"  UPDATE {table} SET {assignments} WHERE rowid = NEW.rowid;"
    of_columns = ", ".join(columns)
    return [
        f"CREATE TRIGGER trg_{table}_check_ts_insert BEFORE INSERT ON {table}\nBEGIN\n{checks}\nEND",
        f"CREATE TRIGGER trg_{table}_check_ts_update BEFORE UPDATE OF {of_columns} ON {table}\n"
        f"BEGIN\n{checks}\nEND",
        f"CREATE TRIGGER trg_{table}_normalise_ts_insert AFTER INSERT ON {table}\n"
        f"WHEN {differs}\nBEGIN\n{normalise}\nEND",
        f"CREATE TRIGGER trg_{table}_normalise_ts_update AFTER UPDATE OF {of_columns} ON {table}\n"
        f"WHEN {differs}\nBEGIN\n{normalise}\nEND",
    ]


def upgrade() -> None:
    op.create_table(
        "broadcast_viewers",
        sa.Column("broadcast_id", ID, nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=False),
        sa.Column("samples", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("total_viewers", sa.BigInteger(), server_default=sa.text("0"), nullable=False),
        sa.Column("peak_viewers", sa.Integer(), nullable=True),
        sa.Column("peak_at", TS, nullable=True),
        sa.Column("last_viewers", sa.Integer(), nullable=True),
        sa.Column("sampled_at", TS, nullable=True),
        sa.Column("attempted_at", TS, nullable=True),
        sa.Column("failures", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("last_error_at", TS, nullable=True),
        sa.CheckConstraint(
            "samples >= 0 AND total_viewers >= 0 AND failures >= 0",
            name="ck_broadcast_viewers_counts_not_negative",
        ),
        sa.ForeignKeyConstraint(
            ["broadcast_id"],
            ["broadcasts.id"],
            name="fk_broadcast_viewers_broadcast_id_broadcasts",
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("broadcast_id", name="pk_broadcast_viewers"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _timestamp_triggers("broadcast_viewers", TIMESTAMPS):
            op.execute(statement)


def downgrade() -> None:
    # Dropping the table drops its SQLite triggers with it.
    op.drop_table("broadcast_viewers")
