"""Whether a broadcast was on air, from the stream's reported statuses. Pure: takes `now`.

A report is (instant, status): a FastPix webhook's `data.status` at its `created_at`, or a GET's
answer where no webhook came. `active` means live; anything else (idle, preparing, disabled) is no
picture. Within the slot [starts_at, ends_at):

    no signal   `grace` after the start the stream has not been active since the start
    lost        the stream left `active` (once per departure)
    recovered   active again after a loss, or at last after a no signal

A webhook reported before the slot counts from the slot's start. A departure in the slot's last
FINISH_TOLERANCE is onair's own finish (or the encoder stopping on time), not a lost signal.

A poll (onair's own GET where no webhook came) tells the status at its instant only: nothing of the
time before it. Polls start once the grace has passed, so a first poll that finds the stream active is
a slot that had its signal as far as anyone can tell, not a no signal recovered at once; and a poll
from before the slot (the previous slot's, before onair finished it) says nothing of this one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from enum import StrEnum

ACTIVE = "active"
FINISH_TOLERANCE = timedelta(seconds=5)


@dataclass(frozen=True)
class Report:
    at: datetime
    status: str
    polled: bool = False


class Change(StrEnum):
    NO_SIGNAL = "no_signal"
    LOST = "signal_lost"
    RECOVERED = "signal_recovered"


@dataclass(frozen=True)
class SignalEvent:
    change: Change
    at: datetime


@dataclass(frozen=True)
class SignalHealth:
    events: list[SignalEvent] = field(default_factory=list)
    live_seconds: float = 0.0
    active_now: bool = False
    ever_active: bool = False

    @property
    def interrupted(self) -> bool:
        return any(e.change is Change.LOST for e in self.events)

    @property
    def no_signal(self) -> bool:
        return any(e.change is Change.NO_SIGNAL for e in self.events)


def carried_in(reports: Sequence[Report], starts_at: datetime) -> list[Report]:
    """The report a slot begins with: the last webhook before it, if any (a poll says nothing of it)."""
    before = sorted((r for r in reports if r.at < starts_at and not r.polled), key=lambda r: r.at)
    return before[-1:]


def signal_health(
    reports: Sequence[Report], starts_at: datetime, ends_at: datetime, grace: timedelta, now: datetime
) -> SignalHealth:
    """The slot's signal up to `now` (or its end), from the reports in time order."""
    until = min(now, ends_at)
    inside = sorted((r for r in reports if r.at >= starts_at), key=lambda r: r.at)
    ordered = carried_in(reports, starts_at) + inside
    active = False
    since = starts_at
    live = 0.0
    ever = False
    events: list[SignalEvent] = []
    grace_at = starts_at + grace

    def reach(instant: datetime) -> None:
        """Account for the time up to `instant` at the current status, noting a no signal on the way."""
        nonlocal since, live
        if not ever and not active and since <= grace_at < instant:
            events.append(SignalEvent(Change.NO_SIGNAL, grace_at))
        if active:
            live += (instant - since).total_seconds()
        since = instant

    for report in ordered:
        if report.at > ends_at:
            break
        # A report dated a little after `now` (another clock, or rounding in storage) counts from now.
        at = min(max(report.at, starts_at), until)
        now_active = report.status == ACTIVE
        if report.polled and now_active and not events and since <= grace_at < at:
            ever = True  # the first look after the grace found it live: unknown before, so no alert
        reach(at)
        if now_active and not active and (events and events[-1].change is not Change.RECOVERED):
            events.append(SignalEvent(Change.RECOVERED, at))
        elif active and not now_active and at < ends_at - FINISH_TOLERANCE:
            events.append(SignalEvent(Change.LOST, at))
        active = now_active
        ever = ever or active
    if until > since:
        reach(until)
    return SignalHealth(events, live, active and now < ends_at, ever)
