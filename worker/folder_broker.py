"""The embedded broker: kombu's folder transport, with each message file written whole before it appears.

kombu's own `filesystem://` transport creates the message file under its final name and then writes
it; a worker polling the folder can pick up the empty file in between, and a JSONDecodeError then kills
the worker (seen under load: every held ETA message is lost with it, and the ledger's leases recover
them only a lease later). Here a message is written under a name readers skip and renamed into place,
and a reader takes a file by renaming it inside the same folder (atomic), so two readers never both
get it. URL: `onairfolder://`, with kombu's filesystem transport options.

A reader that has just taken a message leaves the next one for another reader when it is only due
later (an ETA more than two polls away): a reader drains the folder in one go, so every act worker but
the first to poll stayed idle, and one process made all of an instant's calls on its own (94 finishes at
one instant left up to 116 ms late on two cores). Nothing waits longer for it: the same reader takes it
at its next poll if no other reader did.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from datetime import datetime
from pathlib import Path
from queue import Empty
from time import monotonic, time
from typing import Any, cast

from kombu.exceptions import ChannelError
from kombu.transport import TRANSPORT_ALIASES, filesystem
from kombu.utils import json as kombu_json

# kombu's JSON (it encodes datetimes and the like in Celery's envelope); untyped upstream.
_dumps = cast(Callable[[Any], str], kombu_json.dumps)
_loads = cast(Callable[[bytes], Any], kombu_json.loads)

SCHEME = "onairfolder"
_TAKEN = ".taken"


class Channel(filesystem.Channel):
    # When this reader last took a message (monotonic seconds).
    _took_at = float("-inf")

    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        # The ETA goes in the name, so a reader can leave a message without opening it.
        name = f"{round(monotonic() * 1000)}_{_eta_ms(message)}_{uuid.uuid4()}.{queue}.msg"
        folder = Path(self.data_folder_out)
        partial = folder / f".{name}.part"  # partition('.')[2] is not "<queue>.msg": readers skip it
        try:
            partial.write_bytes(_dumps(message).encode())
            os.replace(partial, folder / name)
        except OSError as exc:
            raise ChannelError(f"cannot add a message file to {folder}") from exc

    def _get(self, queue: Any, timeout: Any = None) -> Any:
        folder = Path(self.data_folder_in)
        taken = folder / _TAKEN
        if not getattr(self, "_taken_made", False):
            # Once per channel, not on every poll: a worker polls each queue 20 times a second, and
            # mkdir raising and catching FileExistsError each time showed in the idle profile.
            taken.mkdir(exist_ok=True)
            self._taken_made = True
        wanted = f"{queue}.msg"
        names = [name for name in os.listdir(folder) if name.partition(".")[2] == wanted]
        for name in sorted(names):
            if self._leave_for_another(name):
                continue
            mine = taken / f"{uuid.uuid4().hex}-{name}"
            try:
                os.rename(folder / name, mine)
            except FileNotFoundError:
                if taken.is_dir():
                    continue  # another reader took it
                self._taken_made = False  # the folder was emptied under us: made again next poll
                continue
            try:
                payload = mine.read_bytes()
            finally:
                mine.unlink(missing_ok=True)
            self._took_at = monotonic()
            return _loads(payload)
        raise Empty()

    def _leave_for_another(self, name: str) -> bool:
        """Whether to leave this message to another reader: this one took a message less than a poll
        ago, and the message is not wanted for more than two polls."""
        poll = float(self.connection.polling_interval or 0)
        if monotonic() - self._took_at >= poll:
            return False
        eta_ms = _name_eta_ms(name)
        return eta_ms > 0 and eta_ms / 1000 - time() > 2 * poll


def _eta_ms(message: Any) -> int:
    """The message's ETA in Unix milliseconds, 0 when it has none (or one without a time zone)."""
    eta = (message.get("headers") or {}).get("eta")
    if not isinstance(eta, str):
        return 0
    try:
        moment = datetime.fromisoformat(eta)
    except ValueError:
        return 0
    return round(moment.timestamp() * 1000) if moment.tzinfo else 0


def _name_eta_ms(name: str) -> int:
    """The ETA a message file's name carries; 0 for none, and for names written before it had one."""
    fields = name.partition(".")[0].split("_")
    return int(fields[1]) if len(fields) == 3 and fields[1].isdigit() else 0


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
