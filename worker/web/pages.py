"""The pages' routes: sign-in and sign-out, and each kind of account's home page. They parse the form,
call the service layer and render a template; every rule lives in worker/service/ and worker/domain/."""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import Path
from typing import Annotated, Any
from zoneinfo import ZoneInfo

from fastapi import APIRouter, Depends, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from sqlalchemy import Engine

from worker.api.context import ApiContext
from worker.api.deps import Ctx
from worker.domain.causes import FailureCause, describe_failure
from worker.domain.local_time import day_and_clock
from worker.domain.recurrence import validate_timezone
from worker.domain.sign_in_limit import FailedSignIns
from worker.service import accounts
from worker.service.accounts import Account
from worker.service.errors import InvalidInput
from worker.service.health import CheckResult, Doctor
from worker.service.ledger_view import history_view
from worker.service.ops_board import ops_board
from worker.service.report import build_report
from worker.web.session import COOKIE, Sessions, WebSession

templates = Jinja2Templates(directory=Path(__file__).parent / "templates")
# Block tags leave no blank lines or indentation behind: a week or board of thousands of items stays small.
templates.env.trim_blocks = True
templates.env.lstrip_blocks = True
# A row of the ops board draws its quiet actions as one SVG path: `M<x> 8v8` per action (joined in C:
# a board has thousands).
templates.env.filters["tick_path"] = lambda xs: "M" + " 8v8M".join(map(str, xs)) + " 8v8" if xs else ""
router = APIRouter(include_in_schema=False)
# The ops page's health lines: doctor's checks that read only the database (no broker or FastPix call
# while a page renders).
# (`workers` pings over the broker: `consumers`, from the workers' heartbeats, says the same from the
# database.)
OPS_CHECKS = ["database", "beat", "consumers", "backlog", "planner", "schedules", "paused", "recent"]


class SignedIn:
    """The account and session behind a request, read from the cookie; None when signed out."""

    def __init__(self, account: Account, session: WebSession) -> None:
        self.account = account
        self.session = session


def _sessions(request: Request, ctx: ApiContext) -> Sessions:
    sessions: Sessions | None = getattr(request.app.state, "web_sessions", None)
    if sessions is None:
        key = accounts.session_signing_key(ctx.engine, ctx.clock.now())
        sessions = Sessions(key, timedelta(hours=ctx.settings.session_hours))
        request.app.state.web_sessions = sessions
    return sessions


def _failed_sign_ins(request: Request) -> FailedSignIns:
    limit: FailedSignIns | None = getattr(request.app.state, "failed_sign_ins", None)
    if limit is None:
        limit = request.app.state.failed_sign_ins = FailedSignIns()
    return limit


def signed_in(request: Request, ctx: Ctx) -> SignedIn | None:
    session = _sessions(request, ctx).read(request.cookies.get(COOKIE))
    if session is None:
        return None
    account = accounts.still_signed_in(ctx.engine, session.name, session.fingerprint)
    return None if account is None else SignedIn(account, session)


Who = Annotated[SignedIn | None, Depends(signed_in)]


def page(
    request: Request, template: str, who: SignedIn | None, status_code: int = 200, **values: Any
) -> Response:
    context = {"who": who, "csrf": who.session.csrf if who else "", **values}
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def to_login() -> Response:
    return RedirectResponse("/login", status_code=303)


@router.get("/login", response_class=HTMLResponse)
def login_form(request: Request, who: Who) -> Response:
    if who is not None:
        return RedirectResponse("/ops" if who.account.is_ops else "/", status_code=303)
    return page(request, "login.html", None)


@router.post("/login", response_class=HTMLResponse)
def login(request: Request, ctx: Ctx, token: Annotated[str, Form(max_length=200)] = "") -> Response:
    address = request.client.host if request.client else "unknown"
    limit, now = _failed_sign_ins(request), ctx.clock.now()
    wait = limit.wait(address, now)
    if wait is not None:
        minutes = max(1, round(wait.total_seconds() / 60))
        problem = f"Too many failed sign-ins from your address: try again in {minutes} min."
        return page(request, "login.html", None, status_code=429, problem=problem)
    account = accounts.sign_in(ctx.engine, token) if token.strip() else None
    if account is None:
        limit.failed(address, now)
        problem = "That token was not accepted: it is wrong, or it was revoked or replaced."
        return page(request, "login.html", None, status_code=401, problem=problem)
    limit.succeeded(address)
    sessions = _sessions(request, ctx)
    _, cookie = sessions.start(account.name, account.fingerprint)
    response = RedirectResponse("/ops" if account.is_ops else "/", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=int(sessions.lifetime.total_seconds()),
        httponly=True,
        samesite="lax",
        secure=ctx.settings.public_url.strip().lower().startswith("https://"),
        path="/",
    )
    return response


def csrf_refused(who: SignedIn, csrf: str) -> Response | None:
    """A 403 when a form did not carry this session's CSRF token (a forged or stale form), else None."""
    if who.session.csrf_matches(csrf):
        return None
    return Response(
        "This form did not come from your signed-in page (or it is out of date): go back, reload the page "
        "and try again.",
        status_code=403,
        media_type="text/plain",
    )


Csrf = Annotated[str, Form(max_length=100)]


@router.post("/logout")
def logout(who: Who, csrf: Csrf = "") -> Response:
    refused = None if who is None else csrf_refused(who, csrf)
    if refused is not None:
        return refused
    response = to_login()
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/ops", response_class=HTMLResponse)
def ops_home(request: Request, ctx: Ctx, who: Who) -> Response:
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    now = ctx.clock.now()
    board = ops_board(ctx.engine, now)

    def at(moment: datetime) -> str:
        return day_and_clock(moment, ZoneInfo("UTC"))

    return page(
        request,
        "ops_home.html",
        me,
        checks=_health(ctx.engine, ctx),
        board=board,
        at=at,
        cancelled=_cancelled_notice(request),
    )


def _cancelled_notice(request: Request) -> str | None:
    """What the board says after a cancel (the redirect's query names it)."""
    query = request.query_params
    row_id = query.get("cancelled", "")
    if not row_id.isdigit():
        return None
    actions, running = query.get("actions", ""), query.get("running", "")
    if not (actions.isdigit() and running.isdigit()):
        return f"Broadcast #{row_id} cancelled."
    said = f"Broadcast #{row_id} cancelled; {actions} planned action(s) cancelled"
    return said + (f"; {running} already under way will run to its end." if running != "0" else ".")


# The periods the report page offers (a select: nothing to mistype).
REPORT_PERIODS = {
    "6h": timedelta(hours=6),
    "12h": timedelta(hours=12),
    "24h": timedelta(hours=24),
    "48h": timedelta(hours=48),
    "7d": timedelta(days=7),
}


@router.get("/ops/report", response_class=HTMLResponse)
def ops_report(request: Request, ctx: Ctx, who: Who, since: str = "12h", tz: str = "UTC") -> Response:
    """The morning report (`onair report`) as a page."""
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    problems = []
    if since not in REPORT_PERIODS:
        problems.append(f"since: {since!r} is not one of {', '.join(REPORT_PERIODS)}; 12h is shown")
        since = "12h"
    zone_problem = validate_timezone(tz)
    if zone_problem is not None:
        problems.append(f"tz: {zone_problem}; UTC is shown")
        tz = "UTC"
    zone = ZoneInfo(tz)
    now = ctx.clock.now()
    report = build_report(ctx.engine, ctx.settings, now - REPORT_PERIODS[since], now)

    def at(moment: datetime) -> str:
        return day_and_clock(moment, zone)

    return page(
        request,
        "ops_report.html",
        me,
        report=report,
        at=at,
        since=since,
        periods=list(REPORT_PERIODS),
        zone=tz,
        problems=problems,
    )


@router.get("/ops/actions/{action_id}", response_class=HTMLResponse)
def ops_action(request: Request, ctx: Ctx, who: Who, action_id: int, tz: str = "UTC") -> Response:
    """One action's full history: every state change and every API call, as `onair history --action`."""
    me = ops_only(request, who)
    if isinstance(me, Response):
        return me
    retried = request.query_params.get("retried")
    return action_page(request, ctx, me, action_id, tz=tz, notice=RETRIED if retried else None)


RETRIED = "Retry asked: it runs again now, as its next attempt. This page shows how it went."


def ops_only(request: Request, who: SignedIn | None) -> SignedIn | Response:
    """The signed-in ops account, else the answer: the sign-in page, or 403 for an organiser."""
    if who is None:
        return to_login()
    if not who.account.is_ops:
        return page(request, "forbidden.html", who, status_code=403)
    return who


def action_page(
    request: Request,
    ctx: ApiContext,
    who: SignedIn,
    action_id: int,
    *,
    tz: str = "UTC",
    notice: str | None = None,
    problems: list[str] | None = None,
    status_code: int = 200,
) -> Response:
    zone = ZoneInfo("UTC") if validate_timezone(tz) else ZoneInfo(tz)
    try:
        found = history_view(ctx.engine, action_id=action_id, with_events=True)
    except InvalidInput as missing:
        return page(request, "not_found.html", who, status_code=404, problem=str(missing))
    action = found.actions[0]
    events = (found.events or {}).get(action.id, [])

    def at(moment: datetime | None) -> str:
        return "" if moment is None else day_and_clock(moment, zone)

    def gave_up(detail: str | None) -> str | None:
        cause = FailureCause.from_json(detail) if detail else None
        return None if cause is None else cause.summary

    cause = describe_failure(action.state, action.outcome, action.last_error)
    return page(
        request,
        "ops_action.html",
        who,
        status_code=status_code,
        action=action,
        events=events,
        at=at,
        gave_up=gave_up,
        stream=found.stream_names.get(action.stream_id) or action.stream_id,
        zone=zone.key,
        cause=cause if action.state in ("failed", "missed") else None,
        retryable=action.state in ("failed", "missed"),
        notice=notice,
        problems=problems or [],
    )


def _health(engine: Engine, ctx: ApiContext) -> list[CheckResult]:
    """Doctor's lines for the ops page, at most a few seconds old (service.health_cache)."""
    doctor = Doctor(ctx.settings, ctx.fastpix, ctx.clock, _engine=engine)
    return ctx.ops_checks.get(ctx.clock.now(), lambda: doctor.run(OPS_CHECKS))


def health_changed(ctx: ApiContext) -> None:
    """An ops action from the pages changed what doctor's lines say: the next page runs them again."""
    ctx.ops_checks.forget()
