"""A broadcast's metadata on its stream: merged in at the broadcast's start, put back at its end. Pure.

FastPix's PATCH replaces a stream's `metadata` whole, so sending only the broadcast's keys would wipe
the stream's own (its `name`, say). Instead:

- **merge**: the broadcast's keys are laid over the stream's metadata as read just before the call
  (the broadcast wins on a shared key). A result over FastPix's 10 keys is refused with the keys named,
  never cut down. The stream's metadata as it was (`before`) and the broadcast's keys (`applied`) are
  kept as a `MergeRecord`, written to the ledger before the PATCH is sent.
- **restore**: each key the broadcast applied that still holds the broadcast's value goes back to its
  `before` value, or is removed if it was not there before. A key someone changed (or removed) since the
  merge is left as they made it: a change made by hand during the broadcast is deliberate, and newer
  than the one onair would put back. Keys the broadcast never touched are never changed.

Both are idempotent: merging twice gives the same metadata, and restoring an already restored stream
changes nothing (so a retry after a lost answer finds nothing to do).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from worker.domain.specs import METADATA_MAX_KEYS


class MergeRefused(ValueError):
    """The merged metadata would break FastPix's limits; nothing is sent."""


@dataclass(frozen=True)
class MergeRecord:
    """What a broadcast's merge found and set: enough to put the stream back afterwards."""

    before: dict[str, str]
    applied: dict[str, str]

    def to_json(self) -> str:
        return json.dumps({"metadata_before": self.before, "metadata_applied": self.applied}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> MergeRecord | None:
        """The record stored by a merge; None for no record (or one this code did not write)."""
        if not text:
            return None
        try:
            value: Any = json.loads(text)
        except json.JSONDecodeError:
            return None
        if not isinstance(value, dict):
            return None
        before, applied = _metadata(value.get("metadata_before")), _metadata(value.get("metadata_applied"))
        if before is None or applied is None:
            return None
        return cls(before, applied)


def _metadata(value: Any) -> dict[str, str] | None:
    if isinstance(value, dict) and all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        return dict(value)
    return None


def merge(current: Mapping[str, str], wanted: Mapping[str, str]) -> dict[str, str]:
    """The stream's metadata with the broadcast's keys laid over it. Raises MergeRefused over 10 keys."""
    merged = {**current, **wanted}
    if len(merged) > METADATA_MAX_KEYS:
        added = sorted(set(wanted) - set(current))
        raise MergeRefused(
            f"merging the broadcast's metadata would give the stream {len(merged)} keys; FastPix "
            f"allows at most {METADATA_MAX_KEYS} (the stream has {_keys(current)}, the broadcast adds "
            f"{_keys(added)})"
        )
    return merged


def restore(current: Mapping[str, str], record: MergeRecord) -> dict[str, str]:
    """The stream's metadata with the broadcast's keys put back as they were before its merge."""
    restored = dict(current)
    for key, value in record.applied.items():
        if restored.get(key) != value:
            continue  # changed or removed since the merge: the newer change stands
        if key in record.before:
            restored[key] = record.before[key]
        else:
            del restored[key]
    return restored


def describe(before: Mapping[str, str], after: Mapping[str, str]) -> str:
    """`metadata {"name": "Main"} -> {"name": "Main", "show": "x"}`: the whole change, for history."""
    return f"metadata {_shown(before)} -> {_shown(after)}"


def _shown(metadata: Mapping[str, str]) -> str:
    return json.dumps(dict(metadata), sort_keys=True, ensure_ascii=False)


def _keys(keys: Any) -> str:
    names = sorted(keys)
    return ", ".join(names) if names else "none"
