"""What an operator reads after a night, on SQLite and PostgreSQL: doctor's planner, schedules and
recent lines (warnings exit 0, --strict exits 1, a stalled planner fails), `onair history` filters,
each broadcast's outcome in `broadcast list`, and `onair report`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from tests.integration.cli_support import (
    OTHER,
    STREAM,
    Onair,
    add_broadcast,
    assert_one_line_error,
    migrated_on_backend,
    upcoming_hour,
)
from tests.integration.store_support import BACKENDS
from worker.domain.causes import FailureCause
from worker.service.failures import gave_up_event
from worker.store.db import transaction
from worker.store.events import insert_events
from worker.store.ledger_plan import CANCEL_OUTCOME

CAUSE = FailureCause(
    500,
    "internal error",
    "PUT",
    f"/live/streams/{STREAM}/live-enable",
    7,
    "next retry would pass the deadline",
)
SUMMARY = 'FastPix 500 "internal error" on PUT live-enable, 7 attempts; next retry would pass the deadline'


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def set_action(onair: Onair, action_id: int, state: str, ago: timedelta, **extra: Any) -> None:
    values = {"state": state, "finished_at": datetime.now(UTC) - ago, **extra}
    assignments = ", ".join(f"{column} = :{column}" for column in values)
    with onair.engine.begin() as conn:
        conn.execute(text(f"UPDATE actions SET {assignments} WHERE id = :id"), {**values, "id": action_id})


def first_action(onair: Onair, broadcast_id: int, kind: str) -> int:
    [found] = [a.id for a in onair.actions(source_id=broadcast_id, kind=kind)]
    return found


def doctor(onair: Onair, *args: str) -> tuple[int, list[str]]:
    result = onair("doctor", "--only", "planner,schedules,recent", *args)
    return result.exit_code, result.stdout.splitlines()


def test_doctor_warns_on_invalid_rows_and_failures_and_fails_on_a_stalled_planner(onair: Onair) -> None:
    onair.add_stream()
    failed = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    code, lines = doctor(onair)
    assert code == 0, lines
    assert [line.split()[:2] for line in lines] == [
        ["ok", "planner"],
        ["ok", "schedules"],
        ["ok", "recent"],
    ]

    with onair.engine.begin() as conn:
        conn.execute(
            text("INSERT INTO off_hours (cron, duration_seconds, timezone) VALUES ('0 22 * *', 60, 'UTC')")
        )
    other = add_broadcast(
        onair, upcoming_hour(4), upcoming_hour(5)
    )  # any change re-plans: the row is flagged
    set_action(
        onair,
        first_action(onair, failed["id"], "enable"),
        "failed",
        timedelta(hours=1),
        outcome=SUMMARY,
    )
    code, lines = doctor(onair)
    assert code == 0, lines
    assert (
        lines[1].startswith("WARN schedules  1 invalid, not planned: off_hours#1: ")
        and "0 22 * *" in lines[1]
    )
    enable = first_action(onair, failed["id"], "enable")
    assert (
        lines[2]
        == f"WARN recent  1 failed or missed in the last 24 h: #{enable} enable {STREAM} failed: {SUMMARY}"
    )
    strict, strict_lines = doctor(onair, "--strict")  # the same lines, but the warnings fail it
    assert (strict, strict_lines[1:]) == (1, lines[1:])

    with onair.engine.begin() as conn:  # the planner stopped ticking an hour ago
        conn.execute(
            text("UPDATE scheduler_state SET updated_at = :t WHERE key = 'planner:last_ok'"),
            {"t": datetime.now(UTC) - timedelta(hours=1)},
        )
    code, lines = doctor(onair)
    assert code == 1 and re.match(r"FAIL planner  last successful tick 36\d\d(\.\d)? s ago", lines[0]), lines
    assert other["id"] != failed["id"]


def test_history_filters_by_state_period_and_stream_and_hides_replan_noise(onair: Onair) -> None:
    onair.add_stream()
    onair.add_stream(OTHER, "evening show")
    mine = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    theirs = onair.json(
        "broadcast",
        "add",
        "--stream",
        OTHER,
        "--start",
        upcoming_hour(2).isoformat(),
        "--end",
        upcoming_hour(3).isoformat(),
    )
    enable, finish = first_action(onair, mine["id"], "enable"), first_action(onair, mine["id"], "finish")
    other_enable = first_action(onair, theirs["id"], "enable")
    set_action(onair, enable, "failed", timedelta(hours=1), outcome=SUMMARY, attempts=7)
    with transaction(onair.engine) as session:  # as the executor keeps it when it gives up
        insert_events(session, [gave_up_event("onair@test", enable, STREAM, CAUSE, datetime.now(UTC))])
    set_action(onair, finish, "missed", timedelta(hours=30), outcome="deadline passed")
    set_action(onair, other_enable, "succeeded", timedelta(hours=2), outcome="enabled")
    noise = first_action(onair, theirs["id"], "finish")  # a re-plan's leftover: its broadcast lives on
    set_action(onair, noise, "cancelled", timedelta(minutes=5), outcome=CANCEL_OUTCOME)

    def ids(*args: str) -> list[int]:
        return [a["id"] for a in onair.json("history", *args)]

    assert ids() == [enable, other_enable, finish]
    assert ids("--all") == [noise, enable, other_enable, finish]
    assert ids("--state", "cancelled") == [noise]
    [failed] = onair.json("history", "--state", "failed")
    assert (
        failed["id"] == enable and failed["cause"]["summary"] == SUMMARY and failed["cause"]["attempts"] == 7
    )
    assert ids("--state", "failed,missed", "--since", "12h") == [enable]
    assert ids("--since", "48h", "--until", "12h") == [finish]
    since = (datetime.now(UTC) - timedelta(hours=3)).isoformat()
    assert ids("--since", since, "--stream", OTHER) == [other_enable]
    table = onair.ok("history", "--state", "failed").stdout
    assert 'FastPix 500 "internal error" on PUT' in table

    assert_one_line_error(
        onair("history", "--since", "yesterday"), "--since 'yesterday' is neither a duration"
    )
    assert_one_line_error(onair("history", "--state", "exploded"), "unknown state exploded")


def test_broadcast_list_says_what_happened_to_each(onair: Onair) -> None:
    onair.add_stream()
    failed = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3), "--title", "failed one")
    enabled = add_broadcast(onair, upcoming_hour(4), upcoming_hour(5), "--title", "enabled one")
    add_broadcast(onair, upcoming_hour(6), upcoming_hour(7), "--title", "scheduled one")
    cancelled = add_broadcast(onair, upcoming_hour(8), upcoming_hour(9), "--title", "cancelled one")
    onair.ok("broadcast", "cancel", str(cancelled["id"]))
    set_action(
        onair,
        first_action(onair, failed["id"], "enable"),
        "failed",
        timedelta(0),
        outcome=SUMMARY,
    )
    set_action(onair, first_action(onair, enabled["id"], "enable"), "succeeded", timedelta(0))

    listed = {
        b["title"]: (b["outcome"], b["outcome_cause"]) for b in onair.json("broadcast", "list", "--all")
    }
    assert listed == {
        "failed one": ("failed", f"enable: {SUMMARY}"),
        "enabled one": ("enabled", None),
        "scheduled one": ("scheduled", None),
        "cancelled one": ("cancelled", None),
    }
    table = onair.ok("broadcast", "list", "--all").stdout
    assert "failed (enable: FastPix 500" in table and "enabled" in table and "scheduled" in table
    shown = onair.ok("broadcast", "show", str(failed["id"])).stdout
    assert "failed (enable: FastPix 500" in shown


def test_report_lists_broadcasts_failures_and_invalid_rows(onair: Onair) -> None:
    onair.add_stream()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=2)
    with onair.engine.begin() as conn:
        conn.execute(
            text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, title) "
                "VALUES (:s, :a, :b, 'night show')"
            ),
            {"s": STREAM, "a": start, "b": start + timedelta(hours=1)},
        )
        conn.execute(
            text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, metadata) VALUES (:s, :a, :b, '[1]')"
            ),
            {"s": STREAM, "a": upcoming_hour(2), "b": upcoming_hour(3)},
        )
    add_broadcast(onair, upcoming_hour(4), upcoming_hour(5))  # re-plans: flags the bad row
    report = onair.json("report", "--since", "6h")
    assert [b["title"] for b in report["broadcasts"]] == ["night show"]
    assert [r["row"] for r in report["invalid_rows"]] == ["broadcasts#2"]
    assert report["totals"]["actions"] == len(report["broadcasts"][0]["acts"])
    assert_one_line_error(onair("report", "--since", "yesterday"), "--since 'yesterday'")
    bad = onair("report", ONAIR_REPORT_AT="07:00 Europe")
    assert_one_line_error(
        bad, "bad setting: ONAIR_REPORT_AT must be 'HH:MM Zone/Name'", "unknown time zone 'Europe'"
    )
