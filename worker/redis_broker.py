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
dropped (logged), and the consumer reconnects as for any other connection loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

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


def install() -> None:
    """Patch kombu's Redis QoS (idempotent)."""
    qos: Any = kombu_redis.QoS
    qos.restore_unacked = _restore_unacked_if_attached
    qos.ack = _ack_if_attached
    qos.reject = _reject_if_attached
