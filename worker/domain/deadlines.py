"""How long each planned action stays useful. Past its deadline an action is `missed`, not run late.

The full table, with the reasoning, is in docs/lifecycle.md; in short:

| action                               | deadline                                                        |
|--------------------------------------|-----------------------------------------------------------------|
| broadcast enable (start - lead)      | the broadcast's end                                             |
| broadcast update (start - lead)      | the broadcast's end                                             |
| broadcast finish (end)               | the next slot on the stream (start - lead), at most end + 1 h   |
| broadcast restore (end)              | the same as its finish                                          |
| disable after a slot (between-slots  | the same as its finish                                          |
|   policy `disable`; at its end)      |                                                                 |
| off-hours disable (from, or after a  | the off-hours window's end (`to`)                               |
|   broadcast ends inside the window)  |                                                                 |
| off-hours enable (to)                | the next off-hours window's start on the stream, else to + 1 h  |
"""

from __future__ import annotations

from datetime import datetime, timedelta

# A stream still live an hour after its slot ended has been kept on air by a person (or was ended by
# the encoder long ago); finishing it later than this would cut off something nobody scheduled.
FINISH_GRACE = timedelta(hours=1)
# Used only when no later off-hours window exists for the stream to bound the enable.
OFF_HOURS_ENABLE_GRACE = timedelta(hours=1)


def broadcast_enable_deadline(ends_at: datetime) -> datetime:
    """Enabling is pointless once the slot is over."""
    return ends_at


def broadcast_update_deadline(ends_at: datetime) -> datetime:
    """Metadata for a broadcast is pointless once the slot is over."""
    return ends_at


def finish_deadline(ends_at: datetime, next_slot_start: datetime | None) -> datetime:
    """Finishing after the next slot on the stream began would end the next broadcast."""
    grace_end = ends_at + FINISH_GRACE
    if next_slot_start is None:
        return grace_end
    return min(next_slot_start, grace_end)


def restore_deadline(ends_at: datetime, next_slot_start: datetime | None) -> datetime:
    """The next slot's merge must find the stream as it was; a restore an hour late is a stale surprise
    (it stays visible as missed, and alerted)."""
    return finish_deadline(ends_at, next_slot_start)


def disable_after_slot_deadline(ends_at: datetime, next_slot_start: datetime | None) -> datetime:
    """A disable run after the next slot began would cut that slot off; an hour late, someone has
    been using the stream on purpose (it stays visible as missed, and alerted)."""
    return finish_deadline(ends_at, next_slot_start)


def off_hours_disable_deadline(window_end: datetime) -> datetime:
    """Disabling is pointless once the off-hours window is over."""
    return window_end


def off_hours_enable_deadline(window_end: datetime, next_window_start: datetime | None) -> datetime:
    """The stream should be on for the whole on-hours stretch; the next window would disable it anyway."""
    if next_window_start is None:
        return window_end + OFF_HOURS_ENABLE_GRACE
    return next_window_start
