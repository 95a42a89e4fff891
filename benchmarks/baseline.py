"""The naive baseline the benchmarks compare onair with: plain Celery `apply_async(eta=due)` tasks that
send the same PUT. No ledger, no check before acting, no lease: what onair must match for speed while
also checking state first and surviving faults. Not part of the product.

    celery -A benchmarks.baseline worker --pool threads -Q baseline
"""

from __future__ import annotations

import os
import threading
from pathlib import Path

import httpx
from celery import Celery
from celery.signals import worker_ready

from worker import folder_broker

QUEUE = "baseline"


def make_app(broker: str, folder: str) -> Celery:
    """The baseline's Celery app on `broker` (Redis), or on a folder broker in `folder` if broker is ""."""
    app = Celery("baseline")
    if broker:
        app.conf.update(broker_url=broker, broker_transport_options={"visibility_timeout": 300})
    else:
        Path(folder).mkdir(parents=True, exist_ok=True)
        app.conf.update(
            # onair's atomic folder transport: kombu's own crashes the worker on half-written files.
            broker_url=f"{folder_broker.SCHEME}://",
            broker_transport_options={
                "data_folder_in": folder,
                "data_folder_out": folder,
                "polling_interval": 0.05,
            },
        )
    app.conf.update(
        task_default_queue=QUEUE,
        task_ignore_result=True,
        result_backend=None,
        worker_prefetch_multiplier=4,
        worker_hijack_root_logger=False,
        broker_connection_retry_on_startup=True,
        timezone="UTC",
        enable_utc=True,
    )
    return app


app = make_app(os.environ.get("BASELINE_BROKER_URL", ""), os.environ.get("BASELINE_FOLDER", ".baseline"))
_local = threading.local()


def _client() -> httpx.Client:
    client: httpx.Client | None = getattr(_local, "client", None)
    if client is None:
        auth = (os.environ["FASTPIX_ACCESS_TOKEN_ID"], os.environ["FASTPIX_SECRET_KEY"])
        client = httpx.Client(base_url=os.environ["FASTPIX_API_URL"], auth=auth, timeout=15)
        _local.client = client
    return client


TASK = "baseline.enable"


@app.task(name=TASK)
def enable(stream_id: str) -> int:
    return _client().put(f"/live/streams/{stream_id}/live-enable").status_code


@worker_ready.connect
def _say_ready(**_: object) -> None:
    """The benchmark waits for every baseline worker to be consuming before it starts the clock."""
    folder = os.environ.get("BASELINE_READY")
    if folder:
        Path(folder).mkdir(parents=True, exist_ok=True)
        (Path(folder) / os.environ["BASELINE_NAME"]).touch()
