"""Why an action failed, as a value: the last answer (or non-answer) from FastPix, and the rule that
stopped further attempts. Its summary is the action's `outcome`, so history, the plan, alerts, the API
and the report all say the same thing; the whole value is kept in a `gave_up` history event. Pure.

    FastPix 500 "internal error" on PUT live-enable, 7 attempts; next retry would pass the deadline
    ^ cause (what went wrong)                                      ^ rule (why onair stopped trying)
"""

from __future__ import annotations

import json
import re
from dataclasses import asdict, dataclass
from typing import Any

_STREAM_ID = re.compile(r"^[0-9a-fA-F]{32}$")


@dataclass(frozen=True)
class FailureCause:
    status: int | None  # the last HTTP status; None when no answer came (timeout, dropped connection)
    message: str  # FastPix's own message, or what went wrong on the wire
    method: str | None
    path: str | None
    attempts: int
    rule: str  # why no further attempt: a permanent error, the deadline, the attempt limit

    @property
    def call(self) -> str:
        """`PUT live-enable`: the method and the path's last part (the stream id says nothing new)."""
        if not self.method:
            return ""
        parts = [p for p in (self.path or "").split("/") if p]
        last = parts[-1] if parts else ""
        return f"{self.method} {'stream' if _STREAM_ID.match(last) else last}".strip()

    @property
    def text(self) -> str:
        """The cause alone: `FastPix 500 "internal error" on PUT live-enable, 7 attempts`."""
        answer = f"FastPix {self.status}" if self.status is not None else "FastPix call"
        said = f' "{self.message}"' if self.message else ""
        where = f" on {self.call}" if self.call else ""
        tries = f", {self.attempts} attempt{'s' if self.attempts != 1 else ''}"
        return f"{answer}{said}{where}{tries}"

    @property
    def summary(self) -> str:
        """Cause, then rule: what a person reads first in history, alerts and the report."""
        return f"{self.text}; {self.rule}" if self.rule else self.text

    def to_json(self) -> str:
        return json.dumps({"failure": asdict(self)}, sort_keys=True)

    @classmethod
    def from_json(cls, text: str | None) -> FailureCause | None:
        """The cause stored with an action, or None (no cause recorded, or not one of ours)."""
        if not text:
            return None
        try:
            data: Any = json.loads(text)
            found = data["failure"]
            return cls(
                status=None if found["status"] is None else int(found["status"]),
                message=str(found["message"]),
                method=found["method"],
                path=found["path"],
                attempts=int(found["attempts"]),
                rule=str(found["rule"]),
            )
        except (ValueError, TypeError, KeyError):
            return None

    def as_dict(self) -> dict[str, Any]:
        return {**asdict(self), "call": self.call, "text": self.text, "summary": self.summary}


def describe_failure(state: str, outcome: str | None, last_error: str | None) -> str:
    """One line for a failed or missed action. A failure's outcome already reads `cause; rule`; a
    missed action that had failed attempts gets its last error first."""
    if state == "missed" and last_error and outcome and last_error not in outcome:
        return f"{last_error}; {outcome}"
    return outcome or last_error or ""
