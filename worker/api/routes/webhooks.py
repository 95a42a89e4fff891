"""POST /webhooks/fastpix: FastPix's live-stream events, signed with the webhook's signing secret.

No bearer token: the signature is the credential. One database transaction per request and never a
FastPix call, so FastPix hears back within milliseconds.
"""

from __future__ import annotations

from fastapi import APIRouter, Request

from worker.api.deps import BODY_MAX_BYTES, Ctx
from worker.api.errors import ApiError, invalid_field
from worker.api.responses import errors
from worker.api.schemas import WebhookReceived
from worker.service import webhook_receiver as receiver

router = APIRouter(tags=["webhooks"])


@router.post(
    "/webhooks/fastpix",
    operation_id="fastpixWebhook",
    summary="Receive a FastPix webhook (signed with FASTPIX_WEBHOOK_SECRET)",
    response_description="stored, or a repeat of an event already stored",
    responses=errors(
        401,
        413,
        422,
        503,
        s401="the FastPix-Signature header is missing or does not match the body",
        s503="FASTPIX_WEBHOOK_SECRET is not set (or not valid Base64), or the database cannot be reached",
    ),
)
async def fastpix_webhook(request: Request, ctx: Ctx) -> WebhookReceived:
    secret = ctx.fastpix.webhook_secret
    if secret is None or not secret.get_secret_value().strip():
        raise ApiError(
            503, "unavailable", "webhooks are off: FASTPIX_WEBHOOK_SECRET is not set on this server"
        )
    try:
        key = receiver.signing_key(secret.get_secret_value())
    except receiver.BadSecret as exc:
        raise ApiError(503, "unavailable", f"webhooks are off: {exc}") from None
    body = await request.body()
    if len(body) > BODY_MAX_BYTES:
        error = invalid_field("body", f"is {len(body)} bytes; at most {BODY_MAX_BYTES}")
        error.status = 413
        raise error
    if not receiver.signature_ok(key, body, request.headers.get(receiver.SIGNATURE_HEADER)):
        given = receiver.SIGNATURE_HEADER in request.headers
        why = "does not match the body" if given else "is missing"
        raise ApiError(401, "unauthorized", f"the {receiver.SIGNATURE_HEADER} header {why}")
    try:
        stored = receiver.receive(ctx.engine, body, ctx.clock.now())
    except receiver.BadEvent as exc:
        raise invalid_field(exc.name, exc.message) from None
    event = stored.event
    return WebhookReceived(
        event_id=event.event_id,
        type=event.type,
        stream_id=event.stream_id,
        result="stored" if stored.new else "duplicate",
        status_changed=stored.status_changed,
    )
