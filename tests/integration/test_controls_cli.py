"""The operators' controls through `onair`, on SQLite and PostgreSQL: what the operator sees, what lands
in SQL and in the history (who, why), and that a refused control names the fix and changes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from sqlalchemy import select, update

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
from worker.clock import SystemClock
from worker.service import pause_revival
from worker.store import organisers, pauses
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent, Broadcast, StreamPause


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


def stream_events(onair: Onair, stream: str | None) -> list[tuple[str, str, str]]:
    with transaction(onair.engine, immediate=False) as session:
        rows = session.execute(
            select(ActionEvent.event, ActionEvent.actor, ActionEvent.detail)
            .where(
                ActionEvent.action_id.is_(None),
                ActionEvent.stream_id.is_(None) if stream is None else ActionEvent.stream_id == stream,
            )
            .order_by(ActionEvent.id)
        )
        return [(e, a, d or "") for e, a, d in rows]


def set_action(onair: Onair, action_id: int, **values: object) -> None:
    with transaction(onair.engine) as session:
        session.execute(update(Action).where(Action.id == action_id).values(**values))


# -- pause / resume -----------------------------------------------------------------------------------


def test_pause_shows_in_plan_and_history_and_resume_ends_it(onair: Onair) -> None:
    onair.add_stream()
    onair.add_stream(OTHER, "other")
    assert_one_line_error(onair("streams", "pause", "f" * 32), "unknown stream")
    assert_one_line_error(onair("streams", "resume", STREAM), f"stream {STREAM} is not paused")

    said = onair.ok("streams", "pause", STREAM, "--note", "encoder swap").stdout
    assert "paused until `onair streams resume`" in said
    assert_one_line_error(onair("streams", "pause", STREAM), "already paused by", "resume it first")
    assert "encoder swap" in onair.ok("plan").stdout
    assert onair.json("plan")["paused"] == [
        {
            "stream_id": STREAM,
            "paused_at": onair.json("plan")["paused"][0]["paused_at"],
            "paused_by": onair.json("plan")["paused"][0]["paused_by"],
            "note": "encoder swap",
            "until": None,
        }
    ]
    assert onair.ok("streams", "resume", STREAM).stdout.strip() == f"stream {STREAM} resumed"
    assert "encoder swap" not in onair.ok("plan").stdout
    history = onair.ok("history", "--stream", STREAM).stdout
    assert "pauses of stream" in history and "encoder swap" in history
    [(paused, who, _), (resumed, who_again, detail)] = stream_events(onair, STREAM)
    assert (paused, resumed) == ("stream_paused", "stream_resumed") and who == who_again
    assert "encoder swap" in detail


def test_pause_all_and_resume_all(onair: Onair) -> None:
    onair.add_stream()
    onair.add_stream(OTHER, "other")
    onair.ok("streams", "pause", STREAM)
    assert "1 stream(s) paused" in onair.ok("streams", "pause", "--all", "--until", "2h").stdout
    [until] = [p["until"] for p in onair.json("plan")["paused"] if p["stream_id"] == OTHER]
    assert timedelta(minutes=119) < datetime.fromisoformat(until) - datetime.now(UTC) <= timedelta(hours=2)
    assert_one_line_error(onair("streams", "pause", STREAM, "--all"), "not both")
    assert_one_line_error(
        onair("streams", "pause", "--until", "2020-01-01T00:00:00Z", "--all"), "not in the future"
    )
    assert len(onair.json("plan")["paused"]) == 2
    out = onair.ok("streams", "resume", "--all").stdout
    assert f"stream {STREAM} resumed" in out and f"stream {OTHER} resumed" in out
    assert onair.json("plan")["paused"] == []


def test_resume_brings_back_a_skipped_enable_still_useful_but_not_a_finish(onair: Onair) -> None:
    onair.add_stream()
    start = upcoming_hour(2)
    added = add_broadcast(onair, start, start + timedelta(hours=1))
    enable, finish = (a["id"] for a in added["actions"])
    onair.ok("streams", "pause", STREAM, "--note", "maintenance")
    now = datetime.now(UTC)
    for action_id in (enable, finish):  # as the executor leaves them when they fall due while paused
        set_action(
            onair, action_id, state="skipped", outcome="paused (maintenance)", finished_at=now, attempts=1
        )

    said = onair.ok("streams", "resume", STREAM).stdout
    assert f"runs after all: action #{enable}" in said
    [enable_row] = onair.actions(id=enable)
    [finish_row] = onair.actions(id=finish)
    assert (enable_row.state, finish_row.state) == ("pending", "skipped")
    with transaction(onair.engine, immediate=False) as session:
        event = session.scalars(
            select(ActionEvent).where(ActionEvent.action_id == enable).order_by(ActionEvent.id.desc())
        ).first()
    assert event is not None and event.event == "resumed" and event.attempt == 2


def test_a_pause_whose_until_passed_is_ended_by_onair(onair: Onair) -> None:
    onair.add_stream()
    now = SystemClock().now()
    with transaction(onair.engine) as session:
        pauses.add_pause(
            session,
            STREAM,
            by="ada",
            note="short",
            until=now - timedelta(seconds=1),
            now=now - timedelta(minutes=5),
        )
    assert onair.json("plan")["paused"] == []  # no longer holds, whoever ends it
    assert pause_revival.end_lapsed(onair.engine, now) == 1
    with transaction(onair.engine, immediate=False) as session:
        row = session.scalars(select(StreamPause)).one()
    assert row.resumed_by == "onair" and row.resumed_at == row.until
    assert stream_events(onair, STREAM)[-1][0] == "stream_resumed"


# -- action retry -------------------------------------------------------------------------------------


def test_retry_runs_a_failed_enable_again_as_its_next_attempt(onair: Onair) -> None:
    onair.add_stream()
    start = upcoming_hour(2)
    added = add_broadcast(onair, start, start + timedelta(hours=1))
    enable = added["actions"][0]["id"]
    assert_one_line_error(onair("action", "retry", str(enable)), "it is pending", "only a failed or missed")
    set_action(onair, enable, state="failed", attempts=1, outcome="HTTP 400", finished_at=datetime.now(UTC))

    said = onair.json("action", "retry", str(enable), "--note", "fixed the key")
    assert said["attempt"] == 2
    assert said["deadline_at"] == (start + timedelta(hours=1)).isoformat()
    [row] = onair.actions(id=enable)
    assert (row.state, row.attempts, row.finished_at) == ("pending", 1, None)
    history = onair.json("history", "--action", str(enable))[0]["events"]
    assert history[-1]["event"] == "retry_requested" and "fixed the key" in history[-1]["detail"]
    assert_one_line_error(onair("action", "retry", "999999"), "no action with id 999999")


def test_retry_is_refused_when_a_later_act_made_it_pointless(onair: Onair) -> None:
    onair.add_stream()
    start = upcoming_hour(2)
    added = add_broadcast(onair, start, start + timedelta(hours=1))
    enable, finish = (a["id"] for a in added["actions"])
    set_action(onair, enable, state="failed", finished_at=datetime.now(UTC))
    set_action(onair, finish, state="succeeded", finished_at=datetime.now(UTC))
    assert_one_line_error(onair("action", "retry", str(enable)), f"the finish #{finish} due", "has run since")


def test_retry_is_refused_when_the_broadcast_is_over_or_cancelled(onair: Onair) -> None:
    onair.add_stream()
    start = upcoming_hour(2)
    added = add_broadcast(onair, start, start + timedelta(hours=1))
    enable = added["actions"][0]["id"]
    set_action(onair, enable, state="missed", finished_at=datetime.now(UTC))
    with transaction(onair.engine) as session:
        session.execute(update(Broadcast).values(cancelled_at=datetime.now(UTC)))
    before = onair.snapshot()
    assert_one_line_error(onair("action", "retry", str(enable)), "its broadcast was cancelled")
    assert onair.snapshot() == before


# -- organiser rotate / restore -----------------------------------------------------------------------


def test_rotate_stops_the_old_token_at_once_and_restore_undoes_a_revoke(onair: Onair) -> None:
    old = onair.ok("organiser", "add", "Alice", "--quiet").stdout.strip()
    new = onair.ok("organiser", "rotate", "Alice").stdout.splitlines()[-1]
    with transaction(onair.engine, immediate=False) as session:
        assert organisers.authenticate(session, old) is None
        assert organisers.authenticate(session, new) is not None
    onair.ok("organiser", "revoke", "Alice")
    assert_one_line_error(onair("organiser", "rotate", "Alice"), "was revoked")
    onair.ok("organiser", "restore", "Alice", "--note", "paid up")
    assert_one_line_error(onair("organiser", "restore", "Alice"), "is not revoked")
    assert_one_line_error(onair("organiser", "rotate", "Nobody"), "no organiser named 'Nobody'")
    with transaction(onair.engine, immediate=False) as session:
        assert organisers.authenticate(session, new) is not None
    assert [e for e, _, _ in stream_events(onair, None)] == ["organiser_rotated", "organiser_restored"]


# -- move / edit --------------------------------------------------------------------------------------


def test_move_replans_and_a_lead_collision_explains_the_lead(onair: Onair) -> None:
    onair.add_stream()
    first = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3), "--lead", "0s")
    second = add_broadcast(onair, upcoming_hour(4), upcoming_hour(5), "--lead", "5m")
    before = onair.snapshot()
    refused = onair(
        "broadcast",
        "move",
        str(second["id"]),
        "--start",
        upcoming_hour(3).isoformat(),
        "--end",
        upcoming_hour(5).isoformat(),
    )
    line = assert_one_line_error(
        refused, f"broadcast #{first['id']}", "your 5m lead makes this slot start at"
    )
    assert f"start at {(upcoming_hour(3) + timedelta(minutes=5)):%H:%M} or use a lead of at most 0s" in line
    assert_one_line_error(
        onair(
            "broadcast",
            "move",
            str(second["id"]),
            "--start",
            upcoming_hour(6).isoformat(),
            "--end",
            upcoming_hour(5).isoformat(),
        ),
        "is not after start",
    )
    assert onair.snapshot() == before

    new_start = upcoming_hour(3) + timedelta(minutes=10)
    said = onair.ok(
        "broadcast",
        "move",
        str(second["id"]),
        "--start",
        new_start.isoformat(),
        "--end",
        upcoming_hour(5).isoformat(),
        "--note",
        "the speaker is late",
    ).stdout
    assert f"broadcast {second['id']} moved" in said
    assert_one_line_error(
        onair("broadcast", "edit", str(second["id"]), "--title", "x", "--note", "a\x1bb"), "note"
    )
    enable = onair.actions(source_id=second["id"], kind="enable", state="pending")
    assert [a.due_at for a in enable] == [new_start - timedelta(minutes=5)]
    event, _, detail = stream_events(onair, STREAM)[-1]
    assert event == "broadcast_changed" and detail.endswith(": the speaker is late)")
    history = onair.ok("history", "--stream", STREAM).stdout
    assert "changes to stream" in history and "broadcast_changed" in history
    assert_one_line_error(
        onair(
            "book",
            "move",
            str(second["id"]),
            "--start",
            new_start.isoformat(),
            "--end",
            upcoming_hour(5).isoformat(),
        ),
        "no booking with id",
    )


def test_edit_changes_title_metadata_and_lead_checked_as_at_creation(onair: Onair) -> None:
    onair.add_stream()
    added = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3), "--lead", "0s")
    before = onair.snapshot()
    assert_one_line_error(
        onair("broadcast", "edit", str(added["id"]), "--reconnect-window", "5"),
        "reconnect window 5 s is outside",
    )
    assert_one_line_error(onair("broadcast", "edit", str(added["id"])), "nothing to change")
    assert onair.snapshot() == before

    onair.ok(
        "broadcast", "edit", str(added["id"]), "--title", "Late show", "-m", "show=late", "--lead", "10m"
    )
    shown = onair.json("broadcast", "show", str(added["id"]))
    assert (shown["title"], shown["metadata"], shown["lead_seconds"]) == ("Late show", {"show": "late"}, 600)
    kinds = {a["kind"]: a["due_at"] for a in shown["actions"] if a["state"] == "pending"}
    assert kinds["enable"] == (upcoming_hour(2) - timedelta(minutes=10)).isoformat()
    assert "update" in kinds
    assert "edited: title None -> 'Late show'" in stream_events(onair, STREAM)[-1][2]


# -- off-hours ----------------------------------------------------------------------------------------


def test_overlapping_off_hours_windows_are_refused_on_add_and_edit(onair: Onair) -> None:
    onair.add_stream()
    add = ["offhours", "add", "--stream", STREAM, "--tz", "UTC"]
    assert_one_line_error(
        onair(*add, "--cron", "*/2 * * * *", "--duration", "3m"), "its windows overlap", "at most 2m"
    )
    onair.ok(*add, "--cron", "0 22 * * *", "--duration", "8h")
    [rule] = onair.json("offhours", "list")
    assert_one_line_error(
        onair("offhours", "edit", str(rule["id"]), "--duration", "25h"), "its windows overlap"
    )
    onair.ok("offhours", "edit", str(rule["id"]), "--duration", "9h", "--label", "night")
    [rule] = onair.json("offhours", "list")
    assert (rule["duration_seconds"], rule["label"]) == (9 * 3600, "night")
    assert stream_events(onair, STREAM)[-1][0] == "off_hours_changed"


def test_a_finish_merged_into_a_back_to_back_slot_says_so_in_its_history(onair: Onair) -> None:
    onair.add_stream()
    first = add_broadcast(onair, upcoming_hour(2), upcoming_hour(3), "--lead", "0s")
    finish = next(a["id"] for a in first["actions"] if a["kind"] == "finish")
    second = add_broadcast(onair, upcoming_hour(3), upcoming_hour(4), "--lead", "0s")
    [row] = onair.json("history", "--action", str(finish))
    assert row["state"] == "cancelled"
    cancelled = row["events"][-1]
    assert cancelled["event"] == "cancelled"
    assert f"merged with broadcast #{second['id']}, which runs on from its end" in cancelled["detail"]


def test_doctor_warns_of_a_paused_stream_with_its_note(onair: Onair) -> None:
    onair.add_stream()
    assert onair.ok("doctor", "--only", "paused").stdout.strip() == "ok   paused  no stream paused"
    onair.ok("streams", "pause", STREAM, "--note", "encoder swap")
    warned = onair("doctor", "--only", "paused")
    assert warned.exit_code == 0
    assert warned.stdout.startswith(f"WARN paused  1 paused, no act sent: {STREAM} paused by ")
    assert "until resumed: encoder swap" in warned.stdout
    assert onair("doctor", "--only", "paused", "--strict").exit_code == 1
