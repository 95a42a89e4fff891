"""Broadcast health: is the show on air? Run by the workers' watchdogs, one a round (worker.service.watchdog).

For each broadcast in its slot (or ended in the last RECENT) whose enable succeeded, from the
stream's reported statuses (FastPix webhooks; worker.domain.signal): **no signal**
ONAIR_NO_SIGNAL_GRACE after the start while the stream has not been active, **signal lost** when it
leaves `active` during the slot, **signal recovered** when it is active again. Each is one alert,
whichever worker notices it first: the key names the broadcast and the instant, and the outbox keeps
one.

Where no webhook has come for a stream since its slot began (webhooks not set up, or lost), the
stream is read with GET once the grace has passed, and again every POLL_EVERY while the slot runs;
each answer is kept as a report (type `onair.poll`) beside the webhooks.
"""

from __future__ import annotations

import logging
from datetime import datetime, timedelta, tzinfo

from worker.domain.signal import Change, SignalEvent, signal_health
from worker.domain.types import ActionKind, ActionState
from worker.fastpix.errors import FastPixError
from worker.service import alerts
from worker.service.outcomes import signals_of
from worker.service.runtime import Runtime
from worker.store import alert_outbox, observations, webhooks
from worker.store.db import transaction
from worker.store.models import Action, Broadcast

log = logging.getLogger("onair.signal")

RECENT = timedelta(minutes=10)
POLL_EVERY = timedelta(seconds=60)


def check(rt: Runtime, now: datetime) -> list[alerts.Alert]:
    """One round: poll where needed, then raise the alerts due; returns those this process raised."""
    grace = timedelta(seconds=rt.settings.no_signal_grace)
    rows = _watched(rt, now)
    if not rows:
        return []
    _poll(rt, [r for r in rows if r.starts_at + grace <= now < r.ends_at], now)
    # The polls are dated when they answered: judged from before them, a poll's status would count from
    # this round's start, and the next round (dating it by itself) would raise its alert again.
    now = rt.clock.now()
    with transaction(rt.engine, immediate=False) as session:
        signals = signals_of(session, rows)
        names = observations.stream_names(session)
    zone = _display_zone(rt)
    due = [
        _alert(row, names.get(row.stream_id) or row.stream_id, event, now, zone)
        for row in rows
        for event in signal_health(signals[row.id] or [], row.starts_at, row.ends_at, grace, now).events
    ]
    # A slot's alerts stay due every round until it ends: those raised in an earlier round are skipped
    # with one read (each round tried an insert per alert, and logged each as raised elsewhere).
    recorded = alert_outbox.already_recorded(rt.engine, [alert.key for alert in due])
    return [
        alert
        for alert in due
        if alert.key not in recorded
        and alerts.raise_alert(rt.engine, rt.settings.alert_webhook_url, alert, now=now)
    ]


def _watched(rt: Runtime, now: datetime) -> list[Broadcast]:
    """Started broadcasts whose enable succeeded: the others are not meant to be on air (a failed or
    missed enable has its own alert)."""
    with transaction(rt.engine, immediate=False) as session:
        rows = observations.broadcasts_between(session, now - RECENT, now)
        rows = [r for r in rows if r.cancelled_at is None and r.invalid_reason is None and r.starts_at <= now]
        actions = observations.actions_of_broadcasts(session, [r.id for r in rows])
    return [r for r in rows if any(_enabled(a) for a in actions[r.id])]


def _enabled(action: Action) -> bool:
    return action.kind == ActionKind.ENABLE.value and action.state == ActionState.SUCCEEDED.value


def _poll(rt: Runtime, rows: list[Broadcast], now: datetime) -> None:
    """GET each stream in its slot that has had no webhook since its slot began and no report for
    POLL_EVERY (a FastPix call: outside any transaction)."""
    if not rows:
        return
    with transaction(rt.engine, immediate=False) as session:
        heard = webhooks.webhook_streams_since(
            session, {r.stream_id for r in rows}, min(r.slot_starts_at for r in rows)
        )
        fresh = webhooks.reported_since(session, {r.stream_id for r in rows}, now - POLL_EVERY)
    for stream_id in sorted({r.stream_id for r in rows} - heard - fresh):
        try:
            status = rt.client.get_stream(stream_id).status
        except FastPixError as exc:
            log.warning("signal poll of stream %s failed: %s", stream_id, exc)
            continue
        with transaction(rt.engine) as session:
            webhooks.record_poll(session, stream_id, status, rt.clock.now())


def _alert(
    row: Broadcast, stream: str, event: SignalEvent, now: datetime, zone: tzinfo | None
) -> alerts.Alert:
    title = f"'{row.title}'" if row.title else f"broadcast #{row.id}"
    started = row.starts_at.astimezone(zone).strftime("%H:%M")
    at = event.at.astimezone(zone).strftime("%H:%M:%S")
    if event.change is Change.NO_SIGNAL:
        text = f"onair: no signal on {stream} for {title}, started {started}, {_ago(now - row.starts_at)} ago"
    elif event.change is Change.LOST:
        text = f"onair: signal lost on {stream} during {title} (started {started}) at {at}"
    else:
        text = f"onair: signal back on {stream} for {title} (started {started}) at {at}"
    return alerts.Alert(
        key=f"{event.change.value}:{row.id}:{event.at.isoformat()}",
        event=event.change.value,
        text=text,
        fields={
            "broadcast_id": row.id,
            "stream_id": row.stream_id,
            "title": row.title,
            "starts_at": row.starts_at.isoformat(),
            "ends_at": row.ends_at.isoformat(),
            "signal_at": event.at.isoformat(),
        },
    )


def _ago(span: timedelta) -> str:
    seconds = span.total_seconds()
    return f"{seconds:.0f} s" if seconds < 60 else f"{seconds / 60:.0f} min"


def _display_zone(rt: Runtime) -> tzinfo | None:
    """The operator's zone: the daily report's (ONAIR_REPORT_AT) when set, else None: the machine's
    (astimezone(None) follows TZ and the system's rules, DST included)."""
    schedule = rt.settings.report_schedule()
    return schedule[1] if schedule is not None else None
