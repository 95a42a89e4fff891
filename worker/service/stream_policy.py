"""Setting a stream's between-slots policy (worker.domain.stream_policy). The planner re-plans every
stream when any policy changes (its inputs' fingerprint includes them), so the caller only has to
run a tick for the change to show in the plan."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Engine

from worker.domain.stream_policy import BetweenSlots, parse_between_slots
from worker.store import schedules
from worker.store.db import transaction


class UnknownStream(LookupError):
    """The stream is not in onair's streams table."""


@dataclass(frozen=True)
class PolicyChange:
    stream_id: str
    before: BetweenSlots
    after: BetweenSlots

    @property
    def changed(self) -> bool:
        return self.before is not self.after


def set_between_slots(engine: Engine, stream_id: str, value: str) -> PolicyChange:
    """Set the policy of a stream onair knows. ValueError for a value that is not a policy and
    UnknownStream for an unknown stream, both before anything is written."""
    policy = parse_between_slots(value)
    with transaction(engine) as session:
        before = schedules.set_between_slots(session, stream_id, policy.value)
    if before is None:
        raise UnknownStream(f"unknown stream {stream_id!r}: not in onair's streams table")
    return PolicyChange(stream_id, BetweenSlots(before), policy)


def policies_of(engine: Engine, stream_ids: list[str]) -> dict[str, BetweenSlots]:
    """The policy of each of these streams onair knows (the others are absent)."""
    with transaction(engine, immediate=False) as session:
        found = schedules.between_slots_of(session, stream_ids)
    return {stream_id: BetweenSlots(policy) for stream_id, policy in found.items()}
