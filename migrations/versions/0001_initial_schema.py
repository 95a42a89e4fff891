"""Initial schema: streams, broadcasts, off_hours, the actions ledger, action_events, scheduler_state.

On SQLite, which has no timestamp type, triggers keep every timestamp column in one canonical UTC text
form, `YYYY-MM-DD HH:MM:SS.SSS` (what strftime('%Y-%m-%d %H:%M:%f', ...) prints), whatever an operator
types: `'2026-11-27 18:00:00'` (UTC) or ISO 8601 with 'T' and an offset or 'Z'. Text that is not a
timestamp is refused. So text comparison and ORDER BY in SQL order instants correctly.

Revision ID: 0001
Revises:
Create Date: 2026-11-27
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | Sequence[str] | None = None
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the application code does.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")

TIMESTAMP_COLUMNS = {
    "streams": ("last_seen_at", "created_at"),
    "broadcasts": ("starts_at", "ends_at", "cancelled_at", "created_at", "updated_at"),
    "off_hours": ("cancelled_at", "created_at", "updated_at"),
    "actions": (
        "due_at",
        "deadline_at",
        "next_attempt_at",
        "lease_expires_at",
        "created_at",
        "updated_at",
        "finished_at",
    ),
    "action_events": ("at",),
    "scheduler_state": ("updated_at",),
}
CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"


def _is_timestamp(expr: str) -> str:
    # The GLOB refuses what SQLite would otherwise read as a Julian day number or 'now'; the date()
    # round trip refuses dates SQLite would roll over (2026-02-30 -> 2026-03-02).
    return (
        f"(typeof({expr}) = 'text'"
        f" AND {expr} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        f" AND {CANONICAL.format(expr)} IS NOT NULL"
        f" AND date(substr({expr}, 1, 10), '+0 days') IS substr({expr}, 1, 10))"
    )


def _sqlite_triggers(table: str, columns: Sequence[str]) -> list[str]:
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


def _ends_after_start(dialect: str) -> sa.CheckConstraint:
    if dialect == "sqlite":
        return sa.CheckConstraint("julianday(ends_at) > julianday(starts_at)", name="ends_after_start")
    return sa.CheckConstraint("ends_at > starts_at", name="ends_after_start")


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    op.create_table(
        "streams",
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("name", sa.String(255), nullable=True),
        sa.Column("status", sa.String(16), nullable=True),
        sa.Column("last_seen_at", TS, nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.PrimaryKeyConstraint("stream_id", name=op.f("pk_streams")),
    )
    op.create_table(
        "broadcasts",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("starts_at", TS, nullable=False),
        sa.Column("ends_at", TS, nullable=False),
        sa.Column("lead_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("reconnect_window", sa.Integer(), nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("invalid_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        _ends_after_start(dialect),
        sa.CheckConstraint("lead_seconds >= 0", name="lead_not_negative"),
        sa.CheckConstraint(
            "reconnect_window IS NULL OR reconnect_window BETWEEN 60 AND 1800", name="reconnect_window_range"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )
    op.create_index(op.f("ix_broadcasts_ends_at"), "broadcasts", ["ends_at"])
    op.create_index(op.f("ix_broadcasts_stream_id_starts_at"), "broadcasts", ["stream_id", "starts_at"])
    op.create_table(
        "off_hours",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=True),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("timezone", sa.String(64), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("label", sa.String(255), nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("invalid_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("duration_seconds > 0", name="duration_positive"),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_off_hours")),
    )
    op.create_table(
        "actions",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("idempotency_key", sa.String(255), nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("kind", sa.String(16), nullable=False),
        sa.Column("source", sa.String(16), nullable=False),
        sa.Column("source_id", ID, nullable=True),
        sa.Column("due_at", TS, nullable=False),
        sa.Column("deadline_at", TS, nullable=False),
        sa.Column("sequence", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("state", sa.String(16), server_default=sa.text("'pending'"), nullable=False),
        sa.Column("attempts", sa.Integer(), server_default=sa.text("0"), nullable=False),
        sa.Column("next_attempt_at", TS, nullable=False),
        sa.Column("lease_token", sa.String(64), nullable=True),
        sa.Column("lease_owner", sa.String(255), nullable=True),
        sa.Column("lease_expires_at", TS, nullable=True),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("payload", sa.Text(), nullable=True),
        sa.Column("outcome", sa.Text(), nullable=True),
        sa.Column("last_error", sa.Text(), nullable=True),
        sa.Column("api_response", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.Column("finished_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_actions")),
        sa.UniqueConstraint("idempotency_key", name=op.f("uq_actions_idempotency_key")),
    )
    op.create_index(op.f("ix_actions_state_next_attempt_at"), "actions", ["state", "next_attempt_at"])
    op.create_index(op.f("ix_actions_stream_id_due_at"), "actions", ["stream_id", "due_at"])
    op.create_index(op.f("ix_actions_source_source_id"), "actions", ["source", "source_id"])
    op.create_table(
        "action_events",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("action_id", ID, nullable=True),
        sa.Column("stream_id", sa.String(64), nullable=True),
        sa.Column("at", TS, nullable=False),
        sa.Column("actor", sa.String(255), nullable=False),
        sa.Column("event", sa.String(32), nullable=False),
        sa.Column("from_state", sa.String(16), nullable=True),
        sa.Column("to_state", sa.String(16), nullable=True),
        sa.Column("attempt", sa.Integer(), nullable=True),
        sa.Column("http_method", sa.String(8), nullable=True),
        sa.Column("http_path", sa.String(255), nullable=True),
        sa.Column("http_status", sa.Integer(), nullable=True),
        sa.Column("latency_ms", sa.Double(), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.ForeignKeyConstraint(
            ["action_id"], ["actions.id"], name=op.f("fk_action_events_action_id_actions"), ondelete="CASCADE"
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_action_events")),
    )
    op.create_index(op.f("ix_action_events_action_id_id"), "action_events", ["action_id", "id"])
    op.create_index(op.f("ix_action_events_at"), "action_events", ["at"])
    op.create_table(
        "scheduler_state",
        sa.Column("key", sa.String(64), nullable=False),
        sa.Column("value", sa.Text(), nullable=True),
        sa.Column("updated_at", TS, nullable=False),
        sa.PrimaryKeyConstraint("key", name=op.f("pk_scheduler_state")),
    )
    if dialect == "sqlite":
        for table, columns in TIMESTAMP_COLUMNS.items():
            for statement in _sqlite_triggers(table, columns):
                op.execute(statement)


def downgrade() -> None:
    # Dropping a table drops its triggers and indexes with it.
    for table in ("action_events", "actions", "scheduler_state", "off_hours", "broadcasts", "streams"):
        op.drop_table(table)
