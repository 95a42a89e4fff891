"""Organisers, recurring broadcast series, and no two overlapping slots on a stream.

New tables `organisers` and `broadcast_series`; `broadcasts` gains organiser_id (a booking),
series_id (an occurrence of a series) and slot_starts_at = starts_at - lead_seconds, which the
database keeps itself, so a plain-SQL INSERT of (stream_id, starts_at, ends_at) still works:
- PostgreSQL: a BEFORE INSERT OR UPDATE trigger sets it (the column default is a placeholder).
- SQLite: AFTER INSERT / UPDATE triggers rewrite it in the canonical text form of 0001.

No two non-cancelled broadcasts on one stream may overlap, lead included: slot = [slot_starts_at, ends_at).
- PostgreSQL: exclusion constraint ex_broadcasts_no_overlap (btree_gist), race-free by construction.
- SQLite: BEFORE INSERT / UPDATE triggers RAISE(ABORT, ...); SQLite has one writer at a time, so the
  check and the write cannot interleave with another writer's.
The upgrade refuses, naming the pairs, a database that already holds overlapping slots.

On SQLite the broadcasts table is rebuilt (SQLite cannot ADD a NOT NULL column with a non-constant
default, nor add a foreign key to an existing table); its indexes and triggers are created again.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-28
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | Sequence[str] | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# Frozen copies of the model types: a migration must not change when the application code does.
ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")
TS = sa.DateTime(timezone=True).with_variant(sa.String(32), "sqlite")
NOW = sa.text("CURRENT_TIMESTAMP")
CANONICAL = "strftime('%Y-%m-%d %H:%M:%f', {})"
OVERLAP_MESSAGE = "slot overlaps another slot on this stream"

BROADCAST_TIMESTAMPS_0001 = ("starts_at", "ends_at", "cancelled_at", "created_at", "updated_at")
TIMESTAMP_COLUMNS = {
    "organisers": ("created_at", "revoked_at"),
    "broadcast_series": (
        "starts_from",
        "until",
        "materialized_until",
        "cancelled_at",
        "created_at",
        "updated_at",
    ),
    "broadcasts": (*BROADCAST_TIMESTAMPS_0001, "slot_starts_at"),
}
# Columns of broadcasts as 0001 made them, in order.
BROADCAST_COLUMNS_0001 = (
    "id",
    "stream_id",
    "starts_at",
    "ends_at",
    "lead_seconds",
    "title",
    "metadata",
    "reconnect_window",
    "cancelled_at",
    "invalid_reason",
    "created_at",
    "updated_at",
)


# -- SQLite timestamp triggers (the same as 0001's) ---------------------------------------------------


def _is_timestamp(expr: str) -> str:
    return (
        f"(typeof({expr}) = 'text'"
        f" AND {expr} GLOB '[0-9][0-9][0-9][0-9]-[0-9][0-9]-[0-9][0-9]*'"
        f" AND {CANONICAL.format(expr)} IS NOT NULL"
        f" AND date(substr({expr}, 1, 10), '+0 days') IS substr({expr}, 1, 10))"
    )


def _timestamp_triggers(table: str, columns: Sequence[str]) -> list[str]:
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


# -- SQLite slot triggers ---------------------------------------------------------------------------


def _slot_start_of(row: str) -> str:
    return f"strftime('%Y-%m-%d %H:%M:%f', {row}.starts_at, '-' || {row}.lead_seconds || ' seconds')"


def _slot_triggers() -> list[str]:
    keep_slot_start = (
        f"WHEN NEW.slot_starts_at IS NOT {_slot_start_of('NEW')}\n"
        "BEGIN\n"
        f"  UPDATE broadcasts SET slot_starts_at = {_slot_start_of('broadcasts')} WHERE rowid = NEW.rowid;\n"
        "END"
    )
    return [
        f"CREATE TRIGGER trg_broadcasts_slot_start_insert AFTER INSERT ON broadcasts\n{keep_slot_start}",
        "CREATE TRIGGER trg_broadcasts_slot_start_update"
        f" AFTER UPDATE OF starts_at, lead_seconds, slot_starts_at ON broadcasts\n{keep_slot_start}",
        "CREATE TRIGGER trg_broadcasts_no_overlap_insert BEFORE INSERT ON broadcasts\n"
        f"WHEN NEW.cancelled_at IS NULL\nBEGIN\n{_overlap_check('')}\nEND",
        "CREATE TRIGGER trg_broadcasts_no_overlap_update"
        " BEFORE UPDATE OF stream_id, starts_at, ends_at, lead_seconds, cancelled_at ON broadcasts\n"
        f"WHEN NEW.cancelled_at IS NULL\nBEGIN\n{_overlap_check(' AND other.rowid <> OLD.rowid')}\nEND",
    ]


def _overlap_check(not_itself: str) -> str:
    # Stored values are canonical text, so text comparison orders instants and the
    # (stream_id, slot_starts_at) index serves the lookup. Because the slots already on a stream never
    # overlap, the one starting last before NEW ends also ends last: NEW overlaps some slot if and only
    # if it overlaps that one. So each check reads one index entry, not every slot of the stream.
    return (
        f"  SELECT RAISE(ABORT, '{OVERLAP_MESSAGE}') FROM (\n"
        "    SELECT other.ends_at FROM broadcasts AS other\n"
        "    WHERE other.stream_id = NEW.stream_id AND other.cancelled_at IS NULL\n"
        f"      AND other.slot_starts_at < {CANONICAL.format('NEW.ends_at')}{not_itself}\n"
        "    ORDER BY other.slot_starts_at DESC LIMIT 1\n"
        "  ) AS latest\n"
        f"  WHERE latest.ends_at > {_slot_start_of('NEW')};"
    )


# -- PostgreSQL -------------------------------------------------------------------------------------

PG_SLOT_FUNCTION = """
CREATE FUNCTION broadcasts_set_slot_starts_at() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  NEW.slot_starts_at := NEW.starts_at - make_interval(secs => NEW.lead_seconds);
  RETURN NEW;
END
$$
"""
PG_SLOT_TRIGGER = (
    "CREATE TRIGGER trg_broadcasts_slot_starts_at BEFORE INSERT OR UPDATE ON broadcasts"
    " FOR EACH ROW EXECUTE FUNCTION broadcasts_set_slot_starts_at()"
)
PG_NO_OVERLAP = (
    "ALTER TABLE broadcasts ADD CONSTRAINT ex_broadcasts_no_overlap EXCLUDE USING gist"
    " (stream_id WITH =, tstzrange(slot_starts_at, ends_at, '[)') WITH &&) WHERE (cancelled_at IS NULL)"
)


# -- shared ------------------------------------------------------------------------------------------


def _refuse_existing_overlaps(table: str) -> None:
    pairs = (
        op.get_bind()
        .execute(
            sa.text(
                f"SELECT a.stream_id, a.id, b.id FROM {table} AS a JOIN {table} AS b"
                " ON a.stream_id = b.stream_id AND a.id < b.id"
                " WHERE a.cancelled_at IS NULL AND b.cancelled_at IS NULL"
                " AND a.slot_starts_at < b.ends_at AND b.slot_starts_at < a.ends_at"
                " ORDER BY a.stream_id, a.id, b.id"
            )
        )
        .all()
    )
    if pairs:
        listed = "; ".join(f"stream {s}: #{a} and #{b}" for s, a, b in pairs[:20])
        more = f" (and {len(pairs) - 20} more)" if len(pairs) > 20 else ""
        raise RuntimeError(
            "cannot add the no-overlap rule: these broadcasts overlap, lead included: "
            f"{listed}{more}. Cancel one of each pair "
            "(UPDATE broadcasts SET cancelled_at = CURRENT_TIMESTAMP WHERE id = ...) and upgrade again"
        )


def _create_organisers() -> None:
    op.create_table(
        "organisers",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("name", sa.String(255), nullable=False),
        sa.Column("token_hash", sa.String(128), nullable=False),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("revoked_at", TS, nullable=True),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_organisers")),
        sa.UniqueConstraint("name", name=op.f("uq_organisers_name")),
    )


def _create_series() -> None:
    op.create_table(
        "broadcast_series",
        sa.Column("id", ID, autoincrement=True, nullable=False),
        sa.Column("stream_id", sa.String(64), nullable=False),
        sa.Column("cron", sa.String(255), nullable=False),
        sa.Column("timezone", sa.String(64), server_default=sa.text("'UTC'"), nullable=False),
        sa.Column("duration_seconds", sa.Integer(), nullable=False),
        sa.Column("lead_seconds", sa.Integer(), server_default=sa.text("300"), nullable=False),
        sa.Column("title", sa.String(255), nullable=True),
        sa.Column("metadata", sa.Text(), nullable=True),
        sa.Column("reconnect_window", sa.Integer(), nullable=True),
        sa.Column("starts_from", TS, server_default=NOW, nullable=False),
        sa.Column("until", TS, nullable=True),
        sa.Column("occurrence_limit", sa.Integer(), nullable=True),
        sa.Column("skip_dates", sa.Text(), nullable=True),
        sa.Column("organiser_id", ID, nullable=True),
        sa.Column("materialized_until", TS, nullable=True),
        sa.Column("cancelled_at", TS, nullable=True),
        sa.Column("invalid_reason", sa.Text(), nullable=True),
        sa.Column("created_at", TS, server_default=NOW, nullable=False),
        sa.Column("updated_at", TS, server_default=NOW, nullable=False),
        sa.CheckConstraint("duration_seconds > 0", name="duration_positive"),
        sa.CheckConstraint("lead_seconds >= 0", name="lead_not_negative"),
        sa.CheckConstraint(
            "reconnect_window IS NULL OR reconnect_window BETWEEN 60 AND 1800", name="reconnect_window_range"
        ),
        sa.CheckConstraint(
            "occurrence_limit IS NULL OR occurrence_limit > 0", name="occurrence_limit_positive"
        ),
        sa.ForeignKeyConstraint(
            ["organiser_id"], ["organisers.id"], name=op.f("fk_broadcast_series_organiser_id_organisers")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcast_series")),
    )


def _broadcast_indexes() -> None:
    op.create_index(
        op.f("ix_broadcasts_stream_id_slot_starts_at"), "broadcasts", ["stream_id", "slot_starts_at"]
    )
    op.create_index(op.f("ix_broadcasts_series_id"), "broadcasts", ["series_id"])
    op.create_index(op.f("ix_broadcasts_organiser_id"), "broadcasts", ["organiser_id"])


def upgrade() -> None:
    dialect = op.get_bind().dialect.name
    _create_organisers()
    _create_series()
    if dialect == "sqlite":
        _upgrade_sqlite_broadcasts()
        for table in ("organisers", "broadcast_series"):
            for statement in _timestamp_triggers(table, TIMESTAMP_COLUMNS[table]):
                op.execute(statement)
    else:
        _upgrade_postgresql_broadcasts()


def _upgrade_postgresql_broadcasts() -> None:
    op.add_column("broadcasts", sa.Column("organiser_id", ID, nullable=True))
    op.add_column("broadcasts", sa.Column("series_id", ID, nullable=True))
    op.add_column("broadcasts", sa.Column("slot_starts_at", TS, server_default=NOW, nullable=False))
    op.create_foreign_key(
        op.f("fk_broadcasts_organiser_id_organisers"), "broadcasts", "organisers", ["organiser_id"], ["id"]
    )
    op.create_foreign_key(
        op.f("fk_broadcasts_series_id_broadcast_series"),
        "broadcasts",
        "broadcast_series",
        ["series_id"],
        ["id"],
    )
    op.execute(PG_SLOT_FUNCTION)
    op.execute(PG_SLOT_TRIGGER)
    op.execute("UPDATE broadcasts SET slot_starts_at = starts_at - make_interval(secs => lead_seconds)")
    _refuse_existing_overlaps("broadcasts")
    op.execute("CREATE EXTENSION IF NOT EXISTS btree_gist")
    op.execute(PG_NO_OVERLAP)
    _broadcast_indexes()


def _sqlite_broadcasts_table(name: str, *, with_bookings: bool) -> None:
    extra: list[sa.SchemaItem] = []
    if with_bookings:
        extra = [
            sa.Column("slot_starts_at", TS, server_default=NOW, nullable=False),
            sa.Column("organiser_id", ID, nullable=True),
            sa.Column("series_id", ID, nullable=True),
            sa.ForeignKeyConstraint(
                ["organiser_id"], ["organisers.id"], name=op.f("fk_broadcasts_organiser_id_organisers")
            ),
            sa.ForeignKeyConstraint(
                ["series_id"], ["broadcast_series.id"], name=op.f("fk_broadcasts_series_id_broadcast_series")
            ),
        ]
    op.create_table(
        name,
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
        *extra,
        sa.CheckConstraint(
            "julianday(ends_at) > julianday(starts_at)", name=op.f("ck_broadcasts_ends_after_start")
        ),
        sa.CheckConstraint("lead_seconds >= 0", name=op.f("ck_broadcasts_lead_not_negative")),
        sa.CheckConstraint(
            "reconnect_window IS NULL OR reconnect_window BETWEEN 60 AND 1800",
            name=op.f("ck_broadcasts_reconnect_window_range"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_broadcasts")),
    )


def _replace_sqlite_broadcasts(*, with_bookings: bool, copy_slot_start: str | None) -> None:
    columns = ", ".join(BROADCAST_COLUMNS_0001)
    _sqlite_broadcasts_table("_broadcasts_0002", with_bookings=with_bookings)
    if copy_slot_start is None:
        op.execute(f"INSERT INTO _broadcasts_0002 ({columns}) SELECT {columns} FROM broadcasts")
    else:
        op.execute(
            f"INSERT INTO _broadcasts_0002 ({columns}, slot_starts_at)"
            f" SELECT {columns}, {copy_slot_start} FROM broadcasts"
        )
        _refuse_existing_overlaps("_broadcasts_0002")
    op.drop_table("broadcasts")
    op.rename_table("_broadcasts_0002", "broadcasts")
    op.create_index("ix_broadcasts_ends_at", "broadcasts", ["ends_at"])
    op.create_index("ix_broadcasts_stream_id_starts_at", "broadcasts", ["stream_id", "starts_at"])


def _upgrade_sqlite_broadcasts() -> None:
    _replace_sqlite_broadcasts(with_bookings=True, copy_slot_start=_slot_start_of("broadcasts"))
    _broadcast_indexes()
    for statement in (*_timestamp_triggers("broadcasts", TIMESTAMP_COLUMNS["broadcasts"]), *_slot_triggers()):
        op.execute(statement)


def downgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _replace_sqlite_broadcasts(with_bookings=False, copy_slot_start=None)
        for statement in _timestamp_triggers("broadcasts", BROADCAST_TIMESTAMPS_0001):
            op.execute(statement)
    else:
        op.execute("ALTER TABLE broadcasts DROP CONSTRAINT ex_broadcasts_no_overlap")
        op.execute("DROP TRIGGER trg_broadcasts_slot_starts_at ON broadcasts")
        op.execute("DROP FUNCTION broadcasts_set_slot_starts_at()")
        for index in (
            "ix_broadcasts_stream_id_slot_starts_at",
            "ix_broadcasts_series_id",
            "ix_broadcasts_organiser_id",
        ):
            op.drop_index(index, table_name="broadcasts")
        op.drop_constraint("fk_broadcasts_series_id_broadcast_series", "broadcasts", type_="foreignkey")
        op.drop_constraint("fk_broadcasts_organiser_id_organisers", "broadcasts", type_="foreignkey")
        for column in ("slot_starts_at", "series_id", "organiser_id"):
            op.drop_column("broadcasts", column)
    # btree_gist stays: other schemas in the database may use it.
    op.drop_table("broadcast_series")
    op.drop_table("organisers")
