"""`onair streams policy ID --between-slots keep|disable` on a migrated database (both backends): the
planner disables the stream after each slot (unless the next slot's enable is a few minutes away),
`onair plan` shows it, `keep` takes it back, and bad input changes nothing. `onair streams list/get`
show the policy beside FastPix's view of the stream."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest

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


@pytest.fixture(params=BACKENDS)
def onair(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_on_backend(request, tmp_path)


@pytest.fixture
def onair_sqlite(tmp_path: Path) -> Iterator[Onair]:
    yield from migrated_sqlite(tmp_path)


def disables(onair: Onair) -> list[tuple[int | None, object, str]]:
    return [(a.source_id, a.due_at, a.state) for a in onair.actions(stream_id=STREAM, kind="disable")]


def test_disable_between_slots_is_planned_shown_and_taken_back(onair: Onair) -> None:
    onair.add_stream()
    first_end = upcoming_hour(4)
    first = add_broadcast(onair, upcoming_hour(3), first_end)
    # Its enable (lead 5 min) comes 3 min after the first ends: the stream stays on between them.
    close = add_broadcast(onair, first_end + timedelta(minutes=8), upcoming_hour(5))
    later = add_broadcast(onair, upcoming_hour(7), upcoming_hour(8))
    assert disables(onair) == []
    assert onair.json("streams", "policy", STREAM) == {"streamId": STREAM, "betweenSlots": "keep"}

    shown = onair.ok("streams", "policy", STREAM, "--between-slots", "disable").stdout
    assert f"stream {STREAM} between slots: disable: disabled after each slot" in shown

    # Re-planned at once: after the close pair, and after the last slot; none between the close pair.
    assert disables(onair) == [
        (close["id"], upcoming_hour(5), "pending"),
        (later["id"], upcoming_hour(8), "pending"),
    ]
    assert first["id"] not in [source for source, _, _ in disables(onair)]
    plan = onair.json("plan", "--hours", "10")
    (stream,) = plan["streams"]
    assert stream["between_slots"] == "disable"
    assert "; disabled between slots" in onair.ok("plan", "--hours", "10").stdout
    after = [a for a in stream["actions"] if a["kind"] == "disable"]
    assert [a["reason"].endswith("the stream's between-slots policy") for a in after] == [True, True]
    # The finish comes first at the slot's end, then the disable.
    at_end = [a["kind"] for a in stream["actions"] if a["due_at"] == upcoming_hour(5).isoformat()]
    assert at_end == ["finish", "disable"]
    assert onair.json("streams", "policy", STREAM)["betweenSlots"] == "disable"

    again = onair.ok("streams", "policy", STREAM, "--between-slots", "disable").stdout
    assert "already had this between-slots policy; nothing changed" in again

    onair.ok("streams", "policy", STREAM, "--between-slots", "KEEP")
    assert [state for _, _, state in disables(onair)] == ["cancelled", "cancelled"]


def test_a_bad_value_or_an_unknown_stream_changes_nothing(onair: Onair) -> None:
    onair.add_stream()
    add_broadcast(onair, upcoming_hour(3), upcoming_hour(4))
    before = onair.snapshot()

    bad = onair("streams", "policy", STREAM, "--between-slots", "off")
    assert_one_line_error(bad, "--between-slots must be keep or disable, not 'off'")
    unknown = onair("streams", "policy", OTHER, "--between-slots", "disable")
    assert_one_line_error(unknown, f"unknown stream '{OTHER}'")
    unknown_show = onair("streams", "policy", OTHER)
    assert_one_line_error(unknown_show, f"unknown stream '{OTHER}': not in onair's streams table")
    malformed = onair("streams", "policy", "nope", "--between-slots", "disable")
    assert_one_line_error(malformed, "unknown stream 'nope'")

    assert onair.snapshot() == before


def test_list_and_get_show_the_policy(onair_sqlite: Onair, simulator: Simulator) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as client:
        guarded = client.create_stream(metadata={"livestream_name": "guarded"}).stream_id
        plain = client.create_stream(metadata={"livestream_name": "plain"}).stream_id
    onair_sqlite.fastpix = simulator.env
    # A stream FastPix knows but onair has not met yet is registered, then given the policy.
    onair_sqlite.ok("streams", "policy", guarded, "--between-slots", "disable")
    with transaction(onair_sqlite.engine, immediate=False) as session:
        row = session.get(Stream, guarded)
    assert row is not None and row.name == "guarded" and row.between_slots == "disable"

    listed = {s["streamId"]: s["betweenSlots"] for s in onair_sqlite.json("streams", "list")}
    assert listed == {guarded: "disable", plain: "keep"}
    assert onair_sqlite.json("streams", "get", guarded)["betweenSlots"] == "disable"
    table = onair_sqlite.ok("streams", "get", plain).stdout
    assert "between slots" in table and "keep" in table


def test_list_without_a_database_warns_and_still_lists(simulator: Simulator, tmp_path: Path) -> None:
    simulator.reset()
    with FastPixClient(simulator.base_url, *simulator.credentials) as client:
        client.create_stream(metadata={"livestream_name": "lonely"})
    missing = Onair(f"sqlite:///{tmp_path}/none.db", engine=None, fastpix=simulator.env)  # type: ignore[arg-type]
    result = missing("streams", "list", "--json")
    assert result.exit_code == 0, result.output
    assert [s["betweenSlots"] for s in json.loads(result.stdout)] == [None]
    assert f"warning: between-slots policies not shown: no onair database at {tmp_path}/none.db" in (
        result.stderr
    )
    assert not (tmp_path / "none.db").exists()

    (tmp_path / "empty.db").touch()
    empty = Onair(f"sqlite:///{tmp_path}/empty.db", engine=None, fastpix=simulator.env)  # type: ignore[arg-type]
    result = empty("streams", "list")
    assert result.exit_code == 0, result.output
    assert "lonely" in result.stdout
    assert "warning: between-slots policies not shown: " in result.stderr
    assert "onair db upgrade" in result.stderr
