"""On PostgreSQL, the `schedule_changes` counter (migration 0014) is bumped when a transaction commits,
not when it writes a streams, off_hours or broadcast_series row.

A counter is one row that every such writer updates. Bumped at the write, its lock was taken in the
middle of the transaction, ahead of the locks taken after it: two transactions inserting the same new
streams (the stream sync and an executor's record, or `onair streams add`) each held what the other
waited for, and PostgreSQL aborted one with "deadlock detected". Deferred to commit, the counter is the
last lock a transaction takes, so no cycle can go through it. The planner still sees the change: the
bump commits with the rows it counts. (SQLite has one writer at a time: its triggers stay as they are.)

Revision ID: 0015
Revises: 0014
Create Date: 2026-11-30
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0015"
down_revision: str | Sequence[str] | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# (trigger suffix, table, events), as migration 0014 created them, all bumping schedule_changes.
TRIGGERS = (
    ("streams", "streams", ("INSERT", "DELETE", "UPDATE OF stream_id, between_slots")),
    (
        "off_hours",
        "off_hours",
        ("INSERT", "DELETE", "UPDATE OF stream_id, cron, timezone, duration_seconds, label, cancelled_at"),
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
    ),
)


def _recreate(deferred: bool) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for name, table, events in TRIGGERS:
        op.execute(f"DROP TRIGGER trg_{name}_changed ON {table}")
        if deferred:
            # A constraint trigger is per row; a bulk write bumps the counter once a row, at commit.
            op.execute(
                f"CREATE CONSTRAINT TRIGGER trg_{name}_changed AFTER {' OR '.join(events)} ON {table}"
                " DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION bump_schedule_changes()"
            )
        else:
            each = "ROW" if table == "streams" else "STATEMENT"
            op.execute(
                f"CREATE TRIGGER trg_{name}_changed AFTER {' OR '.join(events)} ON {table}"
                f" FOR EACH {each} EXECUTE FUNCTION bump_schedule_changes()"
            )


def upgrade() -> None:
    _recreate(deferred=True)


def downgrade() -> None:
    _recreate(deferred=False)
