"""The series materialiser on SQLite and PostgreSQL: occurrences become broadcasts rows once, edits
re-plan only what has not begun, a cancelled occurrence stays cancelled, and a collision is skipped
with a reason while the other occurrences go in."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, select, text

from tests.integration.store_support import BACKENDS, migrated_engine
from worker.clock import FixedClock
from worker.config import FastPixSettings, OnairSettings
from worker.service import series as materialiser
from worker.service.planning import plan_tick
from worker.service.runtime import Runtime
from worker.service.series import SeriesReport, materialise_series
from worker.store.db import transaction
from worker.store.models import Action, Broadcast, BroadcastSeries

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)  # a Friday
HORIZON = timedelta(days=5)
DAY = timedelta(days=1)
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    for engine in migrated_engine(request, tmp_path):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO streams (stream_id, name) VALUES ('s1', 'Main'), ('s2', 'Other')"))
        yield engine


def sql(engine: Engine, statement: str, **params: object) -> None:
    with engine.begin() as conn:
        conn.execute(text(statement), params)


def add_series(engine: Engine, **columns: object) -> int:
    values: dict[str, object] = {
        "stream_id": "s1",
        "cron": "0 19 * * *",
        "timezone": "UTC",
        "duration_seconds": 1800,
        "lead_seconds": 300,
        "starts_from": NOW,
        "title": "Evening news",
    }
    values.update(columns)
    with transaction(engine) as session:
        row = BroadcastSeries(**values)
        session.add(row)
        session.flush()
        return row.id


def tick(engine: Engine, now: datetime = NOW, horizon: timedelta = HORIZON) -> SeriesReport:
    with transaction(engine) as session:
        known = {"s1", "s2"}
        return materialise_series(session, now, horizon, known)


def occurrence_rows(engine: Engine, series_id: int) -> list[Broadcast]:
    with transaction(engine, immediate=False) as session:
        return list(
            session.scalars(
                select(Broadcast)
                .where(Broadcast.series_id == series_id)
                .order_by(Broadcast.starts_at, Broadcast.id)
            )
        )


def live_starts(engine: Engine, series_id: int) -> list[datetime]:
    return [r.starts_at for r in occurrence_rows(engine, series_id) if r.cancelled_at is None]


def the_series(engine: Engine, series_id: int) -> BroadcastSeries:
    with transaction(engine, immediate=False) as session:
        row = session.get(BroadcastSeries, series_id)
    assert row is not None
    return row


def at(day: int, hour: int, minute: int = 0) -> datetime:
    """Day `day` counted from 1 November 2026 (so 32 is 2 December), at hour:minute UTC."""
    return datetime(2026, 11, 1, tzinfo=UTC) + timedelta(days=day - 1, hours=hour, minutes=minute)


def test_occurrences_are_inserted_once_across_ticks(engine: Engine) -> None:
    series_id = add_series(engine, metadata_json='{"show": "news"}', reconnect_window=120)

    first = tick(engine)
    second = tick(engine)
    tick(engine, NOW + timedelta(hours=1))

    # Nov 27 .. Dec 2 at 19:00 (horizon 5 days + one day of slack).
    expected = [at(27 + d, 19) for d in range(6)]
    assert live_starts(engine, series_id) == expected
    assert (first.inserted, second.checked, second.inserted) == (6, 0, 0)
    rows = occurrence_rows(engine, series_id)
    assert {(r.stream_id, r.lead_seconds, r.title, r.metadata_json, r.reconnect_window) for r in rows} == {
        ("s1", 300, "Evening news", '{"show": "news"}', 120)
    }
    assert all(r.ends_at - r.starts_at == timedelta(minutes=30) for r in rows)
    assert all(r.slot_starts_at == r.starts_at - timedelta(minutes=5) for r in rows)
    # A day later the window has moved on by one occurrence, and nothing is doubled.
    tick(engine, NOW + DAY + timedelta(minutes=1))
    assert live_starts(engine, series_id) == [*expected, at(33, 19)]


def test_a_series_inserted_with_plain_sql_needs_only_four_columns(engine: Engine) -> None:
    sql(
        engine,
        "INSERT INTO broadcast_series (stream_id, cron, duration_seconds, timezone)"
        " VALUES ('s1', '30 2 * * SUN', 5400, 'Europe/Berlin')",
    )
    series_id = int(engine.connect().execute(text("SELECT max(id) FROM broadcast_series")).scalar_one())
    now = datetime.now(UTC)

    tick(engine, now, horizon=timedelta(days=21))

    rows = occurrence_rows(engine, series_id)
    assert 3 <= len(rows) <= 4
    assert all(r.lead_seconds == 300 and r.title is None and r.cancelled_at is None for r in rows)
    assert all(r.starts_at.astimezone(BERLIN).strftime("%a %H:%M") == "Sun 02:30" for r in rows)
    assert all(r.ends_at - r.starts_at == timedelta(minutes=90) for r in rows)
    assert the_series(engine, series_id).invalid_reason is None


def test_the_planner_tick_materialises_and_plans_the_occurrences(engine: Engine) -> None:
    series_id = add_series(engine, occurrence_limit=2)
    rt = Runtime(OnairSettings(series_horizon_days=30), FastPixSettings(), FixedClock(NOW), engine=engine)

    plan_tick(rt)
    plan_tick(rt)

    rows = occurrence_rows(engine, series_id)
    assert [r.starts_at for r in rows] == [at(27, 19), at(28, 19)]
    with transaction(engine, immediate=False) as session:
        keys = sorted(session.scalars(select(Action.idempotency_key)))
    assert keys == [
        f"b:{rows[0].id}:enable:2026-11-27T19:00:00Z",
        f"b:{rows[0].id}:finish:2026-11-27T19:30:00Z",
    ]


def test_an_edit_replans_only_occurrences_that_have_not_begun(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    before = {r.starts_at: r.id for r in occurrence_rows(engine, series_id)}
    # 18:57 on the 28th: that day's slot began at 18:55 (lead), so it is under way.
    later = at(28, 18, 57)
    sql(engine, "UPDATE broadcast_series SET cron = '0 20 * * *' WHERE id = :i", i=series_id)

    report = tick(engine, later)

    rows = occurrence_rows(engine, series_id)
    live = [(r.starts_at, r.id) for r in rows if r.cancelled_at is None]
    assert live[:2] == [(at(27, 19), before[at(27, 19)]), (at(28, 19), before[at(28, 19)])]
    assert [start for start, _ in live[2:]] == [at(28, 20)] + [at(28 + d, 20) for d in range(1, 6)]
    cancelled = [r for r in rows if r.cancelled_at is not None]
    assert [r.starts_at for r in cancelled] == [at(27 + d, 19) for d in range(2, 6)]
    assert {r.cancel_reason for r in cancelled} == {f"series #{series_id} edited: no longer an occurrence"}
    assert report.cancelled == 4


def test_a_title_or_duration_edit_updates_rows_in_place(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    ids = [r.id for r in occurrence_rows(engine, series_id)]
    sql(
        engine,
        "UPDATE broadcast_series SET title = 'Late news', duration_seconds = 3600,"
        ' metadata = \'{"a": "b"}\' WHERE id = :i',
        i=series_id,
    )

    report = tick(engine, at(27, 19, 30))  # the 27th is under way

    rows = occurrence_rows(engine, series_id)[: len(ids)]  # the window has also moved on by one
    assert [r.id for r in rows] == ids
    assert (rows[0].title, rows[0].ends_at) == ("Evening news", at(27, 19, 30))
    assert {(r.title, r.ends_at - r.starts_at, r.metadata_json) for r in rows[1:]} == {
        ("Late news", timedelta(hours=1), '{"a": "b"}')
    }
    assert report.updated == len(rows) - 1


def test_a_cancelled_occurrence_is_not_recreated(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    third = occurrence_rows(engine, series_id)[2]
    assert third.starts_at == at(29, 19)
    sql(engine, "UPDATE broadcasts SET cancelled_at = CURRENT_TIMESTAMP WHERE id = :i", i=third.id)
    sql(engine, "UPDATE broadcast_series SET title = 'Renamed' WHERE id = :i", i=series_id)

    tick(engine)
    tick(engine, NOW + DAY + timedelta(minutes=1))

    rows = occurrence_rows(engine, series_id)
    assert at(29, 19) not in live_starts(engine, series_id)
    assert [r.starts_at for r in rows if r.cancelled_at is not None] == [at(29, 19)]
    assert {r.title for r in rows if r.cancelled_at is None} == {"Renamed"}


def test_an_edit_undone_brings_back_the_occurrences_it_cancelled(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    sql(engine, "UPDATE broadcast_series SET cron = '0 20 * * *' WHERE id = :i", i=series_id)
    tick(engine)
    sql(engine, "UPDATE broadcast_series SET cron = '0 19 * * *' WHERE id = :i", i=series_id)

    tick(engine)

    assert live_starts(engine, series_id) == [at(27 + d, 19) for d in range(6)]


def test_a_collision_is_skipped_with_a_reason_and_the_rest_go_in(engine: Engine) -> None:
    sql(
        engine,
        "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, title)"
        " VALUES ('s1', :a, :b, 0, 'Football')",
        a=at(29, 18),
        b=at(29, 19),
    )
    series_id = add_series(engine)

    report = tick(engine)

    assert live_starts(engine, series_id) == [at(27 + d, 19) for d in range(6) if d != 2]
    reason = the_series(engine, series_id).invalid_reason
    assert reason is not None
    assert reason.startswith(
        "1 occurrence not scheduled because it overlaps another slot: 2026-11-29 19:00+00:00 "
    )
    assert "overlaps broadcast #1 'Football' 2026-11-29 18:00 to 19:00 UTC (lead included)" in reason
    assert len(report.collisions) == 1

    # Once the football is cancelled, the next pass (a day later, or any edit) schedules it.
    sql(engine, "UPDATE broadcasts SET cancelled_at = CURRENT_TIMESTAMP WHERE title = 'Football'")
    tick(engine, NOW + DAY + timedelta(minutes=1))
    assert at(29, 19) in live_starts(engine, series_id)
    assert the_series(engine, series_id).invalid_reason is None


def test_cancelling_the_series_cancels_occurrences_that_have_not_begun(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    sql(engine, "UPDATE broadcast_series SET cancelled_at = CURRENT_TIMESTAMP WHERE id = :i", i=series_id)

    report = tick(engine, at(27, 18, 56))
    again = tick(engine, at(27, 18, 57))

    assert live_starts(engine, series_id) == [at(27, 19)]
    assert report.cancelled == 5
    assert again.checked == 0
    reasons = {r.cancel_reason for r in occurrence_rows(engine, series_id) if r.cancelled_at}
    assert reasons == {f"series #{series_id} cancelled"}


def test_an_invalid_series_is_flagged_and_keeps_its_rows(engine: Engine) -> None:
    series_id = add_series(engine)
    tick(engine)
    sql(engine, "UPDATE broadcast_series SET timezone = 'Mars/Base' WHERE id = :i", i=series_id)

    tick(engine)

    assert the_series(engine, series_id).invalid_reason == "unknown time zone 'Mars/Base'"
    assert len(live_starts(engine, series_id)) == 6
    unknown = add_series(engine, stream_id="nope", cron="0 0 30 2 *")
    tick(engine)
    assert the_series(engine, unknown).invalid_reason == (
        "stream 'nope' is not known to onair (run `onair streams list` / sync); "
        "bad cron expression '0 0 30 2 *': it never fires"
    )
    assert occurrence_rows(engine, unknown) == []
    sql(engine, "UPDATE broadcast_series SET timezone = 'UTC' WHERE id = :i", i=series_id)
    tick(engine)
    assert the_series(engine, series_id).invalid_reason is None


def test_a_dense_rule_is_materialised_two_days_ahead_and_extended_as_time_passes(engine: Engine) -> None:
    """A slot every 4 minutes: two days of rows (719), not 1,000; a daily rule still reaches the horizon."""
    dense = add_series(engine, cron="*/4 * * * *", duration_seconds=120, lead_seconds=20)
    daily = add_series(engine, stream_id="s2")
    year = timedelta(days=365)

    tick(engine, horizon=year)

    starts = live_starts(engine, dense)
    assert len(starts) == 719  # every 4 minutes in (now, now + 2 days)
    assert starts[0] == NOW + timedelta(minutes=4) and starts[-1] == NOW + 2 * DAY - timedelta(minutes=4)
    assert len(live_starts(engine, daily)) == 366  # 19:00 each day, until a year and a day ahead
    assert tick(engine, NOW + DAY - timedelta(minutes=1), horizon=year).checked == 0
    tick(engine, NOW + DAY, horizon=year)
    later = live_starts(engine, dense)
    assert later[-1] == NOW + 3 * DAY - timedelta(minutes=4)
    assert len([s for s in later if s > NOW + DAY]) == 719


def test_a_frequent_rule_is_materialised_a_bounded_number_at_a_time(
    engine: Engine, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(materialiser, "MAX_AHEAD", 4)
    series_id = add_series(engine, cron="*/10 * * * *", duration_seconds=300, lead_seconds=0)

    tick(engine)
    assert live_starts(engine, series_id) == [NOW + timedelta(minutes=10 * k) for k in range(1, 5)]
    assert tick(engine, NOW + timedelta(minutes=24)).checked == 0  # under half of it used up
    tick(engine, NOW + timedelta(minutes=26))
    assert live_starts(engine, series_id) == [NOW + timedelta(minutes=10 * k) for k in range(1, 7)]
