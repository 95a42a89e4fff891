"""The soak's night: its streams on the simulator, its schedules written in plain SQL, the acts those
schedules call for (computed here from the cron rules, not read from onair), and the encoders.

Broadcast streams start disabled; each has a `broadcast_series` row (`o-59/p * * * *` in UTC: every
`p` minutes from minute `o`), so its first slot's enable must change it and later enables find it
enabled. Off-hours streams start enabled; each has an `off_hours` row whose windows disable and then
enable it. An encoder connects `connect_after` seconds into a share of the slots and disconnects
`disconnect_before` seconds before the slot ends (its reconnect window, 60 s, keeps the stream active
until the finish).
"""

from __future__ import annotations

import heapq
import random
import threading
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks.common import SECRET, TOKEN_ID, Simulator
from tests.reliability.fleet import sql_time
from worker.fastpix.client import FastPixClient
from worker.simulator.control import ControlError, SimulatorControl


@dataclass(frozen=True)
class NightShape:
    streams: int = 100
    periods: tuple[int, ...] = (4, 5)  # minutes between slot starts, streams take them in turn
    slot_seconds: int = 120
    lead_seconds: int = 20
    offhours_streams: int = 10
    offhours_period: int = 3  # minutes between window starts
    offhours_seconds: int = 90
    encoder_share: float = 0.8
    connect_after: float = 3.0
    disconnect_before: float = 3.0
    # Spread each period's streams over its minutes (stream i starts at minute i mod period) instead of
    # all at minute 0: a slot starts every minute, so a short run sees every kind of act.
    stagger: bool = False


@dataclass(frozen=True)
class Act:
    """One act the schedules call for: `kind` on `stream` at `due`, pointless from `until` on."""

    stream: str
    kind: str  # enable | disable | finish
    due: datetime
    until: datetime
    source: str  # broadcast | off_hours
    slot: datetime | None = None  # the broadcast slot's start (its encoder), None for off-hours


def minute_from(moment: datetime) -> datetime:
    """The first whole minute at or after `moment`."""
    minute = moment.replace(second=0, microsecond=0)
    return minute if minute >= moment else minute + timedelta(minutes=1)


@dataclass(frozen=True)
class Rule:
    stream: str
    source: str
    period: int  # minutes
    offset: int  # first minute of the hour
    seconds: int  # slot or window length

    @property
    def cron(self) -> str:
        return f"{self.offset}-59/{self.period} * * * *"

    def firings(self, start: datetime, end: datetime) -> Iterator[datetime]:
        """Cron's firings in [start, end): each minute m >= offset with (m - offset) % period == 0."""
        at = minute_from(start)
        while at < end:
            if at.minute >= self.offset and (at.minute - self.offset) % self.period == 0:
                yield at
            at += timedelta(minutes=1)


@dataclass
class Night:
    shape: NightShape
    broadcast_rules: list[Rule]
    offhours_rules: list[Rule]
    starts_from: datetime  # no slot starts before it (broadcast_series.starts_from)
    initially_disabled: set[str]

    @property
    def streams(self) -> list[str]:
        return [r.stream for r in self.broadcast_rules + self.offhours_rules]

    def acts(self, start: datetime, end: datetime) -> list[Act]:
        """Every act due in [start, end), with the windows around them that decide their deadlines."""
        lead = timedelta(seconds=self.shape.lead_seconds)
        found: list[Act] = []
        for rule in self.broadcast_rules:
            slot = timedelta(seconds=rule.seconds)
            period = timedelta(minutes=rule.period)
            first = max(self.starts_from, start - slot)
            for begin in rule.firings(first, end + lead):
                finish_until = begin + period - lead  # the next slot's enable
                found.append(Act(rule.stream, "enable", begin - lead, begin + slot, "broadcast", begin))
                found.append(Act(rule.stream, "finish", begin + slot, finish_until, "broadcast", begin))
        for rule in self.offhours_rules:
            window = timedelta(seconds=rule.seconds)
            period = timedelta(minutes=rule.period)
            for begin in rule.firings(start - window, end):
                found.append(Act(rule.stream, "disable", begin, begin + window, "off_hours"))
                found.append(Act(rule.stream, "enable", begin + window, begin + period, "off_hours"))
        return sorted((a for a in found if start <= a.due < end), key=lambda a: (a.due, a.stream))

    def slots(self, start: datetime, end: datetime) -> list[tuple[str, datetime, datetime]]:
        """(stream, slot start, slot end) of the broadcast slots starting in [start, end)."""
        found = []
        for rule in self.broadcast_rules:
            for begin in rule.firings(max(start, self.starts_from), end):
                found.append((rule.stream, begin, begin + timedelta(seconds=rule.seconds)))
        return sorted(found, key=lambda s: (s[1], s[0]))


def make_streams(sim: Simulator, count: int, disabled: bool, threads: int = 8) -> list[str]:
    def make(share: int) -> list[str]:
        made = []
        with FastPixClient(sim.base_url, TOKEN_ID, SECRET) as api:
            for _ in range(share):
                stream_id = api.create_stream().stream_id
                if disabled:
                    api.disable_stream(stream_id)
                made.append(stream_id)
        return made

    shares = [count // threads + (1 if i < count % threads else 0) for i in range(threads)]
    with ThreadPoolExecutor(threads) as pool:
        return [s for batch in pool.map(make, shares) for s in batch]


def build_night(sim: Simulator, shape: NightShape, starts_from: datetime) -> Night:
    broadcast_streams = make_streams(sim, shape.streams, disabled=True)
    offhours_streams = make_streams(sim, shape.offhours_streams, disabled=False)
    broadcast_rules = []
    for index, stream in enumerate(broadcast_streams):
        period = shape.periods[index % len(shape.periods)]
        offset = (index // len(shape.periods)) % period if shape.stagger else 0
        broadcast_rules.append(Rule(stream, "broadcast", period, offset, shape.slot_seconds))
    # The first off-hours window begins on the first whole minute after `starts_from`, like the slots
    # (with a window already running when the night is written, onair's catch-up disable races its
    # own start-up against the window's end: that measures the start-up, not the night).
    first = minute_from(starts_from)
    offhours_rules = [
        Rule(
            stream,
            "off_hours",
            shape.offhours_period,
            (first.minute + (index if shape.stagger else 0)) % shape.offhours_period,
            shape.offhours_seconds,
        )
        for index, stream in enumerate(offhours_streams)
    ]
    return Night(shape, broadcast_rules, offhours_rules, starts_from, set(broadcast_streams))


def write_schedules(engine: sa.Engine, night: Night) -> None:
    """The streams, one series per broadcast stream and one off-hours rule per off-hours stream, in plain
    SQL as an operator would write them."""
    now = datetime.now(UTC)
    streams = [
        {"s": s, "st": "disabled" if s in night.initially_disabled else "idle", "t": sql_time(engine, now)}
        for s in sorted(night.streams)
    ]
    series = [
        {
            "s": r.stream,
            "c": r.cron,
            "d": r.seconds,
            "l": night.shape.lead_seconds,
            "f": sql_time(engine, night.starts_from),
        }
        for r in night.broadcast_rules
    ]
    offhours = [{"s": r.stream, "c": r.cron, "d": r.seconds} for r in night.offhours_rules]
    if not streams:
        return  # an idle scheduler (--streams 0 --offhours-streams 0)
    with engine.begin() as conn:
        conn.execute(
            sa.text(
                "INSERT INTO streams (stream_id, status, last_seen_at) VALUES (:s, :st, :t) "
                "ON CONFLICT (stream_id) DO NOTHING"
            ),
            streams,
        )
        if series:
            conn.execute(
                sa.text(
                    "INSERT INTO broadcast_series (stream_id, cron, timezone, duration_seconds, "
                    "lead_seconds, title, starts_from) VALUES (:s, :c, 'UTC', :d, :l, 'soak', :f)"
                ),
                series,
            )
        if offhours:
            conn.execute(
                sa.text(
                    "INSERT INTO off_hours (stream_id, cron, duration_seconds, timezone, label) "
                    "VALUES (:s, :c, :d, 'UTC', 'soak')"
                ),
                offhours,
            )


@dataclass(frozen=True)
class EncoderEvent:
    stream: str
    slot: datetime
    op: str  # connect | disconnect
    at: datetime
    ok: bool
    error: str = ""


@dataclass
class Encoders:
    """Connects an encoder to a share of the slots and disconnects it before each ends, on a thread of
    its own (the calls on a small pool, so a hundred slots starting together connect together)."""

    sim: Simulator
    night: Night
    seed: int = 1
    events: list[EncoderEvent] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def start(self, start: datetime, end: datetime) -> None:
        rng = random.Random(self.seed)
        shape = self.night.shape
        plan: list[tuple[datetime, str, str, datetime]] = []
        for stream, begin, finish in self.night.slots(start, end):
            if rng.random() < shape.encoder_share:
                plan.append((begin + timedelta(seconds=shape.connect_after), "connect", stream, begin))
                plan.append(
                    (finish - timedelta(seconds=shape.disconnect_before), "disconnect", stream, begin)
                )
        heapq.heapify(plan)
        self._thread = threading.Thread(target=self._run, args=(plan,), name="soak-encoders", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=30)

    def planned_connects(self) -> int:
        with self._lock:
            return sum(1 for e in self.events if e.op == "connect")

    def _run(self, plan: list[tuple[datetime, str, str, datetime]]) -> None:
        with (
            SimulatorControl(f"{self.sim.root}/_sim", timeout=30) as control,
            ThreadPoolExecutor(8) as pool,
        ):
            while plan and not self._stop.is_set():
                when, op, stream, slot = plan[0]
                wait = (when - datetime.now(UTC)).total_seconds()
                if wait > 0:
                    self._stop.wait(min(wait, 1.0))
                    continue
                heapq.heappop(plan)
                pool.submit(self._call, control, op, stream, slot)

    def _call(self, control: SimulatorControl, op: str, stream: str, slot: datetime) -> None:
        at = datetime.now(UTC)
        try:
            control.connect(stream) if op == "connect" else control.disconnect(stream)
            event = EncoderEvent(stream, slot, op, at, True)
        except ControlError as exc:
            event = EncoderEvent(stream, slot, op, at, False, str(exc)[-120:])
        except Exception as exc:  # a transport error is counted, never fatal to the run
            event = EncoderEvent(stream, slot, op, at, False, f"{type(exc).__name__}: {exc}"[:120])
        with self._lock:
            self.events.append(event)

    def connected(self) -> dict[tuple[str, datetime], bool]:
        """(stream, slot start) -> whether its encoder's connect was accepted."""
        with self._lock:
            return {(e.stream, e.slot): e.ok for e in self.events if e.op == "connect"}

    def summary(self) -> dict[str, object]:
        with self._lock:
            connects = [e for e in self.events if e.op == "connect"]
        refused = [e for e in connects if not e.ok]
        return {
            "connects": len(connects),
            "refused": len(refused),
            "refused_examples": sorted({e.error for e in refused})[:3],
        }


def spread(values: Sequence[int]) -> str:
    return ",".join(str(v) for v in values)


def wait_until(when: datetime, stop: threading.Event | None = None) -> None:
    while (left := (when - datetime.now(UTC)).total_seconds()) > 0:
        if stop is not None and stop.wait(min(left, 1.0)):
            return
        if stop is None:
            time.sleep(min(left, 1.0))
