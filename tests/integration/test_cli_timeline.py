"""`onair plan` and `onair history`: what an operator reads about the ledger, in their own zone."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.integration.cli_support import (
    OTHER,
    STREAM,
    Onair,
    add_broadcast,
    assert_one_line_error,
    migrated_sqlite,
    upcoming_hour,
)
from worker.domain.attempts import Attempt
from worker.domain.types import ActionState
from worker.store import ledger
from worker.store.db import transaction

KOLKATA = ZoneInfo("Asia/Kolkata")
BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture
def onair(tmp_path: Path) -> Iterator[Onair]:
    for instance in migrated_sqlite(tmp_path):
        instance.add_stream(STREAM, name="morning show")
        instance.add_stream(OTHER, name=None)
        yield instance


def local(when: datetime, zone: ZoneInfo) -> str:
    offset = when.astimezone(zone).strftime("%z")
    return when.astimezone(zone).strftime("%Y-%m-%d %H:%M:%S ") + f"{offset[:3]}:{offset[3:]}"


def run_first_due_action(onair: Onair, *, status: int = 200) -> int:
    """Do what a worker does, through the ledger API: claim, record the API call, complete."""
    now = datetime.now(UTC)
    (claim,) = ledger.claim_due(
        onair.engine,
        now=now,
        ahead=timedelta(days=1),
        lease=timedelta(minutes=1),
        owner="test-worker",
        limit=1,
    )
    with transaction(onair.engine) as session:
        ledger.record_event(
            session,
            action_id=claim.action_id,
            stream_id=claim.stream_id,
            actor="test-worker",
            event="api_call",
            attempt=1,
            http_method="PUT",
            http_path=f"/live/streams/{claim.stream_id}/live-enable",
            http_status=status,
            latency_ms=42.0,
            now=now,
        )
        done = Attempt.done(claim.action_id, ActionState.SUCCEEDED, "stream enabled")
        kept = ledger.record_attempts(session, claim.lease_token, [done], now=now, actor="test-worker")
        assert kept == {claim.action_id}
    return claim.action_id


def test_plan_shows_what_happens_when_in_the_operators_zone(onair: Onair) -> None:
    start, end = upcoming_hour(3), upcoming_hour(5)
    add_broadcast(onair, start, end, "--title", "Morning")
    onair.ok(
        "offhours",
        "add",
        "--stream",
        OTHER,
        "--cron",
        "0 23 * * *",
        "--duration",
        "1h",
        "--tz",
        "Asia/Kolkata",
    )

    table = onair.ok("plan", "--tz", "Asia/Kolkata").stdout
    enable_at = local(start - timedelta(minutes=5), KOLKATA)
    assert enable_at.endswith("+05:30") and enable_at in table
    assert local(end, KOLKATA) in table and "morning show" in table and "Morning" in table
    assert "23:00:00 +05:30" in table  # the off-hours disable, on the rule's own clock here
    assert local(start - timedelta(minutes=5), BERLIN) in onair.ok("plan", "--tz", "Europe/Berlin").stdout

    plan = onair.json("plan", "--tz", "Asia/Kolkata")
    assert set(plan) == {
        "now", "until", "timezone", "last_planned_at", "actions", "streams", "invalid_schedules",
        "recent_failures", "paused",
    }  # fmt: skip
    assert plan["last_planned_at"] is not None and plan["invalid_schedules"] == []
    dues = [a["due_at"] for a in plan["actions"]]
    assert dues == sorted(dues)
    first = next(a for a in plan["actions"] if a["stream_id"] == STREAM)
    assert first == {
        **first,
        "kind": "enable",
        "stream_name": "morning show",
        "source": "broadcast",
        "due_at": (start - timedelta(minutes=5)).isoformat(),
        "deadline_at": end.isoformat(),
        "state": "pending",
        "attempts": 0,
    }
    assert "Morning" in first["reason"]

    only_other = onair.json("plan", "--stream", OTHER)["actions"]
    assert only_other and {a["stream_id"] for a in only_other} == {OTHER}


def test_plan_hours_limits_how_far_ahead(onair: Onair) -> None:
    onair.fastpix = {**onair.fastpix, "ONAIR_HORIZON_HOURS": "48"}
    soon = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    later = add_broadcast(onair, upcoming_hour(30), upcoming_hour(31))

    def planned_sources(*args: str) -> set[int]:
        return {a["source_id"] for a in onair.json("plan", *args)["actions"]}

    assert planned_sources() == {soon["id"]}
    assert planned_sources("--hours", "40") == {soon["id"], later["id"]}


def test_plan_lists_invalid_schedule_rows_with_their_reason(onair: Onair) -> None:
    good = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    # Rows typed by hand in SQL that the planner cannot use.
    with transaction(onair.engine) as session:
        session.execute(
            text(
                "INSERT INTO broadcasts (stream_id, starts_at, ends_at, lead_seconds, metadata) "
                "VALUES (:s, :start, :end, 300, '[1, 2]')"
            ),
            {"s": STREAM, "start": upcoming_hour(4).isoformat(), "end": upcoming_hour(5).isoformat()},
        )
        session.execute(
            text("INSERT INTO off_hours (cron, duration_seconds, timezone) VALUES ('0 22 * *', 3600, 'UTC')")
        )
    onair.ok("broadcast", "cancel", str(good["id"]))  # any change re-plans, which flags the bad rows

    plan = onair.json("plan")
    reasons = {(i["source"], i["invalid_reason"]) for i in plan["invalid_schedules"]}
    assert ("broadcast", "metadata must be a JSON object, got list") in reasons
    assert any(source == "off_hours" and "expected 5 fields" in why for source, why in reasons)
    table = onair.ok("plan").stdout
    assert "2 schedule rows flagged invalid" in table and "must be a JSON object" in table


def test_history_shows_outcomes_attempts_and_each_call(onair: Onair) -> None:
    start = upcoming_hour(2)
    add_broadcast(onair, start, start + timedelta(hours=1))
    assert onair.json("history") == []  # nothing has happened yet

    action_id = run_first_due_action(onair)

    (done,) = onair.json("history")
    assert done == {
        **done,
        "id": action_id,
        "kind": "enable",
        "stream_name": "morning show",
        "state": "succeeded",
        "attempts": 1,
        "outcome": "stream enabled",
    }
    assert done["finished_at"] is not None and "events" not in done

    (detailed,) = onair.json("history", "--action", str(action_id))
    events = {e["event"]: e for e in detailed["events"]}
    assert {"planned", "claimed", "api_call", "succeeded"} <= set(events)
    call = events["api_call"]
    assert (call["http_method"], call["http_status"], call["latency_ms"], call["actor"]) == (
        "PUT", 200, 42.0, "test-worker"
    )  # fmt: skip
    assert call["http_path"] == f"/live/streams/{STREAM}/live-enable"
    assert (events["succeeded"]["from_state"], events["succeeded"]["to_state"]) == ("claimed", "succeeded")

    table = onair.ok("history", "--verbose", "--tz", "Europe/Berlin").stdout
    assert f"PUT /live/streams/{STREAM}/live-enable -> 200 in 42 ms" in table and "+01:00" in table
    assert "claimed -> succeeded" in table and "test-worker" in table

    # The finished action left the plan; the finish is still ahead.
    assert [a["kind"] for a in onair.json("plan")["actions"]] == ["finish"]


def test_history_filters_and_limits(onair: Onair) -> None:
    add_broadcast(onair, upcoming_hour(2), upcoming_hour(3))
    add_broadcast(onair, upcoming_hour(4), upcoming_hour(5))
    onair.ok(
        "broadcast", "add", "--stream", OTHER, "--start", upcoming_hour(2).isoformat(),
        "--end", upcoming_hour(3).isoformat(),
    )  # fmt: skip
    onair.ok("broadcast", "cancel", "2")

    everything: list[dict[str, Any]] = onair.json("history")
    assert [a["state"] for a in everything] == ["cancelled", "cancelled"]
    assert len(onair.json("history", "--limit", "1")) == 1
    assert onair.json("history", "--stream", OTHER) == []
    assert len(onair.json("history", "--stream", STREAM)) == 2


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["history", "--action", "999"], "no action with id 999"),
        (["plan", "--tz", "Moon/Base"], "unknown time zone 'Moon/Base'"),
        (["history", "--tz", "Moon/Base"], "unknown time zone 'Moon/Base'"),
    ],
)
def test_bad_reads_are_one_line_errors(onair: Onair, args: list[str], fragment: str) -> None:
    assert_one_line_error(onair(*args), fragment)
