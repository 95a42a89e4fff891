"""`onair broadcast ...` and `onair offhours ...` on a migrated database: what the operator sees, what
lands in SQL, and that bad input writes nothing."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from itertools import pairwise
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import text

from tests.integration.cli_support import (
    OTHER,
    STREAM,
    Onair,
    add_broadcast,
    assert_one_line_error,
    migrated_on_backend,
    migrated_sqlite,
    upcoming_hour,
)
from tests.integration.simulator_fixture import Simulator
from tests.integration.store_support import BACKENDS
from worker.fastpix import FastPixClient
from worker.store.db import transaction
from worker.store.models import Stream

BERLIN = ZoneInfo("Europe/Berlin")


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


@pytest.fixture
def onair_sqlite(tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_sqlite(tmp_path)


def berlin(when: datetime) -> str:
    """`when` as an operator in Berlin types it: local wall time plus the zone name."""
    return when.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M") + " Europe/Berlin"


# -- broadcasts ------------------------------------------------------------------------------------


def test_add_list_cancel(onair: Onair) -> None:
    onair.add_stream()
    start, end = upcoming_hour(3), upcoming_hour(5)
    added = onair.ok(
        "broadcast", "add", "--stream", STREAM, "--start", berlin(start), "--end", berlin(end),
        "--lead", "10m", "--title", "Morning", "--metadata", "show=morning", "--reconnect-window", "120",
        "--tz", "Europe/Berlin",
    )  # fmt: skip
    broadcast_id = int(added.stdout.split()[1])
    assert f"broadcast {broadcast_id} added" in added.stdout
    assert start.astimezone(BERLIN).strftime("%Y-%m-%d %H:%M:%S +01:00") in added.stdout

    # The planner ran at once: enable and update 10 minutes ahead, finish and put the metadata back at
    # the end.
    planned = onair.actions(source="broadcast", source_id=broadcast_id)
    assert [(a.kind, a.due_at, a.state) for a in planned] == [
        ("enable", start - timedelta(minutes=10), "pending"),
        ("update", start - timedelta(minutes=10), "pending"),
        ("finish", end, "pending"),
        ("restore", end, "pending"),
    ]
    assert json.loads(planned[1].payload or "") == {"metadata": {"show": "morning"}, "reconnectWindow": 120}

    listed = onair.json("broadcast", "list")
    assert [(b["id"], b["stream_id"], b["title"]) for b in listed] == [(broadcast_id, STREAM, "Morning")]
    assert listed[0]["starts_at"] == start.isoformat() and listed[0]["metadata"] == {"show": "morning"}
    table = onair.ok("broadcast", "list", "--tz", "America/New_York").stdout
    assert (
        "morning show" in table
        and start.astimezone(ZoneInfo("America/New_York")).strftime("%Y-%m-%d %H:%M:%S -05:00") in table
    )

    cancelled = onair.ok("broadcast", "cancel", str(broadcast_id))
    assert f"broadcast {broadcast_id} cancelled; 4 planned actions cancelled" in cancelled.stdout
    assert {a.state for a in onair.actions(source="broadcast", source_id=broadcast_id)} == {"cancelled"}
    assert onair.json("broadcast", "list") == []
    (everything,) = onair.json("broadcast", "list", "--all")
    assert everything["id"] == broadcast_id and everything["cancelled_at"] is not None
    again = onair.ok("broadcast", "cancel", str(broadcast_id))
    assert "already cancelled" in again.stdout


def test_add_json_and_quiet(onair_sqlite: Onair) -> None:
    onair_sqlite.add_stream()
    start, end = upcoming_hour(2), upcoming_hour(3)
    row = add_broadcast(onair_sqlite, start, end)
    assert set(row) == {
        "id", "stream_id", "starts_at", "ends_at", "lead_seconds", "title", "metadata",
        "reconnect_window", "cancelled_at", "invalid_reason", "created_at", "actions",
    }  # fmt: skip
    assert row["lead_seconds"] == 300 and row["invalid_reason"] is None
    assert [a["kind"] for a in row["actions"]] == ["enable", "finish"]
    assert row["actions"][0]["due_at"] == (start - timedelta(minutes=5)).isoformat()

    later_start, later_end = upcoming_hour(4).isoformat(), upcoming_hour(5).isoformat()
    quiet = onair_sqlite.ok(
        "broadcast", "add", "--stream", STREAM, "--start", later_start, "--end", later_end, "-q"
    )
    assert quiet.stdout.strip() == str(row["id"] + 1)


def test_show_lists_the_planned_actions_and_an_invalid_reason(onair_sqlite: Onair) -> None:
    onair_sqlite.add_stream()
    row = add_broadcast(onair_sqlite, upcoming_hour(2), upcoming_hour(3))
    shown = onair_sqlite.json("broadcast", "show", str(row["id"]))
    assert [(a["kind"], a["state"]) for a in shown["actions"]] == [
        ("enable", "pending"),
        ("finish", "pending"),
    ]

    # An operator breaks the row by hand in SQL; the planner flags it and `show` says why.
    with transaction(onair_sqlite.engine) as session:
        session.execute(text("UPDATE broadcasts SET metadata = '{oops' WHERE id = :id"), {"id": row["id"]})
    onair_sqlite.ok("broadcast", "add", "--stream", STREAM, "--start", upcoming_hour(6).isoformat(),
                    "--end", upcoming_hour(7).isoformat())  # fmt: skip
    table = onair_sqlite.ok("broadcast", "show", str(row["id"]), "--tz", "Europe/Berlin").stdout
    assert "metadata is not valid JSON" in table and "+01:00" in table

    missing = onair_sqlite("broadcast", "show", "999")
    assert_one_line_error(missing, "no broadcast with id 999")


def bad_broadcast_inputs() -> list[tuple[list[str], str]]:
    start, end = upcoming_hour(3).isoformat(), upcoming_hour(4).isoformat()
    past = (datetime.now(UTC) - timedelta(hours=2)).isoformat()
    base = ["--stream", STREAM]
    return [
        ([*base, "--start", end, "--end", start], "is not after start"),
        ([*base, "--start", start, "--end", start], "is not after start"),
        ([*base, "--start", "2026-11-27 19:00", "--end", end], "has no time zone"),
        ([*base, "--start", "soon", "--end", end], "is not an ISO 8601 time"),
        ([*base, "--start", "2026-11-27 19:00", "--end", end, "--tz", "Mars/Base"], "unknown time zone"),
        ([*base, "--start", start, "--end", end, "--lead", "-5m"], "lead '-5m' is negative"),
        ([*base, "--start", start, "--end", end, "--lead", "soon"], "is not a duration"),
        ([*base, "--start", start, "--end", end, "--metadata", "novalue"], "key=value"),
        (
            [*base, "--start", start, "--end", end, *[f"--metadata=k{i}=v" for i in range(11)]],
            "metadata has 11 keys; FastPix allows at most 10",
        ),
        ([*base, "--start", start, "--end", end, "-m", "k=" + "x" * 256], "has 256 characters"),
        ([*base, "--start", start, "--end", end, "--reconnect-window", "59"], "reconnect window 59 s"),
        ([*base, "--start", start, "--end", end, "--reconnect-window", "1801"], "outside 60..1800"),
        ([*base, "--start", past, "--end", end], "is in the past"),
        ([*base, "--start", start, "--end", upcoming_hour(24 * 8).isoformat()], "split it"),
    ]


@pytest.mark.parametrize(("args", "fragment"), bad_broadcast_inputs())
def test_bad_broadcast_input_is_refused_and_writes_nothing(
    onair_sqlite: Onair, args: list[str], fragment: str
) -> None:
    onair_sqlite.add_stream()
    before = onair_sqlite.snapshot()
    assert_one_line_error(onair_sqlite("broadcast", "add", *args), fragment)
    assert onair_sqlite.snapshot() == before


def test_a_past_start_is_accepted_when_asked(onair_sqlite: Onair) -> None:
    onair_sqlite.add_stream()
    start = datetime.now(UTC).replace(microsecond=0) - timedelta(minutes=30)
    row = add_broadcast(onair_sqlite, start, start + timedelta(hours=2), "--allow-past")
    assert row["starts_at"] == start.isoformat()
    # Still before its end, so the enable is planned late and will run at once.
    assert [(a["kind"], a["state"]) for a in row["actions"]] == [("enable", "pending"), ("finish", "pending")]


def test_an_unknown_stream_without_fastpix_credentials(onair_sqlite: Onair) -> None:
    before = onair_sqlite.snapshot()
    result = onair_sqlite(
        "broadcast", "add", "--stream", OTHER, "--start", upcoming_hour(2).isoformat(),
        "--end", upcoming_hour(3).isoformat(),
    )  # fmt: skip
    assert_one_line_error(
        result,
        f"unknown stream '{OTHER}': not in onair's streams table and FastPix could not be asked",
        "FASTPIX_ACCESS_TOKEN_ID is not set",
    )
    assert onair_sqlite.snapshot() == before


def test_a_malformed_stream_id_is_refused_without_asking(onair_sqlite: Onair) -> None:
    before = onair_sqlite.snapshot()
    result = onair_sqlite(
        "offhours", "add", "--stream", "studio-1", "--cron", "0 22 * * *", "--duration", "8h", "--tz", "UTC"
    )
    assert_one_line_error(result, "unknown stream 'studio-1'", "expected 32 hexadecimal characters")
    assert onair_sqlite.snapshot() == before


# -- the FastPix fallback, against the simulator ---------------------------------------------------


def test_a_stream_fastpix_knows_is_registered(onair_sqlite: Onair, simulator: Simulator) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as client:
        stream = client.create_stream(metadata={"livestream_name": "evening news"})
    onair_sqlite.fastpix = simulator.env
    row = onair_sqlite.json(
        "broadcast", "add", "--stream", stream.stream_id, "--start", upcoming_hour(2).isoformat(),
        "--end", upcoming_hour(3).isoformat(),
    )  # fmt: skip
    assert row["stream_id"] == stream.stream_id and row["invalid_reason"] is None
    with transaction(onair_sqlite.engine, immediate=False) as session:
        known = session.get(Stream, stream.stream_id)
    assert known is not None and known.name == "evening news" and known.status == "idle"
    assert "evening news" in onair_sqlite.ok("plan", "--tz", "UTC").stdout


def test_a_stream_fastpix_does_not_have(onair_sqlite: Onair, simulator: Simulator) -> None:
    simulator.reset()
    onair_sqlite.fastpix = simulator.env
    before = onair_sqlite.snapshot()
    result = onair_sqlite(
        "offhours", "add", "--stream", OTHER, "--cron", "0 22 * * *", "--duration", "8h", "--tz", "UTC"
    )
    assert_one_line_error(result, f"unknown stream '{OTHER}': FastPix has no such stream")
    assert onair_sqlite.snapshot() == before


def test_fastpix_unreachable(onair_sqlite: Onair, simulator: Simulator) -> None:
    onair_sqlite.fastpix = {**simulator.env, "FASTPIX_API_URL": "http://127.0.0.1:9/v1"}
    before = onair_sqlite.snapshot()
    result = onair_sqlite(
        "broadcast", "add", "--stream", OTHER, "--start", upcoming_hour(2).isoformat(),
        "--end", upcoming_hour(3).isoformat(),
    )  # fmt: skip
    line = assert_one_line_error(result, "not in onair's streams table and FastPix could not be asked (")
    assert simulator.secret_key not in line
    assert onair_sqlite.snapshot() == before


# -- off-hours -------------------------------------------------------------------------------------


def test_offhours_add_shows_the_next_windows_in_its_zone(onair: Onair) -> None:
    onair.add_stream()
    onair.add_stream(OTHER, name=None)
    added = onair.ok(
        "offhours", "add", "--all", "--cron", "0 22 * * *", "--duration", "8h", "--tz", "Europe/Berlin",
        "--label", "night",
    )  # fmt: skip
    lines = added.stdout.splitlines()
    assert lines[0].startswith("off-hours 1 added: every stream off for 8h at '0 22 * * *' Europe/Berlin")
    windows = [line.split() for line in lines[1:]]
    assert len(windows) == 3
    starts = []
    for off, day, at, offset, until, end_day, end_at, end_offset in windows:
        assert (off, at, offset, until, end_at, end_offset) == (
            "off", "22:00:00", "+01:00", "until", "06:00:00", "+01:00"
        )  # fmt: skip
        start_day = datetime.fromisoformat(day).date()
        assert datetime.fromisoformat(end_day).date() == start_day + timedelta(days=1)
        starts.append(start_day)
    assert [b - a for a, b in pairwise(starts)] == [timedelta(days=1)] * 2
    # Both known streams get a disable at 22:00 Berlin and an enable at 06:00.
    disables = onair.actions(source="off_hours", source_id=1, kind="disable")
    assert {a.stream_id for a in disables} == {STREAM, OTHER}
    assert all(a.due_at.astimezone(BERLIN).hour == 22 for a in disables)

    (rule,) = onair.json("offhours", "list")
    assert rule["stream_id"] is None and rule["duration_seconds"] == 8 * 3600 and rule["label"] == "night"
    assert len(rule["next_windows"]) == 1
    assert datetime.fromisoformat(rule["next_windows"][0]["start"]).astimezone(BERLIN).hour == 22

    removed = onair.ok("offhours", "remove", "1")
    count = int(removed.stdout.split("; ")[1].split()[0])
    assert count == len(onair.actions(source="off_hours", source_id=1, state="cancelled")) > 0
    assert onair.actions(source="off_hours", source_id=1, state="pending") == []
    assert onair.json("offhours", "list") == []
    assert onair.json("offhours", "list", "--all")[0]["cancelled_at"] is not None


def test_offhours_for_one_stream_json(onair_sqlite: Onair) -> None:
    onair_sqlite.add_stream()
    rule = onair_sqlite.json(
        "offhours", "add", "--stream", STREAM, "--cron", "30 1 * * *", "--duration", "1h30m",
        "--tz", "America/New_York",
    )  # fmt: skip
    assert rule["stream_id"] == STREAM and rule["timezone"] == "America/New_York"
    assert rule["duration_seconds"] == 5400 and len(rule["next_windows"]) == 3
    for window in rule["next_windows"]:
        start = datetime.fromisoformat(window["start"]).astimezone(ZoneInfo("America/New_York"))
        assert (start.hour, start.minute) == (1, 30)
        assert datetime.fromisoformat(window["end"]) - start == timedelta(minutes=90)


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["--all", "--cron", "0 22 * *", "--duration", "8h", "--tz", "UTC"], "expected 5 fields"),
        (["--all", "--cron", "0 25 * * *", "--duration", "8h", "--tz", "UTC"], "bad cron expression"),
        (
            ["--all", "--cron", "0 22 * * *", "--duration", "8h", "--tz", "Europe/Nowhere"],
            "unknown time zone",
        ),
        (["--all", "--cron", "0 22 * * *", "--duration", "0", "--tz", "UTC"], "must be more than zero"),
        (["--all", "--cron", "0 22 * * *", "--duration", "-1h", "--tz", "UTC"], "is negative"),
        (["--all", "--cron", "0 22 * * *", "--duration", "8h"], "--tz Europe/Berlin"),
        (["--cron", "0 22 * * *", "--duration", "8h", "--tz", "UTC"], "exactly one of --stream ID and --all"),
        (
            ["--all", "--stream", STREAM, "--cron", "0 22 * * *", "--duration", "8h", "--tz", "UTC"],
            "exactly one of --stream ID and --all",
        ),
    ],
)
def test_bad_offhours_input_is_refused_and_writes_nothing(
    onair_sqlite: Onair, args: list[str], fragment: str
) -> None:
    onair_sqlite.add_stream()
    before = onair_sqlite.snapshot()
    assert_one_line_error(onair_sqlite("offhours", "add", *args), fragment)
    assert onair_sqlite.snapshot() == before


def test_unknown_ids_and_unmigrated_databases(onair_sqlite: Onair, tmp_path: Path) -> None:
    assert_one_line_error(onair_sqlite("broadcast", "cancel", "42"), "no broadcast with id 42")
    assert_one_line_error(onair_sqlite("offhours", "remove", "42"), "no off-hours rule with id 42")
    empty = onair_sqlite("broadcast", "list", ONAIR_DATABASE_URL=f"sqlite:///{tmp_path}/empty.db")
    assert_one_line_error(empty, "has no onair schema", "onair db upgrade")
