"""Two change counters in scheduler_state, kept by triggers, so an idle planner tick answers "did
anything change?" with one read instead of re-reading every stream, rule and series and counting the
broadcasts table (a `count(*)` that grew with the table, to see deletions).

- `schedule_changes`: bumped by every write of what shapes every stream's plan or a series' rows:
  streams (added, removed, renamed, between-slots policy), off_hours and broadcast_series (their
  shaping columns; not the planner's own bookkeeping such as invalid_reason or materialized_*).
- `broadcast_deletions`: bumped by every DELETE of broadcasts rows (a change needs_check cannot mark).

Writes of broadcasts rows are already marked by needs_check (migration 0006). A counter only has to
change, not to count exactly: the planner compares it with the value it saw last.

Revision ID: 0014
Revises: 0013
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0014"
down_revision: str | Sequence[str] | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CHANGES = "schedule_changes"
DELETIONS = "broadcast_deletions"
# (trigger suffix, table, events, counter)
TRIGGERS = (
    ("streams", "streams", ("INSERT", "DELETE", "UPDATE OF stream_id, between_slots"), CHANGES),
    (
        "off_hours",
        "off_hours",
        ("INSERT", "DELETE", "UPDATE OF stream_id, cron, timezone, duration_seconds, label, cancelled_at"),
        CHANGES,
    ),
    (
        "series",
        "broadcast_series",
        (
            "INSERT",
            "DELETE",
            "UPDATE OF stream_id, cron, timezone, duration_seconds, lead_seconds, title, metadata,"
            " reconnect_window, starts_from, until, occurrence_limit, skip_dates, organiser_id, cancelled_at",
        ),
        CHANGES,
    ),
    ("deletions", "broadcasts", ("DELETE",), DELETIONS),
)


def _pg_function(counter: str) -> str:
    # An upsert: the row may have been deleted by hand (the planner then starts afresh anyway).
    return (
        f"CREATE FUNCTION bump_{counter}() RETURNS trigger LANGUAGE plpgsql AS $$\n"
        "BEGIN\n"
        "  INSERT INTO scheduler_state (key, value, updated_at)\n"
        f"  VALUES ('{counter}', '1', now())\n"
        "  ON CONFLICT (key) DO UPDATE\n"
        "    SET value = (COALESCE(scheduler_state.value, '0')::bigint + 1)::text, updated_at = now();\n"
        "  RETURN NULL;\n"
        "END\n$$"
    )


def _sqlite_body(counter: str) -> str:
    stamp = "strftime('%Y-%m-%d %H:%M:%f', 'now')"
    return (
        "BEGIN\n"
        "  INSERT OR IGNORE INTO scheduler_state (key, value, updated_at)"
        f" VALUES ('{counter}', '0', {stamp});\n"
        f"  UPDATE scheduler_state SET value = CAST(CAST(value AS INTEGER) + 1 AS TEXT), updated_at = {stamp}"
        f" WHERE key = '{counter}';\n"
        "END"
    )


def upgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    if postgres:
        for counter in (CHANGES, DELETIONS):
            op.execute(_pg_function(counter))
    for name, table, events, counter in TRIGGERS:
        if postgres:
            # Per statement (a counter only has to change, and a bulk write bumps it once), except on
            # streams: the sync and the executor upsert streams rows all the time, and a statement
            # INSERT trigger fires even when every row met a conflict; a row trigger fires only for
            # rows really inserted.
            each = "ROW" if table == "streams" else "STATEMENT"
            op.execute(
                f"CREATE TRIGGER trg_{name}_changed AFTER {' OR '.join(events)} ON {table}"
                f" FOR EACH {each} EXECUTE FUNCTION bump_{counter}()"
            )
        else:
            for index, what in enumerate(events):
                trigger = f"CREATE TRIGGER trg_{name}_changed_{index} AFTER {what} ON {table}"
                op.execute(f"{trigger}\n{_sqlite_body(counter)}")


def downgrade() -> None:
    postgres = op.get_bind().dialect.name == "postgresql"
    for name, table, events, _counter in TRIGGERS:
        if postgres:
            op.execute(f"DROP TRIGGER trg_{name}_changed ON {table}")
        else:
            for index in range(len(events)):
                op.execute(f"DROP TRIGGER trg_{name}_changed_{index}")
    if postgres:
        for counter in (CHANGES, DELETIONS):
            op.execute(f"DROP FUNCTION bump_{counter}()")
    op.execute(f"DELETE FROM scheduler_state WHERE key IN ('{CHANGES}', '{DELETIONS}')")
