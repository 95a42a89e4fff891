"""The rows the service layer hands to the front doors, named here so that the CLI and the API never
import the store. They are detached from their session: read them, never change them (a change is a
service function)."""

from worker.store.models import (
    Action,
    ActionEvent,
    Broadcast,
    BroadcastSeries,
    OffHours,
    Organiser,
    Stream,
    WebhookEvent,
)

__all__ = [
    "Action",
    "ActionEvent",
    "Broadcast",
    "BroadcastSeries",
    "OffHours",
    "Organiser",
    "Stream",
    "WebhookEvent",
]
