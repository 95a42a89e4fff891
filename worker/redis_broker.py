"""A fix for kombu 5.7's Redis transport: the worker must outlive a Redis restart.

When the consumer loses its Redis connection it collects the connection, which detaches the
transport from it (`transport.client = None`, later `channel.connection = None`), and reconnects on a
new channel. Two things still reach for Redis through the old, detached channel, and each raises an
AttributeError that Celery treats as unrecoverable, so the worker process exits (rc 1) and the
dispatcher it hosts with it (measured with the Procfile's processes: a Redis restart, or Redis down
for 3 s, stopped every worker):

* closing the old channel restores the messages it held unacknowledged (`'NoneType' object has no
  attribute 'hostname'`);
* an ETA task received before the outage comes due afterwards and is acknowledged on the channel it
  came from (`'NoneType' object has no attribute 'client'`).

A detached channel has no connection to do either through. The messages it held are gone with a
restarted server, or wait in Redis's unacked index, which kombu puts back after the visibility
timeout. onair does not need them: each is only the wake-up for rows whose leases bring them back,
and a late copy finds its lease token gone. So on a detached channel the restore, ack and reject are
dropped (logged), and the consumer reconnects as for any other connection loss, at most
RECONNECT_MAX_SECONDS apart.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from kombu.connection import Connection
from kombu.transport import redis as kombu_redis
from kombu.transport import virtual

log = logging.getLogger("onair.broker")

_restore_unacked = cast(Callable[..., None], kombu_redis.QoS.restore_unacked)
_ack = cast(Callable[..., None], kombu_redis.QoS.ack)
_reject = cast(Callable[..., None], kombu_redis.QoS.reject)
_forget = cast(Callable[..., None], virtual.QoS.ack)  # drops the tag from this process's books only


def _detached(qos: Any) -> bool:
    transport = qos.channel.connection
    return transport is None or transport.client is None


def _restore_unacked_if_attached(self: Any, client: Any = None) -> None:
    if client is None and _detached(self):
        held = len(self._delivered)
        self._delivered.clear()
        if held:
            log.warning(
                "broker connection gone: %d unacknowledged message(s) not restored; the ledger's leases "
                "recover their actions",
                held,
            )
        return
    _restore_unacked(self, client)


def _ack_if_attached(self: Any, delivery_tag: Any) -> None:
    if _detached(self):
        log.info("message %s came from a broker connection that is gone: not acknowledged", delivery_tag)
        _forget(self, delivery_tag)
        return
    _ack(self, delivery_tag)


def _reject_if_attached(self: Any, delivery_tag: Any, requeue: bool = False) -> None:
    if _detached(self):
        _forget(self, delivery_tag)
        return
    _reject(self, delivery_tag, requeue=requeue)


# kombu retries a lost connection 2, 4, 6 ... up to 30 s apart, and Celery offers no setting for it: after
# a 30 s Redis outage the worker reconnected up to 12 s after Redis was back (and up to 30 s after a
# longer one), while due actions waited. Every 5 s at most instead: one connection attempt (and one log
# line) per 5 s while the broker is down.
RECONNECT_MAX_SECONDS = 5.0
_ensure_connection = cast(Callable[..., Any], Connection._ensure_connection)


def _ensure_connection_capped(
    self: Any,
    errback: Any = None,
    max_retries: Any = None,
    interval_start: float = 2,
    interval_step: float = 2,
    interval_max: float = 30,
    **kwargs: Any,
) -> Any:
    cap = RECONNECT_MAX_SECONDS
    return _ensure_connection(
        self, errback, max_retries, min(interval_start, cap), interval_step, min(interval_max, cap), **kwargs
    )


def install() -> None:
    """Patch kombu's Redis QoS, and its reconnect interval (idempotent)."""
    qos: Any = kombu_redis.QoS
    qos.restore_unacked = _restore_unacked_if_attached
    qos.ack = _ack_if_attached
    qos.reject = _reject_if_attached
    connection: Any = Connection
    connection._ensure_connection = _ensure_connection_capped
