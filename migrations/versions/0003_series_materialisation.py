"""Bookkeeping for materialising recurring broadcasts.

- `broadcasts.cancel_reason`: NULL when a person cancelled the row (or it is not cancelled); set when
  onair cancelled it itself (its series was edited or cancelled). The materialiser never re-creates an
  occurrence a person cancelled, but does re-create one it cancelled itself if an edit brings it back.
- A unique index on (series_id, starts_at) over non-cancelled rows: one live row per occurrence, so
  two materialisers racing cannot both insert it.
- `broadcast_series.materialized_fingerprint` (a hash of the columns that shape the occurrences, as
  last materialised) and `materialized_at` (when): the planner tick skips a series whose fingerprint
  is unchanged and whose rows reach far enough ahead, so a tick costs nothing when nothing changed,
  even after an edit made with plain SQL.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | Sequence[str] | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"
SERIES_TIMESTAMPS_0002 = (
    "starts_from",
    "until",
    "materialized_until",
    "cancelled_at",
    "created_at",
    "updated_at",
)
SERIES_TIMESTAMPS = (*SERIES_TIMESTAMPS_0002, "materialized_at")
TRIGGER_KINDS = ("check_ts_insert", "check_ts_update", "normalise_ts_insert", "normalise_ts_update")
LIVE = "cancelled_at IS NULL"


def _is_timestamp(expr: str) -> str:
    return (
        f"(typeof({expr}) = 'text'"
        f" AND {expr} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        f" AND {CANONICAL.format(expr)} IS NOT NULL"
        f" AND date(substr({expr}, 1, 10), '+0 days') IS substr({expr}, 1, 10))"
    )


def _timestamp_triggers(table: str, columns: Sequence[str]) -> list[str]:
    """The SQLite timestamp triggers of 0001/0002, for a new list of columns."""
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


def _replace_series_triggers(columns: Sequence[str]) -> None:
    for kind in TRIGGER_KINDS:
        op.execute(f"DROP TRIGGER IF EXISTS trg_broadcast_series_{kind}")
    for statement in _timestamp_triggers("broadcast_series", columns):
        op.execute(statement)


def upgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.add_column("broadcasts", sa.Column("cancel_reason", sa.Text(), nullable=True))
    op.create_index(
        op.f("ix_broadcasts_series_id_starts_at"),
        "broadcasts",
        ["series_id", "starts_at"],
        unique=True,
        postgresql_where=sa.text(LIVE),
        sqlite_where=sa.text(LIVE),
    )
    op.add_column("broadcast_series", sa.Column("materialized_fingerprint", sa.String(64), nullable=True))
    op.add_column("broadcast_series", sa.Column("materialized_at", TS, nullable=True))
    if sqlite:
        _replace_series_triggers(SERIES_TIMESTAMPS)


def downgrade() -> None:
    sqlite = op.get_bind().dialect.name == "sqlite"
    op.drop_index(op.f("ix_broadcasts_series_id_starts_at"), table_name="broadcasts")
    if sqlite:
        # SQLite refuses to drop a column a trigger names.
        for kind in TRIGGER_KINDS:
            op.execute(f"DROP TRIGGER IF EXISTS trg_broadcast_series_{kind}")
    op.drop_column("broadcast_series", "materialized_at")
    op.drop_column("broadcast_series", "materialized_fingerprint")
    op.drop_column("broadcasts", "cancel_reason")
    if sqlite:
        _replace_series_triggers(SERIES_TIMESTAMPS_0002)
