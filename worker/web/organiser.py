"""The organiser's pages: the week view at `/`, `/book`, one booking with its move form, cancelling
with a confirmation, and a calendar feed address to copy. Each route parses the form, calls the
service layer (service.booking_desk, service.week_view, service.calendar_feed) and renders."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime
from functools import lru_cache
from typing import Annotated
from zoneinfo import ZoneInfo, available_timezones

from fastapi import APIRouter, Form, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from markupsafe import Markup

from worker.api.deps import Ctx
from worker.domain.local_time import clock_text, day_and_clock, read_wall_time, wall_input
from worker.domain.recurrence import validate_timezone
from worker.service import booking_desk
from worker.service.booking_desk import BookingCollides, BookingView
from worker.service.bookings import BookingClosed, BookingInput, BookingNotFound
from worker.service.calendar_feed import new_feed_address
from worker.service.errors import InvalidInput
from worker.service.week_view import monday_of, organiser_week
from worker.web.pages import Csrf, SignedIn, Who, csrf_refused, page, templates, to_login

router = APIRouter(include_in_schema=False)
ZONE_COOKIE = "onair_tz"
ZONE_COOKIE_SECONDS = 400 * 24 * 3600  # browsers keep a cookie at most 400 days
ZONES = [
    *sorted(z for z in available_timezones() if "/" in z and not z.startswith(("Etc/", "SystemV/"))),
    "UTC",
]


@lru_cache(maxsize=64)
def zone_options(selected: str) -> Markup:
    """The zone select's options with `selected` chosen: about 440 of them (17 KB), rendered once per
    chosen zone rather than on every page."""
    return Markup("").join(
        Markup('<option value="{0}"{1}>{0}</option>').format(z, Markup(" selected") if z == selected else "")
        for z in ZONES
    )


templates.env.globals["zone_options"] = zone_options
# The inputs of the booking form, named as the issue asks.
FIELDS = ("stream", "start", "end", "tz", "title", "lead")


@dataclass(frozen=True)
class Zone:
    zone: ZoneInfo
    problem: str | None  # why the zone asked for is not the one used
    chosen: bool  # the organiser chose it (now or before); else the browser's is offered


def _zone(request: Request, asked: str | None) -> Zone:
    """The zone asked for in this request, else the remembered one, else UTC (not yet chosen)."""
    for name, source in ((asked, "asked"), (request.cookies.get(ZONE_COOKIE), "remembered")):
        if not name:
            continue
        problem = validate_timezone(name)
        if problem is None:
            return Zone(ZoneInfo(name), None, True)
        if source == "asked":
            return Zone(ZoneInfo("UTC"), f"{problem}: times are shown in UTC", False)
    return Zone(ZoneInfo("UTC"), None, False)


def _remember(response: Response, zone: Zone, asked: str | None) -> Response:
    if asked and zone.problem is None:
        response.set_cookie(
            ZONE_COOKIE, zone.zone.key, max_age=ZONE_COOKIE_SECONDS, httponly=True, samesite="lax", path="/"
        )
    return response


def _organiser(who: SignedIn | None) -> SignedIn | Response:
    if who is None:
        return to_login()
    if who.account.is_ops:
        return RedirectResponse("/ops", status_code=303)
    return who


@router.get("/", response_class=HTMLResponse)
def week(request: Request, ctx: Ctx, who: Who, tz: str | None = None, week: str | None = None) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    zone = _zone(request, tz)
    problem = zone.problem
    monday = monday_of(ctx.clock.now(), zone.zone)
    if week:
        try:
            monday = date.fromisoformat(week)
        except ValueError:
            problem = f"week: {week!r} is not a date like 2026-12-07; this week is shown"
    shown = organiser_week(ctx.engine, me.account.id, monday=monday, zone=zone.zone)
    response = page(
        request,
        "week.html",
        me,
        week=shown,
        zone=zone,
        problem=problem,
        cancelled=request.query_params.get("cancelled"),
    )
    return _remember(response, zone, tz)


@router.get("/book", response_class=HTMLResponse)
def book_form(request: Request, ctx: Ctx, who: Who) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    values = {f: request.query_params.get(f, "") for f in FIELDS}
    return _book_page(request, ctx, me, values)


@router.post("/book", response_class=HTMLResponse)
def book(
    request: Request,
    ctx: Ctx,
    who: Who,
    csrf: Csrf = "",
    stream: Annotated[str, Form()] = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    tz: Annotated[str, Form()] = "",
    title: Annotated[str, Form()] = "",
    lead: Annotated[str, Form()] = "",
) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    refused = csrf_refused(me, csrf)
    if refused is not None:
        return refused
    values = {"stream": stream, "start": start, "end": end, "tz": tz, "title": title, "lead": lead}
    zone = _zone(request, tz)
    problems = [zone.problem] if zone.problem else []
    starts_at = _wall(problems, "start", start, zone.zone)
    ends_at = _wall(problems, "end", end, zone.zone)
    lead_seconds = _lead(problems, lead, ctx.settings.default_lead_seconds)
    if problems or starts_at is None or ends_at is None or lead_seconds is None:
        return _book_page(request, ctx, me, values, problems=problems, status_code=422)
    wanted = BookingInput(stream, starts_at, ends_at, lead_seconds, title.strip() or None)
    try:
        booking_id = booking_desk.book(ctx.settings, ctx.engine, ctx.clock, me.account.id, wanted)
    except InvalidInput as invalid:
        problems = [f"{_field(p.field)}: {p.message}" for p in invalid.problems]
        return _book_page(request, ctx, me, values, problems=problems, status_code=422)
    except BookingCollides as collides:
        return _book_page(
            request, ctx, me, values, collision=_collision(collides, zone.zone, wanted), status_code=409
        )
    response = RedirectResponse(f"/bookings/{booking_id}?booked=1", status_code=303)
    return _remember(response, zone, tz)


@router.get("/bookings/{booking_id}", response_class=HTMLResponse)
def booking(request: Request, ctx: Ctx, who: Who, booking_id: int) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    return _booking_page(request, ctx, me, booking_id)


@router.post("/bookings/{booking_id}/move", response_class=HTMLResponse)
def move(
    request: Request,
    ctx: Ctx,
    who: Who,
    booking_id: int,
    csrf: Csrf = "",
    start: Annotated[str, Form()] = "",
    end: Annotated[str, Form()] = "",
    tz: Annotated[str, Form()] = "",
) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    refused = csrf_refused(me, csrf)
    if refused is not None:
        return refused
    zone = _zone(request, tz)
    problems = [zone.problem] if zone.problem else []
    starts_at = _wall(problems, "start", start, zone.zone)
    ends_at = _wall(problems, "end", end, zone.zone)
    kept = {"start": start, "end": end, "tz": tz}
    if problems or starts_at is None or ends_at is None:
        return _booking_page(request, ctx, me, booking_id, kept=kept, problems=problems, status_code=422)
    try:
        booking_desk.move(
            ctx.settings,
            ctx.engine,
            ctx.clock,
            me.account.id,
            booking_id,
            starts_at=starts_at,
            ends_at=ends_at,
            actor=me.account.name,
        )
    except BookingNotFound:
        return _booking_page(request, ctx, me, booking_id)
    except (BookingClosed, InvalidInput) as refused_move:
        problems = (
            [f"{_field(p.field)}: {p.message}" for p in refused_move.problems]
            if isinstance(refused_move, InvalidInput)
            else [str(refused_move)]
        )
        return _booking_page(request, ctx, me, booking_id, kept=kept, problems=problems, status_code=422)
    except BookingCollides as collides:
        view = booking_desk.booking_view(ctx.engine, me.account.id, booking_id, now=ctx.clock.now())
        wanted = BookingInput(view.stream_id, starts_at, ends_at, view.lead_seconds, view.title)
        return _booking_page(
            request,
            ctx,
            me,
            booking_id,
            kept=kept,
            collision=_collision(collides, zone.zone, wanted),
            status_code=409,
        )
    return _remember(RedirectResponse(f"/bookings/{booking_id}?moved=1", status_code=303), zone, tz)


@router.get("/bookings/{booking_id}/cancel", response_class=HTMLResponse)
def cancel_confirm(request: Request, ctx: Ctx, who: Who, booking_id: int) -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    return _booking_page(request, ctx, me, booking_id, template="cancel.html")


@router.post("/bookings/{booking_id}/cancel", response_class=HTMLResponse)
def cancel(request: Request, ctx: Ctx, who: Who, booking_id: int, csrf: Csrf = "") -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    refused = csrf_refused(me, csrf)
    if refused is not None:
        return refused
    try:
        booking_desk.cancel(
            ctx.settings, ctx.engine, ctx.clock, me.account.id, booking_id, actor=me.account.name
        )
    except BookingNotFound:
        return _booking_page(request, ctx, me, booking_id)
    except BookingClosed as closed:
        return _booking_page(request, ctx, me, booking_id, problems=[str(closed)], status_code=409)
    return RedirectResponse(f"/?cancelled={booking_id}", status_code=303)


@router.post("/calendar", response_class=HTMLResponse)
def calendar_address(request: Request, ctx: Ctx, who: Who, csrf: Csrf = "") -> Response:
    me = _organiser(who)
    if isinstance(me, Response):
        return me
    refused = csrf_refused(me, csrf)
    if refused is not None:
        return refused
    address = new_feed_address(ctx.engine, me.account.id, ctx.settings.public_url)
    return page(request, "calendar.html", me, address=address)


def _book_page(
    request: Request,
    ctx: Ctx,
    me: SignedIn,
    values: dict[str, str],
    *,
    problems: list[str] | None = None,
    collision: dict[str, object] | None = None,
    status_code: int = 200,
) -> Response:
    zone = _zone(request, values.get("tz") or None)
    return page(
        request,
        "book.html",
        me,
        status_code=status_code,
        values=values,
        streams=booking_desk.streams_to_book(ctx.engine),
        zone=zone,
        problems=problems or [],
        collision=collision,
        default_lead_minutes=round(ctx.settings.default_lead_seconds / 60),
    )


def _booking_page(
    request: Request,
    ctx: Ctx,
    me: SignedIn,
    booking_id: int,
    *,
    kept: dict[str, str] | None = None,
    problems: list[str] | None = None,
    collision: dict[str, object] | None = None,
    status_code: int = 200,
    template: str = "booking.html",
) -> Response:
    try:
        view = booking_desk.booking_view(ctx.engine, me.account.id, booking_id, now=ctx.clock.now())
    except BookingNotFound as missing:
        return page(request, "not_found.html", me, status_code=404, problem=str(missing))
    zone = _zone(request, (kept or {}).get("tz") or None)
    values = kept or {
        "start": wall_input(view.starts_at, zone.zone),
        "end": wall_input(view.ends_at, zone.zone),
        "tz": zone.zone.key,
    }
    return page(
        request,
        template,
        me,
        status_code=status_code,
        booking=view,
        shown=_shown(view, zone.zone),
        values=values,
        zone=zone,
        problems=problems or [],
        collision=collision,
        booked=request.query_params.get("booked") == "1",
        moved=request.query_params.get("moved") == "1",
    )


def _shown(view: BookingView, zone: ZoneInfo) -> dict[str, str]:
    return {
        "starts": day_and_clock(view.starts_at, zone),
        "ends": day_and_clock(view.ends_at, zone),
        "lead": f"{view.lead_seconds // 60} min" if view.lead_seconds % 60 == 0 else f"{view.lead_seconds} s",
    }


def _collision(collides: BookingCollides, zone: ZoneInfo, wanted: BookingInput) -> dict[str, object]:
    """The conflict in words, in the organiser's zone, and the free slot as form values."""
    taken = [
        (f"your booking #{t.id}" + (f" “{t.title}”" if t.title else "") if t.mine else "a busy slot")
        + f" from {day_and_clock(t.starts_at, zone)} to {clock_text(t.ends_at, zone)}"
        for t in collides.taken
    ]
    free = None
    if collides.free_at is not None:
        begins, ends = collides.free_at
        free = {
            "words": f"{day_and_clock(begins, zone)} to {clock_text(ends, zone)}",
            "start": wall_input(begins, zone),
            "end": wall_input(ends, zone),
            "tz": zone.key,
            "stream": wanted.stream_id,
        }
    lead = "" if wanted.lead_seconds == 0 else f" (with its {wanted.lead_seconds // 60} min lead)"
    return {"taken": taken, "free": free, "lead": lead}


def _wall(problems: list[str], field: str, text: str, zone: ZoneInfo) -> datetime | None:
    if not text.strip():
        problems.append(f"{field}: required")
        return None
    try:
        return read_wall_time(field, text, zone)
    except ValueError as bad:
        problems.append(str(bad))
        return None


def _lead(problems: list[str], text: str, default_seconds: int) -> int | None:
    if not text.strip():
        return default_seconds
    try:
        minutes = int(text.strip())
    except ValueError:
        problems.append(f"lead: {text.strip()!r} is not a whole number of minutes")
        return None
    if not 0 <= minutes <= 120:
        problems.append(f"lead: {minutes} min is outside 0 to 120 min")
        return None
    return minutes * 60


def _field(name: str) -> str:
    return {"stream_id": "stream", "lead_seconds": "lead"}.get(name, name)
