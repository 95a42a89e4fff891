"""kombu's Redis transport after a lost connection, as Celery's consumer handles it: it collects the
connection (detaching the transport), then closes it; an ETA message received before may be
acknowledged afterwards. Unpatched, each raised an AttributeError that made the worker exit
(docs/reliability.md, fault 2). Real Redis."""

from __future__ import annotations

import socket
import uuid
from collections.abc import Iterator

import pytest
from kombu import Connection, Exchange, Queue

from worker import redis_broker


@pytest.fixture
def held(redis_url: str) -> Iterator[tuple[Connection, list[object]]]:
    """A connection whose channel holds two delivered, unacknowledged messages."""
    redis_broker.install()
    name = f"onair-test-{uuid.uuid4().hex}"
    connection = Connection(redis_url)
    queue = Queue(name, Exchange(name), routing_key=name)
    with connection.Producer() as producer:
        for n in range(2):
            producer.publish({"n": n}, exchange=queue.exchange, routing_key=name, declare=[queue])
    channel = connection.channel()
    messages = [channel.basic_get(name, no_ack=False) for _ in range(2)]
    assert all(messages)
    yield connection, [channel, *messages]
    connection.release()


def test_closing_a_channel_whose_transport_was_detached_drops_the_restore(
    held: tuple[Connection, list[object]],
) -> None:
    connection, (channel, *_) = held
    connection.transport.client = None  # what Connection.collect() leaves behind when it fails midway
    channel.close()  # type: ignore[attr-defined]  # restores unacked messages: raised AttributeError


def test_acknowledging_on_a_closed_channel_is_dropped(held: tuple[Connection, list[object]]) -> None:
    connection, (channel, first, second) = held
    connection.transport.client = None
    channel.close()  # type: ignore[attr-defined]  # the connection was lost and replaced
    first.ack()  # type: ignore[attr-defined]  # raised AttributeError: 'NoneType' ... 'client'
    second.reject(requeue=True)  # type: ignore[attr-defined]


class _Stop(Exception):
    pass


def test_a_lost_broker_is_retried_at_most_five_seconds_apart() -> None:
    """kombu's own backoff grows to 30 s between attempts; the worker's is capped, so it reconnects
    within 5 s of the broker's return whatever the outage's length."""
    redis_broker.install()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        closed = sock.getsockname()[1]
    intervals: list[float] = []

    def errback(exc: Exception, interval: float) -> None:
        intervals.append(interval)
        raise _Stop  # before kombu sleeps

    connection = Connection(f"redis://127.0.0.1:{closed}/0")
    with pytest.raises(_Stop):
        connection.ensure_connection(errback, None, 12, 2, 30)
    assert intervals == [redis_broker.RECONNECT_MAX_SECONDS]
