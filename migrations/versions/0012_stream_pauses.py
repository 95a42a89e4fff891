"""stream_pauses: an operator's pause of a stream (onair acts on it not at all while it holds).

One row per pause: who paused it, when, why (the note), until when (NULL: until resumed), and who
ended it and when. A pause is in force while `resumed_at` is NULL and `until` is NULL or still ahead;
the rows stay afterwards as the stream's history of pauses.

Revision ID: 0012
Revises: 0011
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | Sequence[str] | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")

CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"
PAUSE_TIMESTAMPS = ("paused_at", "until", "resumed_at")


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
        "stream_pauses",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=False),
        sa.Column("paused_at", TS, nullable=False),
        sa.Column("paused_by", sa.String(length=255), nullable=False),
        sa.Column("note", sa.Text(), nullable=True),
        sa.Column("until", TS, nullable=True),
        sa.Column("resumed_at", TS, nullable=True),
        sa.Column("resumed_by", sa.String(length=255), nullable=True),
        sa.PrimaryKeyConstraint("id", name="pk_stream_pauses"),
    )
    op.create_index("ix_stream_pauses_stream_id_paused_at", "stream_pauses", ["stream_id", "paused_at"])
    # The pauses not yet ended: what the executor and the planner read on every batch and tick.
    op.create_index(
        "ix_stream_pauses_open",
        "stream_pauses",
        ["stream_id"],
        postgresql_where=sa.text("resumed_at IS NULL"),
        sqlite_where=sa.text("resumed_at IS NULL"),
    )
    if op.get_bind().dialect.name == "sqlite":
        for statement in _timestamp_triggers("stream_pauses", PAUSE_TIMESTAMPS):
            op.execute(statement)


def downgrade() -> None:
    op.drop_index("ix_stream_pauses_open", table_name="stream_pauses")
    op.drop_index("ix_stream_pauses_stream_id_paused_at", table_name="stream_pauses")
    op.drop_table("stream_pauses")
