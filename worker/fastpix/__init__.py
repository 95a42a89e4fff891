"""The FastPix live-stream API: a thin client, its payload models and its error classification."""

from worker.fastpix.client import CallRecord, FastPixClient, OnCall
from worker.fastpix.errors import (
    ApiError,
    CallTimeout,
    Classification,
    ConnectionDropped,
    FastPixError,
    FieldError,
    HttpStatusError,
    InvalidRequest,
    NetworkError,
    RateLimited,
    ServerError,
    TransportError,
    UnexpectedResponse,
    classify,
    retry_after,
)
from worker.fastpix.models import LiveStream, Page, Pagination, PlaybackId, StreamStatus, ViewerCount

__all__ = [
    "ApiError",
    "CallRecord",
    "CallTimeout",
    "Classification",
    "ConnectionDropped",
    "FastPixClient",
    "FastPixError",
    "FieldError",
    "HttpStatusError",
    "InvalidRequest",
    "LiveStream",
    "NetworkError",
    "OnCall",
    "Page",
    "Pagination",
    "PlaybackId",
    "RateLimited",
    "ServerError",
    "StreamStatus",
    "TransportError",
    "UnexpectedResponse",
    "ViewerCount",
    "classify",
    "retry_after",
]
