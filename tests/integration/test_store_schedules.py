"""The planner's queries: the rows for a window, found through an index; and the small facts it keeps."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from sqlalchemy import Engine, text

from tests.integration.store_support import BACKENDS, T0, migrated_engine
from worker.domain.types import Source
from worker.store import schedules
from worker.store.db import transaction

HOUR = timedelta(hours=1)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    yield from migrated_engine(request, tmp_path)


def _insert(engine: Engine, sql: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(sql), params)


def _broadcast(
    engine: Engine, stream: str, starts: str, ends: str, lead: int = 300, cancelled: bool = False
) -> None:
    _insert(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, cancelled_at)"
        " VALUES (:s, :a, :b, :lead, CASE WHEN :c THEN CURRENT_TIMESTAMP END)",
        s=stream,
        a=starts,
        b=ends,
        lead=lead,
        c=cancelled,
    )


def test_broadcasts_touching_the_window_including_by_their_lead(engine: Engine) -> None:
    _broadcast(engine, "ended", "2026-11-27 10:00:00", "2026-11-27 11:00:00")
    _broadcast(engine, "running", "2026-11-27 16:00:00", "2026-11-27 18:30:00")
    _broadcast(engine, "soon", "2026-11-27 20:00:00", "2026-11-27 21:00:00")
    _broadcast(engine, "lead-reaches-in", "2026-11-27 21:00:00", "2026-11-27 22:00:00", lead=3 * 3600)
    _broadcast(engine, "too-far", "2026-11-28 10:00:00", "2026-11-28 11:00:00")
    _broadcast(engine, "cancelled", "2026-11-27 19:00:00", "2026-11-27 20:00:00", cancelled=True)
    _insert(engine, "UPDATE broadcasts SET invalid_reason = 'unknown stream' WHERE stream_id = 'soon'")

    with transaction(engine, immediate=False) as session:
        found = schedules.load_broadcasts(session, T0, T0 + 2 * HOUR)

    assert [b.stream_id for b in found] == ["running", "soon", "lead-reaches-in"]
    assert found[1].invalid_reason == "unknown stream"


def test_the_window_query_uses_the_index_on_a_large_table(engine: Engine) -> None:
    # 30,000 broadcasts in the past (each on its own stream: slots on one stream may not overlap),
    # a handful in the window: the query must not scan them all.
    if engine.dialect.name == "sqlite":
        fill = (
            "WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < 30000)"
            " INSERT INTO broadcasts (stream_id, created_at, updated_at, starts_at, ends_at)"
            " SELECT 'old-' || i, '2020-01-01 00:00:00.000', '2020-01-01 00:00:00.000',"
            " strftime('%Y-%m-%d %H:%M:%f', '2020-01-01', '+' || i || ' minutes'),"
            " strftime('%Y-%m-%d %H:%M:%f', '2020-01-01', '+' || (i + 30) || ' minutes') FROM n"
        )
    else:
        fill = (
            "INSERT INTO broadcasts (stream_id, starts_at, ends_at) SELECT 'old-' || i,"
            " timestamptz '2020-01-01Z' + i * interval '1 minute',"
            " timestamptz '2020-01-01Z' + (i + 30) * interval '1 minute' FROM generate_series(1, 30000) i"
        )
    _insert(engine, fill)
    _broadcast(engine, "new", "2026-11-27 18:30:00", "2026-11-27 19:00:00")
    with engine.begin() as conn:
        conn.execute(text("ANALYZE"))
        if engine.dialect.name == "sqlite":
            plan = " ".join(
                str(r)
                for r in conn.execute(
                    text(
                        "EXPLAIN QUERY PLAN SELECT id FROM broadcasts WHERE cancelled_at IS NULL"
                        " AND ends_at >= '2026-11-27 18:00:00.000' AND ends_at <= '2026-12-04 20:00:00.000'"
                    )
                )
            )
        else:
            plan = " ".join(
                r[0]
                for r in conn.execute(
                    text(
                        "EXPLAIN SELECT id FROM broadcasts WHERE cancelled_at IS NULL"
                        " AND ends_at >= '2026-11-27 18:00Z' AND ends_at <= '2026-12-04 20:00Z'"
                    )
                )
            )
    assert "ix_broadcasts_ends_at" in plan

    with transaction(engine, immediate=False) as session:
        assert [b.stream_id for b in schedules.load_broadcasts(session, T0, T0 + 2 * HOUR)] == ["new"]


def test_off_hours_streams_and_invalid_reasons(engine: Engine) -> None:
    _insert(
        engine,
        "INSERT INTO off_hours (stream_id, cron, duration_seconds, timezone)"
        " VALUES (NULL, '0 22 * * *', 36000, 'Europe/Paris')",
    )
    _insert(
        engine,
        "INSERT INTO off_hours (stream_id, cron, duration_seconds, cancelled_at)"
        " VALUES ('s1', '0 1 * * *', 60, CURRENT_TIMESTAMP)",
    )
    with transaction(engine) as session:
        schedules.upsert_stream(session, "s1", name="Main", status="idle", seen_at=T0)
        schedules.upsert_stream(session, "s1", name="Main hall", status="disabled", seen_at=T0 + HOUR)
        schedules.upsert_stream(session, "s2", name=None, status=None, seen_at=T0)
        [rule] = schedules.load_off_hours(session)
        assert (rule.stream_id, rule.timezone) == (None, "Europe/Paris")
        assert schedules.known_stream_ids(session) == {"s1", "s2"}
        assert schedules.set_invalid_reason(session, Source.OFF_HOURS, rule.id, "bad cron")
        assert not schedules.set_invalid_reason(session, Source.OFF_HOURS, rule.id, "bad cron")
    with transaction(engine) as session:
        assert schedules.load_off_hours(session)[0].invalid_reason == "bad cron"
        changed = schedules.sync_invalid_reasons(session, {}, [(Source.OFF_HOURS, rule.id)])
    with engine.connect() as conn:
        name, status = conn.execute(text("SELECT name, status FROM streams WHERE stream_id = 's1'")).one()
        reason = conn.execute(
            text("SELECT invalid_reason FROM off_hours WHERE id = :i"), {"i": rule.id}
        ).scalar()
    assert (changed, reason, name, status) == (1, None, "Main hall", "disabled")


def test_scheduler_state_keeps_the_heartbeat(engine: Engine) -> None:
    with transaction(engine) as session:
        assert schedules.get_state(session, "last_tick_at") is None
        schedules.set_state(session, "last_tick_at", "a", now=T0)
        schedules.set_state(session, "last_tick_at", "b", now=T0 + HOUR)
    with transaction(engine, immediate=False) as session:
        assert schedules.get_state_row(session, "last_tick_at") == ("b", T0 + HOUR)
