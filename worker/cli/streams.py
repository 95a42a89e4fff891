"""`onair streams ...`: the operator's tool over the FastPix client.

Reads print a table, or JSON with `--json`. Stream keys and SRT secrets are printed only by `get` and
`create` with `--show-secrets` (the encoder needs them), to stdout, never to a log. Expected
failures (API answers, network trouble, missing credentials, bad input) end with one `error:` line
on stderr and exit code 1. `list` and `get` also show each stream's between-slots policy from onair's
database (a warning, not an error, when it cannot be read); `policy` sets it.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Annotated, Any

import typer
from pydantic import ValidationError

from worker.cli import output
from worker.cli.stream_policy import between_slots_policy, policies_or_warning, policy_cell
from worker.config import MissingSetting
from worker.domain.stream_policy import BetweenSlots
from worker.fastpix import (
    Classification,
    FastPixClient,
    FastPixError,
    InvalidRequest,
    LiveStream,
    classify,
)
from worker.service import budget

app = typer.Typer(help="Inspect and control FastPix live streams directly.", no_args_is_help=True)

EXPECTED_FAILURES = (FastPixError, InvalidRequest, MissingSetting, ValidationError)

StreamId = Annotated[str, typer.Argument(help="The stream id (32 hexadecimal characters).")]
AsJson = Annotated[bool, typer.Option("--json", help="Print JSON for scripts instead of a table.")]
ShowSecrets = Annotated[
    bool,
    typer.Option(
        "--show-secrets",
        help="Also print the stream key and SRT secret, which the encoder needs (never logged).",
    ),
]
Metadata = Annotated[
    list[str] | None,
    typer.Option("--metadata", "-m", help="key=value; repeat for more (at most 10 keys)."),
]
ReconnectWindow = Annotated[
    int | None,
    typer.Option("--reconnect-window", help="Seconds to wait for the encoder to come back (60..1800)."),
]


@contextmanager
def _client() -> Iterator[FastPixClient]:
    with output.reporting(*EXPECTED_FAILURES), budget.budgeted_client() as client:
        yield client


@app.command("list")
def list_streams(
    limit: Annotated[int, typer.Option(help="Page size used to fetch (1..50); every page is shown.")] = 50,
    order: Annotated[str, typer.Option(help="asc (oldest first) or desc (newest first).")] = "desc",
    as_json: AsJson = False,
) -> None:
    """List every stream in the workspace."""
    with _client() as client:
        streams = list(client.iter_streams(page_size=limit, order_by=order))
    policies = policies_or_warning([s.stream_id for s in streams])
    if as_json:
        output.print_json([_public(stream, policies) for stream in streams])
        return
    output.print_table(
        ("id", "status", "resolution", "reconnect s", "created", "between slots", "metadata"),
        (
            (
                s.stream_id,
                s.status,
                s.max_resolution,
                s.reconnect_window,
                _when(s),
                policy_cell(s.stream_id, policies),
                s.metadata,
            )
            for s in streams
        ),
        title=f"{len(streams)} stream{'s' if len(streams) != 1 else ''}",
    )


@app.command("get")
def get_stream(stream_id: StreamId, as_json: AsJson = False, show_secrets: ShowSecrets = False) -> None:
    """Show one stream."""
    with _client() as client:
        stream = client.get_stream(stream_id)
    _show(stream, as_json, show_secrets, policies_or_warning([stream_id]))


@app.command("create")
def create_stream(
    metadata: Metadata = None,
    reconnect_window: ReconnectWindow = 60,
    max_resolution: Annotated[str, typer.Option(help="1080p, 720p or 480p.")] = "1080p",
    access_policy: Annotated[str, typer.Option(help="public or private playback.")] = "public",
    as_json: AsJson = False,
    show_secrets: ShowSecrets = False,
) -> None:
    """Create a stream (not idempotent: running it twice makes two streams)."""
    with _client() as client:
        stream = client.create_stream(
            metadata=_parse_metadata(metadata) if metadata else None,
            reconnect_window=60 if reconnect_window is None else reconnect_window,
            max_resolution=max_resolution,
            access_policy=access_policy,
        )
    _show(stream, as_json, show_secrets)


@app.command("update")
def update_stream(
    stream_id: StreamId,
    metadata: Metadata = None,
    reconnect_window: ReconnectWindow = None,
    as_json: AsJson = False,
) -> None:
    """Change a stream's metadata (replaces it) and/or reconnect window."""
    with _client() as client:
        stream = client.update_stream(
            stream_id,
            metadata=_parse_metadata(metadata) if metadata else None,
            reconnect_window=reconnect_window,
        )
    _show(stream, as_json)


@app.command("enable")
def enable_stream(stream_id: StreamId) -> None:
    """Enable a disabled stream (it becomes idle, ready for an encoder)."""
    with _client() as client:
        _act(client.enable_stream, stream_id, "enabled")


@app.command("disable")
def disable_stream(stream_id: StreamId) -> None:
    """Disable a stream; a live broadcast on it ends at once."""
    with _client() as client:
        _act(client.disable_stream, stream_id, "disabled")


@app.command("finish")
def finish_stream(stream_id: StreamId) -> None:
    """Complete the live broadcast on an active stream."""
    with _client() as client:
        client.finish_stream(stream_id)
    output.info(f"stream {stream_id} finished")


@app.command("delete")
def delete_stream(
    stream_id: StreamId,
    yes: Annotated[bool, typer.Option("--yes", "-y", help="Do not ask for confirmation.")] = False,
) -> None:
    """Delete a stream for good (even a live one)."""
    if not yes and not typer.confirm(f"Delete stream {stream_id} permanently?", default=False):
        output.fail("not deleted: not confirmed")
    with _client() as client:
        client.delete_stream(stream_id)
    output.info(f"stream {stream_id} deleted")


app.command("policy")(between_slots_policy)


@app.command("viewers")
def viewers(stream_id: StreamId, as_json: AsJson = False) -> None:
    """Show a stream's approximate viewer count."""
    with _client() as client:
        views = client.viewer_count(stream_id)
    if as_json:
        output.print_json({"streamId": stream_id, "views": views})
    else:
        output.info(f"{views} viewer{'s' if views != 1 else ''}")


def _act(action: Callable[[str], None], stream_id: str, done: str) -> None:
    try:
        action(stream_id)
    except FastPixError as exc:
        if classify(exc) is not Classification.ALREADY_IN_STATE:
            raise
        output.info(f"stream {stream_id} was already {done}; nothing changed")
        return
    output.info(f"stream {stream_id} {done}")


def _parse_metadata(pairs: list[str]) -> dict[str, str]:
    parsed: dict[str, str] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep or not key:
            raise InvalidRequest(f"metadata must be given as key=value, got {pair!r}")
        if key in parsed:
            raise InvalidRequest(f"metadata key {key!r} given twice")
        parsed[key] = value
    return parsed


def _public(stream: LiveStream, policies: dict[str, BetweenSlots] | None = None) -> dict[str, Any]:
    # Secret fields are left out entirely rather than shown masked: scripts should not see them at all.
    shown = stream.model_dump(
        mode="json",
        by_alias=True,
        exclude={"stream_key", "srt_secret", "srt_playback_response", "simulcast_responses"},
    )
    return {**shown, "betweenSlots": policy_cell(stream.stream_id, policies)}


def _secrets(stream: LiveStream) -> list[tuple[str, str]]:
    return [
        (name, secret.get_secret_value() if secret is not None else "")
        for name, secret in (("streamKey", stream.stream_key), ("srtSecret", stream.srt_secret))
    ]


def _when(stream: LiveStream) -> str:
    return stream.created_at.strftime("%Y-%m-%d %H:%M:%SZ") if stream.created_at else ""


def _show(
    stream: LiveStream,
    as_json: bool,
    show_secrets: bool = False,
    policies: dict[str, BetweenSlots] | None = None,
) -> None:
    secrets = _secrets(stream) if show_secrets else []
    if as_json:
        output.print_json(_public(stream, policies) | dict(secrets))
        return
    output.print_fields(
        [
            ("id", stream.stream_id),
            ("status", stream.status),
            ("max resolution", stream.max_resolution),
            ("reconnect window s", stream.reconnect_window),
            ("max duration s", stream.max_duration),
            ("recording", stream.enable_recording),
            ("media policy", stream.media_policy),
            ("created", _when(stream)),
            ("between slots", policy_cell(stream.stream_id, policies)),
            ("metadata", stream.metadata),
            ("playback ids", [f"{p.id} ({p.access_policy})" for p in stream.playback_ids]),
            *[(f"{name} (secret)", value) for name, value in secrets],
        ]
    )
