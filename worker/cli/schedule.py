"""The operator's schedules: `onair broadcast ...` (broadcast.py) and `onair offhours ...` (offhours.py),
mounted by main.py from here. Recurring broadcasts live in series.py, bookings in book.py."""

from __future__ import annotations

from worker.cli.broadcast import broadcast_app
from worker.cli.offhours import offhours_app

__all__ = ["broadcast_app", "offhours_app"]
