"""Fault injection: rules that make the next matching /v1 calls fail the way real servers fail.

A rule matches an endpoint name (or "*") and optionally one stream, and fires either for the next
`count` matching calls or for a `fraction` of them (drawn from its own seeded RNG). Kinds:
"400" and "422" (a refusal in FastPix's own error body: a permanent error for the caller),
"500", "502", "503", "524" (an error status), "429" (with an optional Retry-After), "slow" (the
call is carried out, then answered after `delay` seconds) and "drop" (the connection is closed
with no HTTP response at all). With `apply_effect` a 5xx/429/drop still changes state first, like a
server that did the work and then failed to say so.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any

KINDS = ("400", "422", "500", "502", "503", "524", "429", "slow", "drop")
ENDPOINTS = (
    "create",
    "list",
    "get",
    "viewers",
    "update",
    "enable",
    "disable",
    "finish",
    "delete",
    "playback_create",
    "playback_get",
    "playback_delete",
    "simulcast_create",
    "simulcast_get",
    "simulcast_update",
    "simulcast_delete",
    "*",
)


class BadFault(ValueError):
    """A fault specification that cannot be used; the message says which field and why."""


@dataclass
class FaultRule:
    rule_id: int
    endpoint: str
    kind: str
    count: int | None = None
    fraction: float | None = None
    seed: int | None = None
    retry_after: str | None = None
    delay: float = 0.0
    apply_effect: bool = False
    stream_id: str | None = None
    fired: int = 0
    _rng: random.Random = field(default_factory=random.Random, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._rng = random.Random(self.seed)

    def matches(self, endpoint: str, stream_id: str | None) -> bool:
        if self.endpoint not in ("*", endpoint):
            return False
        return self.stream_id is None or self.stream_id == stream_id

    def fire(self) -> bool:
        """Decide for one matching call whether the fault happens (and count it down)."""
        if self.count is not None:
            if self.count <= 0:
                return False
            self.count -= 1
            self.fired += 1
            return True
        if self.fraction is not None and self._rng.random() < self.fraction:
            self.fired += 1
            return True
        return False

    @property
    def spent(self) -> bool:
        return self.count is not None and self.count <= 0

    def to_state(self) -> dict[str, Any]:
        return {
            "rule_id": self.rule_id,
            "endpoint": self.endpoint,
            "kind": self.kind,
            "count": self.count,
            "fraction": self.fraction,
            "seed": self.seed,
            "retry_after": self.retry_after,
            "delay": self.delay,
            "apply_effect": self.apply_effect,
            "stream_id": self.stream_id,
            "fired": self.fired,
        }

    @classmethod
    def from_state(cls, data: dict[str, Any]) -> FaultRule:
        return cls(**data)


def parse_fault(spec: Any, rule_id: int) -> FaultRule:
    """Build a rule from the control API's JSON, refusing anything ambiguous."""
    if not isinstance(spec, dict):
        raise BadFault("the fault must be a JSON object")
    endpoint = spec.get("endpoint", "*")
    if endpoint not in ENDPOINTS:
        raise BadFault(f"endpoint must be one of {', '.join(ENDPOINTS)}; got {endpoint!r}")
    kind = str(spec.get("kind", ""))
    if kind not in KINDS:
        raise BadFault(f"kind must be one of {', '.join(KINDS)}; got {spec.get('kind')!r}")
    count, fraction = spec.get("count"), spec.get("fraction")
    if (count is None) == (fraction is None):
        raise BadFault("give exactly one of count (next N calls) or fraction (0..1)")
    if count is not None and (not isinstance(count, int) or isinstance(count, bool) or count < 1):
        raise BadFault("count must be a positive integer")
    if fraction is not None and (not isinstance(fraction, int | float) or not 0 <= fraction <= 1):
        raise BadFault("fraction must be a number between 0 and 1")
    retry_after = spec.get("retry_after")
    if retry_after is not None:
        if kind != "429":
            raise BadFault("retry_after only applies to kind 429")
        if isinstance(retry_after, bool) or not isinstance(retry_after, int | float | str):
            raise BadFault("retry_after must be seconds or an HTTP date string")
        retry_after = str(int(retry_after)) if isinstance(retry_after, int | float) else retry_after
    delay = spec.get("delay", 0.0)
    if isinstance(delay, bool) or not isinstance(delay, int | float) or delay < 0:
        raise BadFault("delay must be a non-negative number of seconds")
    if kind == "slow" and delay <= 0:
        raise BadFault("kind slow needs a positive delay")
    apply_effect = spec.get("apply_effect", False)
    if not isinstance(apply_effect, bool):
        raise BadFault("apply_effect must be true or false")
    seed = spec.get("seed")
    if seed is not None and (not isinstance(seed, int) or isinstance(seed, bool)):
        raise BadFault("seed must be an integer")
    stream_id = spec.get("stream_id")
    if stream_id is not None and not isinstance(stream_id, str):
        raise BadFault("stream_id must be a string")
    return FaultRule(
        rule_id=rule_id,
        endpoint=endpoint,
        kind=kind,
        count=count,
        fraction=float(fraction) if fraction is not None else None,
        seed=seed,
        retry_after=retry_after,
        delay=float(delay),
        apply_effect=apply_effect or kind == "slow",
        stream_id=stream_id,
    )
