"""The embedded broker shares messages due later between the act workers polling its folder, and never
holds back one that is wanted now (real message files, real kombu connections, Celery's own envelope)."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from kombu import Connection

from worker.celery_app import broker_options, make_celery
from worker.config import OnairSettings
from worker.folder_broker import Transport

# Long enough that a loaded machine never stretches two takes a poll apart.
POLL = 1.0


@pytest.fixture(autouse=True)
def fresh_bindings() -> None:
    # kombu keeps the queues it has bound in a process-wide table and never binds them again, so a
    # second test's folder would have no binding: each test starts with the table empty.
    Transport.global_state.clear()


def reader(data_dir: Path) -> Connection:
    """A connection as the workers open it (the shipped options), polling every POLL."""
    url, options = broker_options(OnairSettings(data_dir=str(data_dir), broker_url=""))
    return Connection(url, transport_options={**options, "polling_interval": POLL})


@pytest.fixture
def readers(tmp_path: Path) -> Iterator[tuple[Connection, Connection]]:
    first, second = reader(tmp_path), reader(tmp_path)
    yield first, second
    first.release()
    second.release()


def put(data_dir: Path, body: str, eta: datetime | None) -> None:
    headers: dict[str, Any] = {"eta": eta.isoformat()} if eta else {}
    with reader(data_dir) as conn:
        conn.SimpleQueue("onair").put(body, headers=headers)


def take(conn: Connection) -> str | None:
    queue = conn.SimpleQueue("onair")
    try:
        message = queue.get_nowait()
    except queue.Empty:
        return None
    message.ack()
    return str(message.payload)


def later() -> datetime:
    return datetime.now(UTC) + timedelta(seconds=5)


def test_a_reader_that_just_took_a_message_leaves_the_next_one_due_later_to_another(
    tmp_path: Path, readers: tuple[Connection, Connection]
) -> None:
    first, second = readers
    batches = {"batch 1", "batch 2", "batch 3"}
    for body in sorted(batches):  # written within a millisecond: taken in any order
        put(tmp_path, body, later())
    taken = [take(first), take(first)]
    assert taken[0] in batches and taken[1] is None  # the next is left for a reader that took none
    taken += [take(second), take(second)]
    assert taken[2] in batches and taken[3] is None
    time.sleep(POLL)
    taken.append(take(first))
    assert {t for t in taken if t} == batches


def test_a_lone_reader_takes_what_it_left_at_its_next_poll(
    tmp_path: Path, readers: tuple[Connection, Connection]
) -> None:
    first, _ = readers
    put(tmp_path, "batch 1", later())
    put(tmp_path, "batch 2", later())
    taken = [take(first), take(first)]
    assert taken[1] is None
    time.sleep(POLL)
    taken.append(take(first))
    assert {t for t in taken if t} == {"batch 1", "batch 2"}


def test_a_message_wanted_now_or_within_two_polls_is_never_left(
    tmp_path: Path, readers: tuple[Connection, Connection]
) -> None:
    first, _ = readers
    put(tmp_path, "batch 1", later())
    assert take(first) == "batch 1"
    put(tmp_path, "batch 2", later())
    put(tmp_path, "tick", None)
    put(tmp_path, "soon", datetime.now(UTC) + timedelta(seconds=POLL))
    assert {take(first), take(first)} == {"soon", "tick"}
    assert take(first) is None


def test_celery_puts_the_eta_in_the_name_of_an_act_batch(tmp_path: Path) -> None:
    app = make_celery(OnairSettings(data_dir=str(tmp_path), broker_url=""))
    eta = later()
    app.send_task("onair.execute_batch", ([[1, "token"]],), eta=eta)
    (name,) = [p.name for p in (tmp_path / "broker").glob("*.onair.msg")]
    assert name.split("_")[1] == str(round(eta.timestamp() * 1000))
