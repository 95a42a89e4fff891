"""The ledger as `onair plan` and `onair history` show it: the agenda of a range with what is flagged
invalid and what failed lately, and the history of finished and retrying actions with their events."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine

from worker.domain.types import ActionState
from worker.service.agenda import Agenda, build_agenda
from worker.service.errors import InvalidInput
from worker.store import alert_outbox, observations, schedules, views, webhooks
from worker.store.db import transaction
from worker.store.models import Action, ActionEvent, WebhookEvent
from worker.store.observations import InvalidRow

RECENT_FAILURES_SHOWN = 50
WEBHOOKS_SHOWN = 50


@dataclass(frozen=True)
class PlanView:
    agenda: Agenda
    stream_names: dict[str, str]
    invalid: list[InvalidRow]  # schedule rows the planner cannot use, with why
    last_planned_at: str | None  # None: the planner never ran on this database
    failures: list[Action]  # failed or missed within `recent`, newest first
    causes: dict[int, str]  # the stored cause (JSON) of each failure that gave up


@dataclass(frozen=True)
class HistoryView:
    actions: list[Action]
    stream_names: dict[str, str]
    causes: dict[int, str]
    events: dict[int, list[ActionEvent]] | None  # each action's events, oldest first, when asked
    webhooks: list[WebhookEvent]  # what FastPix said about the one stream asked for, newest first


def plan_view(
    engine: Engine, *, now: datetime, until: datetime, stream: str | None, recent: timedelta
) -> PlanView:
    with transaction(engine, immediate=False) as session:
        agenda = build_agenda(session, now, until, stream)
        states = (ActionState.FAILED.value, ActionState.MISSED.value)
        failures = observations.history(
            session, now - recent, None, states, stream, limit=RECENT_FAILURES_SHOWN
        )
        return PlanView(
            agenda=agenda,
            stream_names=observations.stream_names(session),
            invalid=observations.invalid_rows(session, stream),
            last_planned_at=schedules.get_state(session, "last_plan_at"),
            failures=failures,
            causes=observations.failure_causes(session, [r.id for r in failures]),
        )


def history_view(
    engine: Engine,
    *,
    action_id: int | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    states: Collection[str] = (),
    stream: str | None = None,
    hide_replan: bool = False,
    limit: int | None = None,
    with_events: bool = False,
    with_webhooks: bool = False,
) -> HistoryView:
    """One action (InvalidInput naming `action` when there is none), or the history filtered."""
    with transaction(engine, immediate=False) as session:
        if action_id is not None:
            found = views.find(session, Action, action_id)
            if found is None:
                raise InvalidInput(
                    f"no action with id {action_id} (see `onair history` or `onair plan`)", field="action"
                )
            rows = [found]
        else:
            rows = observations.history(
                session, since, until, states, stream, hide_replan=hide_replan, limit=limit
            )
        ids = [r.id for r in rows]
        events: dict[int, list[ActionEvent]] | None = None
        if with_events:
            events = {i: [] for i in ids}
            for event in views.events_of(session, ids):
                assert event.action_id is not None
                events[event.action_id].append(event)
        heard = (
            webhooks.events_of(session, stream, since, until, limit or WEBHOOKS_SHOWN)
            if with_webhooks and stream is not None
            else []
        )
        return HistoryView(
            rows, observations.stream_names(session), observations.failure_causes(session, ids), events, heard
        )


def ledger(engine: Engine) -> list[Action]:
    """Every action in the ledger, in due order (for the demo's small database)."""
    with transaction(engine, immediate=False) as session:
        return views.all_actions(session)


def stream_events(engine: Engine, stream_id: str, limit: int) -> list[WebhookEvent]:
    """What FastPix said about one stream (webhooks and polls), newest first."""
    with transaction(engine, immediate=False) as session:
        return webhooks.events_of(session, stream_id, None, None, limit)


def alerts_recorded(engine: Engine) -> list[alert_outbox.Record]:
    """Every alert recorded (sent, pending or logged)."""
    return alert_outbox.recorded(engine)
