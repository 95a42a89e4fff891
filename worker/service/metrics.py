"""Prometheus metrics of one worker process, served on ONAIR_METRICS_PORT (0 = off).

Counters and histograms are updated as work happens; the backlog and the age of the last dispatcher
tick are read from the database at scrape time, so every worker reports the same shared truth.
Names and labels are listed in docs/operations.md.
"""

from __future__ import annotations

import logging
import math
import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

from prometheus_client import CollectorRegistry, Counter, Histogram, ProcessCollector, start_http_server
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.registry import Collector
from sqlalchemy import Engine

from worker.clock import Clock
from worker.domain.types import ActionState
from worker.fastpix.client import CallRecord
from worker.service import viewers
from worker.service.context import current_action
from worker.store import backlog

log = logging.getLogger("onair.metrics")

REGISTRY = CollectorRegistry(auto_describe=True)
ProcessCollector(registry=REGISTRY)

ACTIONS = Counter(
    "onair_actions", "Actions finished, by kind and final state.", ["kind", "outcome"], registry=REGISTRY
)
RETRIES = Counter(
    "onair_action_retries", "Attempts that ended in a retry later.", ["kind"], registry=REGISTRY
)
LATENESS = Histogram(
    "onair_action_lateness_seconds",
    "Start of an action's act call (PUT/PATCH) minus its due time, first attempt only.",
    ["kind"],
    buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60),
    registry=REGISTRY,
)
API_LATENCY = Histogram(
    "onair_fastpix_request_duration_seconds",
    "FastPix API calls by endpoint, method and status (`error`: no answer).",
    ["endpoint", "method", "status"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30),
    registry=REGISTRY,
)

_STREAM_ID = re.compile(r"/[0-9a-fA-F]{32}(?=/|$)")


def endpoint_label(path: str) -> str:
    """`/live/streams/<id>/enable` -> `/live/streams/{streamId}/enable`: one series per endpoint."""
    return _STREAM_ID.sub("/{streamId}", path.split("?", 1)[0])


def observe_call(call: CallRecord, now: datetime | None = None) -> None:
    """The FastPix client's on_call hook (through worker.service.calls)."""
    seconds = call.latency_ms / 1000.0
    status = "error" if call.status_code is None else str(call.status_code)
    API_LATENCY.labels(endpoint_label(call.path), call.method, status).observe(seconds)
    scope = current_action()
    # Lateness is that of the effect: the act (PUT/PATCH), not the state check read just before it.
    if scope is not None and scope.attempt == 1 and call.method != "GET" and not scope.act_seen:
        scope.act_seen = True
        started = (now or datetime.now(UTC)) - timedelta(seconds=seconds)
        LATENESS.labels(scope.kind).observe(max(0.0, (started - scope.due_at).total_seconds()))


def action_outcome(kind: str, state: ActionState | None, detail: str = "") -> None:
    """Count one execution's result. The executor reports a retry as no state and `retry at ...`."""
    if state is not None:
        ACTIONS.labels(kind, state.value).inc()
    elif detail.startswith("retry at"):
        RETRIES.labels(kind).inc()


class LedgerCollector(Collector):
    """Gauges read from the database at scrape time."""

    def __init__(self, engine: Engine, clock: Clock) -> None:
        self.engine = engine
        self.clock = clock

    def collect(self) -> Iterator[Metric]:
        now = self.clock.now()
        try:
            work = backlog.read_backlog(self.engine, now)
            age = backlog.tick_age(self.engine, now)
        except Exception as exc:  # a scrape must answer even when the database is down
            log.warning("metrics: could not read the ledger: %s", type(exc).__name__)
            yield GaugeMetricFamily("onair_database_up", "1 if the ledger could be read.", value=0)
            return
        yield GaugeMetricFamily("onair_database_up", "1 if the ledger could be read.", value=1)
        yield GaugeMetricFamily("onair_due_actions", "Pending actions due now, unclaimed.", value=work.due)
        yield GaugeMetricFamily(
            "onair_retrying_actions", "Pending actions after a failed attempt.", value=work.retrying
        )
        yield GaugeMetricFamily("onair_claimed_actions", "Actions held by a lease.", value=work.claimed)
        yield GaugeMetricFamily(
            "onair_oldest_due_seconds",
            "Age of the oldest due, unclaimed action.",
            value=work.oldest_due_age(now),
        )
        yield GaugeMetricFamily(
            "onair_last_tick_age_seconds",
            "Seconds since the dispatcher last ticked (+Inf: never).",
            value=math.inf if age is None else age,
        )
        yield from self._viewers(now)

    def _viewers(self, now: datetime) -> Iterator[Metric]:
        try:
            streams = viewers.stream_viewers(self.engine, now)
        except Exception as exc:  # the ledger's gauges above still answer
            log.warning("metrics: could not read the viewer counts: %s", type(exc).__name__)
            return
        gauge = GaugeMetricFamily(
            "onair_stream_viewers",
            "Viewers of each stream in a broadcast's slot now: its last sample (0 while not active).",
            labels=["stream", "name"],
        )
        for stream in streams:
            gauge.add_metric([stream.stream_id, stream.name or ""], stream.viewers)
        yield gauge


_lock = threading.Lock()
_server_port: int | None = None


def start_server(port: int, engine: Engine, clock: Clock) -> int | None:
    """Serve /metrics on `port` (0: off) in a daemon thread, once per process. Returns the port."""
    global _server_port
    if port <= 0:
        return None
    with _lock:
        if _server_port is None:
            REGISTRY.register(LedgerCollector(engine, clock))
            start_http_server(port, registry=REGISTRY)
            _server_port = port
            log.info("metrics on http://0.0.0.0:%d/metrics", port)
        return _server_port
