"""webhook_events: FastPix's live-stream webhooks as received; streams.status_at.

One row per event id (the unique key that makes a redelivery a no-op), with the event's type, stream,
the status it reports and its `created_at`; never the payload's streamKey / srtSecret.
`streams.status_at` is when onair's known status was true (the event's created_at, or the moment a
GET read it), so an older event never overwrites a newer status.

Revision ID: 0009
Revises: 0008
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | Sequence[str] | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"
TRIGGER_KINDS = ("check_ts_insert", "check_ts_update", "normalise_ts_insert", "normalise_ts_update")
STREAM_TIMESTAMPS_0001 = ("last_seen_at", "created_at")
STREAM_TIMESTAMPS = (*STREAM_TIMESTAMPS_0001, "status_at")
EVENT_TIMESTAMPS = ("created_at", "received_at")


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


def _replace_triggers(table: str, columns: Sequence[str]) -> None:
    for kind in TRIGGER_KINDS:
        op.execute(f"DROP TRIGGER IF EXISTS trg_{table}_{kind}")
    for statement in _timestamp_triggers(table, columns):
        op.execute(statement)


def upgrade() -> None:
    op.add_column("streams", sa.Column("status_at", TS, nullable=True))
    op.create_table(
        "webhook_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("event_id", sa.String(length=255), nullable=False),
        sa.Column("type", sa.String(length=128), nullable=False),
        sa.Column("stream_id", sa.String(length=64), nullable=True),
        sa.Column("status", sa.String(length=16), nullable=True),
        sa.Column("created_at", TS, nullable=False),
        sa.Column("received_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("id", name="pk_webhook_events"),
        sa.UniqueConstraint("event_id", name="uq_webhook_events_event_id"),
    )
    op.create_index("ix_webhook_events_stream_id_created_at", "webhook_events", ["stream_id", "created_at"])
    if op.get_bind().dialect.name == "sqlite":
        _replace_triggers("streams", STREAM_TIMESTAMPS)
        _replace_triggers("webhook_events", EVENT_TIMESTAMPS)


def downgrade() -> None:
    op.drop_index("ix_webhook_events_stream_id_created_at", table_name="webhook_events")
    op.drop_table("webhook_events")
    if op.get_bind().dialect.name == "sqlite":
        # SQLite refuses to drop a column a trigger names; 0001's triggers come back without it.
        _replace_triggers("streams", STREAM_TIMESTAMPS_0001)
    op.drop_column("streams", "status_at")
