"""What the soak's night should have done, what FastPix received (the simulator's call log) and what
onair's ledger says, side by side.

Every state-changing call (PUT enable / disable / finish) is given to the act of its stream and kind
whose due time is the latest at most 1 s after the call and whose window (until it is pointless) has not
closed; a call that fits no act is "outside its schedule". An act *needs an effect* when FastPix's
stream was not already as it wants: for enable / disable, from the last call that changed the stream
before the act was due; for a finish, when the slot's encoder was accepted (the stream is live at the
end). The ledger row of an act is the `actions` row of its stream, kind and due time.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import sqlalchemy as sa

from benchmarks.common import lateness_summary
from benchmarks.soak_night import Act

ACTS = ("enable", "disable", "finish")
CHANGING = (*ACTS, "update", "delete")
EARLY_TOLERANCE = timedelta(seconds=1)


def as_utc(value: object) -> datetime:
    if isinstance(value, datetime):
        return value.astimezone(UTC) if value.tzinfo else value.replace(tzinfo=UTC)
    return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)


def second_key(stream: str, kind: str, due: datetime) -> tuple[str, str, int]:
    return stream, kind, round(due.timestamp())


@dataclass(frozen=True)
class Call:
    seq: int
    at: datetime
    stream: str
    endpoint: str
    http_status: int
    before: str | None
    after: str | None

    @property
    def effective(self) -> bool:
        return self.before != self.after

    @classmethod
    def from_log(cls, entry: Mapping[str, object]) -> Call:
        return cls(
            int(str(entry["seq"])),
            datetime.fromisoformat(str(entry["time"])).astimezone(UTC),
            str(entry["stream_id"]),
            str(entry["endpoint"]),
            int(str(entry["http_status"])),
            None if entry.get("status_before") is None else str(entry["status_before"]),
            None if entry.get("status_after") is None else str(entry["status_after"]),
        )


@dataclass(frozen=True)
class LedgerRow:
    id: int
    state: str
    outcome: str | None
    attempts: int
    called_ok: bool  # its history records a state-changing call that FastPix answered 2xx


def read_ledger(
    engine: sa.Engine, streams: Iterable[str], until: datetime
) -> dict[tuple[str, str, int], LedgerRow]:
    """The actions of the soak's streams due before `until`, keyed by (stream, kind, due second)."""
    wanted = set(streams)
    bound = until.astimezone(UTC)
    bind: object = bound.strftime("%Y-%m-%d %H:%M:%S.999") if engine.dialect.name == "sqlite" else bound
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT id, stream_id, kind, due_at, state, outcome, attempts FROM actions WHERE due_at <= :u"
            ),
            {"u": bind},
        ).all()
        called = {
            r[0]
            for r in conn.execute(
                sa.text(
                    "SELECT DISTINCT e.action_id FROM action_events e JOIN actions a ON a.id = e.action_id "
                    "WHERE a.due_at <= :u AND e.event = 'api_call' AND e.http_method <> 'GET' "
                    "AND e.http_status BETWEEN 200 AND 299"
                ),
                {"u": bind},
            )
        }
    found: dict[tuple[str, str, int], LedgerRow] = {}
    for r in rows:
        if r.stream_id in wanted:
            key = second_key(r.stream_id, r.kind, as_utc(r.due_at))
            row = LedgerRow(r.id, r.state, r.outcome, int(r.attempts or 0), r.id in called)
            # A cancelled row keeps its instant under a new key: the live row wins.
            if key not in found or found[key].state == "cancelled":
                found[key] = row
    return found


@dataclass
class Tally:
    acts: list[Act]
    counted_from: datetime
    counted_until: datetime
    observed_until: datetime
    calls: list[Call]
    ledger: Mapping[tuple[str, str, int], LedgerRow]
    encoders: Mapping[tuple[str, datetime], bool]
    initially_disabled: set[str]
    by_act: dict[Act, list[Call]] = field(default_factory=dict)
    stray: list[Call] = field(default_factory=list)
    switches: dict[str, list[Call]] = field(default_factory=dict)  # effective enables / disables

    def __post_init__(self) -> None:
        index: dict[tuple[str, str], list[Act]] = {}
        for act in sorted(self.acts, key=lambda a: a.due):
            index.setdefault((act.stream, act.kind), []).append(act)
            self.by_act[act] = []
        for call in self.calls:
            if call.endpoint not in CHANGING:
                continue
            owner = None
            for act in index.get((call.stream, call.endpoint), []):
                if act.due - EARLY_TOLERANCE <= call.at < act.until:
                    owner = act  # the latest such act: acts are in due order
            if owner is None:
                self.stray.append(call)
            else:
                self.by_act[owner].append(call)
            if call.effective and call.endpoint in ("enable", "disable"):
                self.switches.setdefault(call.stream, []).append(call)

    def counted(self) -> list[Act]:
        return [a for a in self.acts if self.counted_from <= a.due < self.counted_until]

    def _enabled_before(self, stream: str, when: datetime) -> bool:
        enabled = stream not in self.initially_disabled
        for call in self.switches.get(stream, []):
            if call.at >= when:
                break
            enabled = call.endpoint == "enable"
        return enabled

    def needs_effect(self, act: Act) -> bool:
        if act.kind == "finish":
            return act.slot is not None and self.encoders.get((act.stream, act.slot), False)
        return self._enabled_before(act.stream, act.due) != (act.kind == "enable")

    def lateness(self) -> dict[str, dict[str, float]]:
        """Seconds from due to the first state-changing call, per kind and all together, in ms."""
        late: dict[str, list[float]] = {kind: [] for kind in ACTS}
        for act in self.counted():
            calls = self.by_act[act]
            if calls:
                late[act.kind].append((calls[0].at - act.due).total_seconds() * 1000)
        every = [v for values in late.values() for v in values]
        return {"all": lateness_summary(every), **{k: lateness_summary(v) for k, v in late.items() if v}}

    def ledger_figures(self) -> dict[str, object]:
        counted = self.counted()
        states: Counter[str] = Counter()
        not_done: list[Act] = []
        open_acts: list[Act] = []
        unplanned: list[Act] = []
        doubled: list[Act] = []
        done_without_call: list[Act] = []
        noop_contradicted: list[Act] = []
        not_credited: list[Act] = []
        needed = 0
        for act in counted:
            row = self.ledger.get(second_key(act.stream, act.kind, act.due))
            states[row.state if row else "no row"] += 1
            calls = self.by_act[act]
            effective = [c for c in calls if c.effective]
            took_ok = any(200 <= c.http_status < 300 for c in calls)
            need = self.needs_effect(act)
            needed += need
            if row is None:
                unplanned.append(act)
            if len(effective) > 1:
                doubled.append(act)
            if need and not effective:
                (not_done if act.until <= self.observed_until else open_acts).append(act)
            if row is not None and row.state == "succeeded":
                if row.called_ok and not took_ok:
                    done_without_call.append(act)
                elif need and not effective and not row.called_ok:
                    noop_contradicted.append(act)
            if effective and (row is None or row.state != "succeeded"):
                not_credited.append(act)
        stray_effective = [c for c in self.stray if c.effective]
        disagreements = (
            len(done_without_call) + len(noop_contradicted) + len(not_credited) + len(doubled)
        ) + len(stray_effective)
        return {
            "acts": len(counted),
            "acts_needing_effect": needed,
            "ledger_states": dict(sorted(states.items())),
            "missed": states.get("missed", 0),
            "failed": states.get("failed", 0),
            "not_done": len(not_done),
            "open_at_end": len(open_acts),
            "unplanned": len(unplanned),
            "disagreements": disagreements,
            "done_without_call": len(done_without_call),
            "noop_contradicted": len(noop_contradicted),
            "call_not_credited": len(not_credited),
            "doubled": len(doubled),
            "outside_schedule": len(stray_effective),
            "stray_refused_calls": len(self.stray) - len(stray_effective),
            "examples": self._examples(
                [
                    ("not done", not_done),
                    ("done without call", done_without_call),
                    ("no-op contradicted", noop_contradicted),
                    ("call not credited", not_credited),
                    ("doubled", doubled),
                ],
                stray_effective,
            ),
        }

    def _examples(self, groups: Sequence[tuple[str, list[Act]]], stray: list[Call]) -> list[str]:
        lines = []
        for label, acts in groups:
            for act in acts[:2]:
                row = self.ledger.get(second_key(act.stream, act.kind, act.due))
                ledger = f"{row.state} ({row.outcome})" if row else "no ledger row"
                calls = " ".join(
                    f"{c.endpoint}@{(c.at - act.due).total_seconds():+.3f}s:"
                    f"{c.http_status}:{c.before}->{c.after}"
                    for c in self.by_act[act]
                )
                lines.append(
                    f"{label}: {act.kind} {act.stream[:8]} due {act.due:%H:%M:%S}, ledger {ledger}, "
                    f"calls [{calls}]"
                )
        for call in stray[:2]:
            lines.append(f"outside schedule: {call.endpoint} {call.stream[:8]} at {call.at:%H:%M:%S.%f}")
        return lines
