"""Alerts: a failed or missed action is logged and, when ONAIR_ALERT_WEBHOOK_URL is set, posted as JSON
with a Slack-compatible `text` field."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

import httpx

from worker.domain.types import ActionKind, ActionState

if TYPE_CHECKING:
    from worker.service.runtime import Runtime

log = logging.getLogger("onair.alerts")


def alert_action(
    rt: Runtime, action_id: int, stream_id: str, kind: ActionKind, state: ActionState, reason: str
) -> None:
    text = f"onair: {kind.value} of stream {stream_id} {state.value} (action #{action_id}): {reason}"
    log.error(text, extra={"action_id": action_id, "stream_id": stream_id})
    url = rt.settings.alert_webhook_url
    if not url:
        return
    body = {
        "text": text,
        "action_id": action_id,
        "stream_id": stream_id,
        "kind": kind.value,
        "state": state.value,
        "reason": reason,
    }
    for _ in range(3):
        try:
            httpx.post(url, json=body, timeout=5.0).raise_for_status()
            return
        except httpx.HTTPError as exc:
            log.warning("alert webhook failed: %s", type(exc).__name__)
