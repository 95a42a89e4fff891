"""The embedded broker: kombu's folder transport, with each message file written whole before it appears.

kombu's own `filesystem://` transport creates the message file under its final name and then writes
it; a worker polling the folder can pick up the empty file in between, and a JSONDecodeError then kills
the worker (seen under load: every held ETA message is lost with it, and the ledger's leases recover
them only a lease later). Here a message is written under a name readers skip and renamed into place,
and a reader takes a file by renaming it inside the same folder (atomic), so two readers never both
get it. URL: `onairfolder://`, with kombu's filesystem transport options.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Callable
from pathlib import Path
from queue import Empty
from time import monotonic
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
    def _put(self, queue: Any, message: Any, **kwargs: Any) -> None:  # type: ignore[override]
        name = f"{round(monotonic() * 1000)}_{uuid.uuid4()}.{queue}.msg"
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
            return _loads(payload)
        raise Empty()


class Transport(filesystem.Transport):
    Channel = Channel


TRANSPORT_ALIASES.setdefault(SCHEME, f"{__name__}:Transport")
