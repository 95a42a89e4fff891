"""Integration fixtures: a real FastPix simulator process over real HTTP, and a real webhook endpoint
with a quick alert sender for the alert tests."""

from collections.abc import Iterator

import pytest

from tests.integration.simulator_fixture import Simulator, simulator
from tests.integration.webhook_receiver import Receiver, webhook_receiver
from worker.service import alerts

__all__ = ["Simulator", "simulator"]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    with webhook_receiver() as r:
        yield r


@pytest.fixture
def sender(monkeypatch: pytest.MonkeyPatch) -> alerts.AlertSender:
    """This process's alert sender, with short back-offs."""
    fast = alerts.AlertSender(attempts=3, backoff=0.01)
    monkeypatch.setattr(alerts, "_sender", fast)
    return fast
