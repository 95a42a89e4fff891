"""What ops do from their pages: pause and resume a stream, retry a failed or missed action, cancel a
broadcast after confirming. Each is a POST form with the session's CSRF token, answered by a redirect
to the page that shows the result; each calls the same service function as the CLI, with the ops
account as the actor the history records. A refusal is shown in words on the page it came from."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response

from worker.api.deps import Ctx
from worker.domain.local_time import day_and_clock, read_wall_time
from worker.service import broadcasts, pauses, retry
from worker.service.agenda import slot_kind
from worker.service.cancelling import Schedule, cancel
from worker.service.refusal import NotFound, Refused
from worker.service.replanning import API_WAIT_SECONDS
from worker.service.stream_desk import stream_desk
from worker.web.pages import Csrf, SignedIn, Who, action_page, csrf_refused, health_changed, ops_only, page

router = APIRouter(include_in_schema=False)
UTC_ZONE = ZoneInfo("UTC")
Note = Annotated[str, Form()]  # the service checks its length, and says so on the page
UNTIL_MAX_CHARS = 40
# What a stream page says after a redirect from its forms.
DONE = {
    "paused": "Paused: onair sends this stream no act until it is resumed.",
    "resumed": "Resumed: its actions are planned again.",
}
# Slot kinds cancelled here; an occurrence belongs to its series (`onair series`).
CANCELLABLE = ("broadcast", "booking")


def at(moment: datetime | None) -> str:
    return "" if moment is None else day_and_clock(moment, UTC_ZONE)


def _acting(request: Request, who: SignedIn | None, csrf: str) -> SignedIn | Response:
    """The ops account behind a POST that carried its CSRF token, else the refusal (403)."""
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    return csrf_refused(me, csrf) or me


@router.get("/ops/streams/{stream_id}", response_class=HTMLResponse)
def stream_page(request: Request, ctx: Ctx, who: Who, stream_id: str) -> Response:
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    done = DONE.get(request.query_params.get("done", ""))
    revived = request.query_params.get("revived", "")
    if done and revived and all(part.isdigit() for part in revived.split(",")):
        done += f" Runs after all: action #{revived.replace(',', ', #')}."
    return _stream_page(request, ctx, me, stream_id, notice=done)


@router.post("/ops/streams/{stream_id}/pause", response_class=HTMLResponse)
def pause(
    request: Request,
    ctx: Ctx,
    who: Who,
    stream_id: str,
    csrf: Csrf = "",
    note: Note = "",
    until: Annotated[str, Form()] = "",
) -> Response:
    me = _acting(request, who, csrf)
    if isinstance(me, Response):
        return me
    kept = {"note": note, "until": until}
    ends = None
    if until.strip():
        try:
            if len(until) > UNTIL_MAX_CHARS:
                raise ValueError("until: not a date and time like 2026-12-07T19:00")
            ends = read_wall_time("until", until, UTC_ZONE)
        except ValueError as bad:
            kept["until"] = until[:UNTIL_MAX_CHARS]
            return _stream_page(request, ctx, me, stream_id, kept=kept, problems=[str(bad)], status_code=422)
    try:
        pauses.pause_stream(
            ctx.engine,
            stream_id,
            actor=me.account.actor,
            now=ctx.clock.now(),
            until=ends,
            note=note.strip() or None,
        )
    except NotFound as missing:
        return page(request, "not_found.html", me, status_code=404, problem=missing.message)
    except Refused as refused:
        status = 422 if refused.field in ("until", "note") else 409
        return _stream_page(
            request, ctx, me, stream_id, kept=kept, problems=[refused.message], status_code=status
        )
    health_changed(ctx)
    return RedirectResponse(f"/ops/streams/{stream_id}?done=paused", status_code=303)


@router.post("/ops/streams/{stream_id}/resume", response_class=HTMLResponse)
def resume(request: Request, ctx: Ctx, who: Who, stream_id: str, csrf: Csrf = "") -> Response:
    me = _acting(request, who, csrf)
    if isinstance(me, Response):
        return me
    try:
        done = pauses.resume_stream(ctx.settings, ctx.engine, ctx.clock, stream_id, actor=me.account.actor)
    except Refused as refused:
        return _stream_page(request, ctx, me, stream_id, problems=[refused.message], status_code=409)
    health_changed(ctx)
    revived = f"&revived={','.join(map(str, done.revived))}" if done.revived else ""
    return RedirectResponse(f"/ops/streams/{stream_id}?done=resumed{revived}", status_code=303)


@router.post("/ops/actions/{action_id}/retry", response_class=HTMLResponse)
def retry_action(
    request: Request, ctx: Ctx, who: Who, action_id: int, csrf: Csrf = "", note: Note = ""
) -> Response:
    me = _acting(request, who, csrf)
    if isinstance(me, Response):
        return me
    try:
        retry.retry_action(
            ctx.engine, action_id, actor=me.account.actor, now=ctx.clock.now(), note=note.strip() or None
        )
    except NotFound as missing:
        return page(request, "not_found.html", me, status_code=404, problem=missing.message)
    except Refused as refused:
        return action_page(request, ctx, me, action_id, problems=[refused.message], status_code=409)
    health_changed(ctx)
    return RedirectResponse(f"/ops/actions/{action_id}?retried=1", status_code=303)


@router.get("/ops/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel_confirm(request: Request, ctx: Ctx, who: Who, broadcast_id: int) -> Response:
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    return _cancel_page(request, ctx, me, broadcast_id)


@router.post("/ops/broadcasts/{broadcast_id}/cancel", response_class=HTMLResponse)
def cancel_broadcast(request: Request, ctx: Ctx, who: Who, broadcast_id: int, csrf: Csrf = "") -> Response:
    me = _acting(request, who, csrf)
    if isinstance(me, Response):
        return me
    row = broadcasts.get_broadcast(ctx.engine, broadcast_id)
    if row is None or slot_kind(row) not in CANCELLABLE:
        return _cancel_page(request, ctx, me, broadcast_id, status_code=404 if row is None else 409)
    now = ctx.clock.now()
    try:
        done = cancel(
            ctx.settings,
            ctx.engine,
            Schedule.BROADCAST,
            broadcast_id,
            now=now,
            clock=ctx.clock,
            wait=API_WAIT_SECONDS,
            actor=me.account.actor,
        )
    except NotFound as missing:
        return page(request, "not_found.html", me, status_code=404, problem=missing.message)
    except Refused:  # it has ended meanwhile: the page says so
        return _cancel_page(request, ctx, me, broadcast_id, status_code=409)
    if done.already_at is not None:
        return _cancel_page(request, ctx, me, broadcast_id, status_code=409)
    health_changed(ctx)
    return RedirectResponse(
        f"/ops?cancelled={broadcast_id}&actions={done.cancelled}&running={done.running}", status_code=303
    )


def _stream_page(
    request: Request,
    ctx: Ctx,
    me: SignedIn,
    stream_id: str,
    *,
    kept: dict[str, str] | None = None,
    problems: list[str] | None = None,
    notice: str | None = None,
    status_code: int = 200,
) -> Response:
    try:
        desk = stream_desk(ctx.engine, stream_id, ctx.clock.now())
    except NotFound as missing:
        return page(request, "not_found.html", me, status_code=404, problem=missing.message)
    return page(
        request,
        "ops_stream.html",
        me,
        status_code=status_code,
        desk=desk,
        at=at,
        values=kept or {"note": "", "until": ""},
        problems=problems or [],
        notice=notice,
    )


def _cancel_page(
    request: Request, ctx: Ctx, me: SignedIn, broadcast_id: int, *, status_code: int = 200
) -> Response:
    row = broadcasts.get_broadcast(ctx.engine, broadcast_id)
    if row is None:
        return page(
            request, "not_found.html", me, status_code=404, problem=f"no broadcast with id {broadcast_id}"
        )
    kind = slot_kind(row)
    now = ctx.clock.now()
    problem = None
    if row.cancelled_at is not None:
        problem = f"This {kind} was cancelled at {at(row.cancelled_at)}."
    elif row.ends_at <= now:
        problem = f"This {kind} ended at {at(row.ends_at)}: there is nothing left to cancel."
    elif kind not in CANCELLABLE:
        problem = (
            f"This is an occurrence of series #{row.series_id}: cancel or change the series "
            "(`onair series`), not one of its occurrences."
        )
    names = broadcasts.stream_names(ctx.engine)
    return page(
        request,
        "ops_cancel.html",
        me,
        status_code=status_code,
        row=row,
        kind=kind,
        stream=names.get(row.stream_id) or row.stream_id,
        at=at,
        problem=problem,
        running=row.slot_starts_at <= now,
    )
