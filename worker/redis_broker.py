"""A fix for kombu 5.7's Redis transport: the worker must outlive a Redis restart.

When the consumer loses its Redis connection it first collects the connection, which detaches the
transport from it (`transport.client = None`), and then closes it; closing the channel restores the
messages it held unacknowledged, and building a Redis client for that reads `transport.client.hostname`:
an AttributeError, which Celery treats as unrecoverable, and the worker process exits (rc 1) with the
dispatcher it hosts. Measured with the Procfile's processes: a Redis restart, or Redis down for 3 s,
stopped every worker.

With the transport detached there is no connection to restore the messages through; the server they
were held on has restarted (they are gone) or dropped the connection (kombu puts them back after the
visibility timeout). Either way the ledger's leases recover their actions, and a late copy is fenced
by its lease token. So the restore is skipped, and the consumer reconnects as it does for any other
connection loss.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any, cast

from kombu.transport import redis as kombu_redis

log = logging.getLogger("onair.broker")

_restore_unacked = cast(Callable[..., None], kombu_redis.QoS.restore_unacked)


def _restore_unacked_if_connected(self: Any, client: Any = None) -> None:
    transport = self.channel.connection
    if client is None and (transport is None or transport.client is None):
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


def install() -> None:
    """Patch kombu's Redis QoS once (idempotent)."""
    if kombu_redis.QoS.restore_unacked is not _restore_unacked_if_connected:
        kombu_redis.QoS.restore_unacked = _restore_unacked_if_connected  # type: ignore[method-assign]
