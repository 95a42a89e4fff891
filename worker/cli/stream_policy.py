"""`onair streams policy ID [--between-slots keep|disable]`: what the scheduler does with a stream
between its slots (worker.domain.stream_policy), and the policies `onair streams list/get` show."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy.exc import SQLAlchemyError

from worker.cli import output
from worker.cli.timeline import AsJson, open_store, replan
from worker.cli.timeparse import BadInput
from worker.clock import SystemClock
from worker.config import OnairSettings
from worker.domain.stream_policy import BetweenSlots, describe, parse_between_slots
from worker.service import stream_policy
from worker.service.database import SchemaError, ensure_schema_current, make_engine, normalise_url
from worker.service.streams_lookup import record_stream, register_stream_if_needed

StreamId = Annotated[str, typer.Argument(help="The stream id (32 hexadecimal characters).")]


def between_slots_policy(
    stream_id: StreamId,
    between_slots: Annotated[
        str | None,
        typer.Option(
            "--between-slots",
            help="keep (default: the stream stays enabled after a slot) or disable (disabled after each "
            "slot, unless the next slot's enable is a few minutes away). Without it: show the policy.",
        ),
    ] = None,
    as_json: AsJson = False,
) -> None:
    """Show or set what the scheduler does with a stream between its slots."""
    with open_store() as (settings, engine), output.reporting(BadInput, stream_policy.UnknownStream):
        if between_slots is None:
            current = stream_policy.policies_of(engine, [stream_id]).get(stream_id)
            if current is None:
                raise BadInput(f"unknown stream {stream_id!r}: not in onair's streams table")
            _say_policy(stream_id, current, as_json)
            return
        try:
            parse_between_slots(between_slots)
        except ValueError as exc:
            raise BadInput(str(exc)) from None
        found = register_stream_if_needed(engine, stream_id)
        if found is not None:  # FastPix knows it, onair not yet: record it first
            record_stream(engine, found, SystemClock().now())
        change = stream_policy.set_between_slots(engine, stream_id, between_slots)
        if change.changed:
            replan(settings, engine)
    if not as_json and not change.changed:
        output.info(f"stream {stream_id} already had this between-slots policy; nothing changed")
    _say_policy(stream_id, change.after, as_json)


def _say_policy(stream_id: str, policy: BetweenSlots, as_json: bool) -> None:
    if as_json:
        output.print_json({"streamId": stream_id, "betweenSlots": policy.value})
    else:
        output.info(f"stream {stream_id} between slots: {describe(policy)}")


def policies_or_warning(stream_ids: list[str]) -> dict[str, BetweenSlots] | None:
    """The streams' between-slots policies from onair's database; None (with a warning) when it
    cannot be read: these commands work on FastPix alone too."""
    try:
        settings = OnairSettings()
        url = normalise_url(settings.database_url)
        if url.get_backend_name() == "sqlite" and url.database and not Path(url.database).exists():
            # Opening it would leave an empty database file behind, wherever this runs.
            raise ValueError(f"no onair database at {url.database} (ONAIR_DATABASE_URL)")
        engine = make_engine(url)
    except (ValueError, SQLAlchemyError) as exc:
        typer.echo(f"warning: between-slots policies not shown: {output.one_line(str(exc))}", err=True)
        return None
    try:
        ensure_schema_current(engine)
        return stream_policy.policies_of(engine, stream_ids)
    except (SchemaError, SQLAlchemyError) as exc:
        typer.echo(f"warning: between-slots policies not shown: {output.one_line(str(exc))}", err=True)
        return None
    finally:
        engine.dispose()


def policy_cell(stream_id: str, policies: dict[str, BetweenSlots] | None) -> str | None:
    """The stream's policy; a stream onair has not met yet gets the default once it does."""
    if policies is None:
        return None
    return policies.get(stream_id, BetweenSlots.KEEP).value
