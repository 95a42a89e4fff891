"""`onair simulator`: FastPix on localhost."""

from __future__ import annotations

from pathlib import Path

import typer
import uvicorn

from worker.config import FastPixSettings, MissingSetting, OnairSettings


def simulator(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on."),
    port: int = typer.Option(8080, help="Port to listen on."),
    state_file: Path | None = typer.Option(
        None, help="Where streams, faults and the call log persist (default: $ONAIR_DATA_DIR/simulator.json)."
    ),
    time_scale: float = typer.Option(
        1.0, min=0.0, help="Multiplies reconnect windows, e.g. 0.01 turns 60 s into 0.6 s."
    ),
    connect_delay: float = typer.Option(1.0, min=0.0, help="Seconds an encoder spends in 'preparing'."),
    flush_interval: float = typer.Option(
        0.05, min=0.001, help="At most this long between state writes; a kill -9 loses at most this much."
    ),
    webhook_url: str | None = typer.Option(
        None, help="POST a signed FastPix webhook here for every stream status change."
    ),
    webhook_secret: str | None = typer.Option(
        None,
        envvar="FASTPIX_WEBHOOK_SECRET",
        show_default=False,
        help="The Base64 signing secret (as FastPix's dashboard shows it); default $FASTPIX_WEBHOOK_SECRET.",
    ),
    rate_limit: int | None = typer.Option(
        None, min=1, help="Answer 429 to /v1 requests above this many per second (sliding 1 s window)."
    ),
) -> None:
    """Run the FastPix simulator: the /v1/live/streams API plus a /_sim control API.

    Basic auth is checked against FASTPIX_ACCESS_TOKEN_ID / FASTPIX_SECRET_KEY, so a client
    configured for the simulator (FASTPIX_API_URL=http://HOST:PORT/v1) just works.
    """
    from worker.simulator.app import create_app

    try:
        token_id, secret = FastPixSettings().credentials()
    except MissingSetting as exc:
        typer.echo(f"error: {exc}; the simulator checks Basic auth against it", err=True)
        raise typer.Exit(2) from exc
    if webhook_url is not None and not webhook_secret:
        typer.echo("error: --webhook-url needs --webhook-secret (or FASTPIX_WEBHOOK_SECRET)", err=True)
        raise typer.Exit(2)
    path = state_file or Path(OnairSettings().data_dir) / "simulator.json"
    try:
        app = create_app(
            path,
            token_id,
            secret,
            time_scale=time_scale,
            connect_delay=connect_delay,
            flush_interval=flush_interval,
            webhook_url=webhook_url,
            webhook_secret=webhook_secret if webhook_url is not None else None,
            rate_limit=rate_limit,
        )
    except ValueError as exc:
        typer.echo(f"error: {exc}", err=True)
        raise typer.Exit(2) from exc
    typer.echo(
        f"FastPix simulator: API http://{host}:{port}/v1, control http://{host}:{port}/_sim, state {path}"
    )
    if webhook_url is not None:
        typer.echo(f"webhooks: every status change to {webhook_url.split('?')[0]}, signed")
    server = uvicorn.Server(uvicorn.Config(app, host=host, port=port, log_level="warning", access_log=False))
    try:
        server.run()  # SIGTERM/SIGINT: graceful shutdown, whose lifespan hook flushes the state
    finally:
        app.stop_background()
        app.state.close()
    if not server.started:
        raise typer.Exit(1)
