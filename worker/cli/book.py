"""`onair book ...` and `onair organiser ...`: organisers book slots on shared streams.

A booking is a broadcasts row with its organiser set, so the planner treats it like any broadcast
(and it overrides off-hours the same way). No two slots on a stream overlap, lead included: the
database refuses it, and the refusal names the slot in the way. Inputs are checked before anything is
written, the planner runs at once after a change, and errors are one `error:` line with exit 1.
"""

from __future__ import annotations

from typing import Annotated, Any

import typer

from worker.cli import output
from worker.cli.broadcast import (
    AllowPast,
    OneOff,
    Quiet,
    StreamOption,
    TitleOption,
    add_one_off,
    broadcast_json,
    broadcast_status,
    load_broadcast,
)
from worker.cli.cancelling import cancel_and_say
from worker.cli.timeline import AsJson, TzOption, open_store
from worker.cli.timeparse import BadInput, display_zone, iso_utc, show_duration, show_instant
from worker.clock import SystemClock
from worker.service import broadcasts, organisers
from worker.service.cancelling import Schedule
from worker.service.records import Broadcast, Organiser

book_app = typer.Typer(help="Organisers' bookings of slots on shared streams.", no_args_is_help=True)
organiser_app = typer.Typer(help="The people who book slots, each with an API token.", no_args_is_help=True)

BookingId = Annotated[int, typer.Argument(help="The booking id (from `onair book list`).")]
OrganiserName = Annotated[str, typer.Argument(help="The organiser's name, e.g. 'Jazz Club'.")]


@book_app.command("add")
def add(
    stream: StreamOption,
    start: Annotated[str, typer.Option(help="Start: ISO 8601 with offset, or local time with --tz.")],
    end: Annotated[str, typer.Option(help="End, in the same forms as --start.")],
    organiser: Annotated[str, typer.Option("--organiser", help="Who books it (`onair organiser add`).")],
    title: TitleOption = None,
    lead: Annotated[
        str | None,
        typer.Option(
            help="Enable this long before the start, e.g. 10m (default ONAIR_DEFAULT_LEAD_SECONDS)."
        ),
    ] = None,
    tz: TzOption = None,
    allow_past: AllowPast = False,
    quiet: Quiet = False,
    as_json: AsJson = False,
) -> None:
    """Book [START - lead, END) on a stream for an organiser, unless it overlaps another slot."""
    add_one_off(
        OneOff(stream, start, end, tz=tz, lead=lead, allow_past=allow_past, title=title),
        quiet=quiet,
        as_json=as_json,
        head=lambda saved: f"booking {saved.id} added for {saved.organiser_name}",
        to_json=booking_json,
        organiser=organiser,
    )


@book_app.command("list")
def list_bookings(
    organiser: Annotated[str | None, typer.Option("--organiser", help="Only this organiser's.")] = None,
    stream: Annotated[str | None, typer.Option("--stream", help="Only this stream.")] = None,
    include_all: Annotated[bool, typer.Option("--all", help="Include ended and cancelled bookings.")] = False,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """List upcoming and running bookings."""
    now = SystemClock().now()
    with open_store() as (_, engine), output.reporting(BadInput):
        zone = display_zone(tz)
        listed = broadcasts.list_slots(
            engine,
            now=now,
            stream=stream,
            include_all=include_all,
            bookings_only=True,
            organiser_id=None if organiser is None else organisers.organiser_id(engine, organiser),
        )
        rows, names, happened = listed.rows, listed.stream_names, listed.verdicts
    if as_json:
        output.print_json([booking_json(row) for row in rows])
        return
    output.print_table(
        ("id", "organiser", "stream", "start", "end", "lead", "title", "status"),
        (
            (
                row.id,
                row.organiser_name,
                names.get(row.stream_id) or row.stream_id,
                show_instant(row.starts_at, zone),
                show_instant(row.ends_at, zone),
                show_duration(row.lead_seconds),
                row.title,
                broadcast_status(row, happened[row.id]),
            )
            for row in rows
        ),
        title=f"{len(rows)} booking{'s' if len(rows) != 1 else ''}",
    )


@book_app.command("cancel")
def cancel(booking_id: BookingId) -> None:
    """Cancel a booking; its slot is free at once and its pending actions are cancelled."""
    now = SystemClock().now()
    with open_store() as (settings, engine):
        with output.reporting(BadInput):
            row = load_broadcast(engine, booking_id)
            if row.organiser_id is None:
                raise BadInput(f"broadcast {booking_id} is not a booking: use `onair broadcast cancel`")
        cancel_and_say(
            settings,
            engine,
            Schedule.BROADCAST,
            booking_id,
            what=f"booking {booking_id}",
            head=f"booking {booking_id} of {row.organiser_name} cancelled",
            now=now,
        )


def booking_json(row: Broadcast) -> dict[str, Any]:
    return {**broadcast_json(row), "organiser": row.organiser_name, "organiser_id": row.organiser_id}


# -- organisers --------------------------------------------------------------------------------------


@organiser_app.command("add")
def add_organiser(
    name: OrganiserName,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="Print only the token.")] = False,
) -> None:
    """Add an organiser and print their API token and calendar feed URL, once: only hashes are stored."""
    now = SystemClock().now()
    with open_store() as (settings, engine), output.reporting(BadInput):
        # --quiet prints the token alone, so no feed is issued: `onair organiser feed NAME` does it.
        added = organisers.add_organiser(
            engine, name, now=now, public_url=settings.public_url, feed=not quiet
        )
    if added.feed_url is None:
        output.info(added.token)
        return
    output.info(f"organiser {added.name!r} added. Their API token (it cannot be shown again; keep it safe):")
    output.info(added.token)
    output.info("Their calendar feed, to subscribe to in a calendar app (also secret, also shown once):")
    output.info(added.feed_url)


@organiser_app.command("feed")
def new_feed(name: OrganiserName) -> None:
    """Give an organiser a new calendar feed URL and print it once; their previous one stops working."""
    with open_store() as (settings, engine), output.reporting(BadInput):
        feed = organisers.new_feed(engine, name, public_url=settings.public_url)
    output.info(f"organiser {name.strip()!r}: new calendar feed (the previous address no longer works):")
    output.info(feed)


@organiser_app.command("list")
def list_all(
    include_revoked: Annotated[bool, typer.Option("--all", help="Include revoked organisers.")] = False,
    tz: TzOption = None,
    as_json: AsJson = False,
) -> None:
    """List organisers (never their tokens)."""
    with open_store() as (_, engine):
        with output.reporting(BadInput):
            zone = display_zone(tz)
        rows = organisers.list_organisers(engine, include_revoked=include_revoked)
    if as_json:
        output.print_json([organiser_json(row) for row in rows])
        return
    output.print_table(
        ("id", "name", "created", "status"),
        (
            (
                row.id,
                row.name,
                show_instant(row.created_at, zone),
                "active" if row.revoked_at is None else f"revoked {show_instant(row.revoked_at, zone)}",
            )
            for row in rows
        ),
        title=f"{len(rows)} organiser{'s' if len(rows) != 1 else ''}",
    )


@organiser_app.command("revoke")
def revoke(name: OrganiserName) -> None:
    """Revoke an organiser's token at once; their bookings stay (cancel them with `onair book cancel`)."""
    now = SystemClock().now()
    with open_store() as (_, engine), output.reporting(BadInput):
        row = organisers.revoke_organiser(engine, name, now=now)
    output.info(f"organiser {row.name!r} revoked: their token no longer works")


def organiser_json(row: Organiser) -> dict[str, Any]:
    return {
        "id": row.id,
        "name": row.name,
        "created_at": iso_utc(row.created_at),
        "revoked_at": iso_utc(row.revoked_at),
    }
