"""`onair api`: the organisers' booking API over HTTP (docs/api.md)."""

from __future__ import annotations

import typer
import uvicorn

from worker.cli.timeline import open_store


def api(
    host: str = typer.Option("127.0.0.1", help="Interface to listen on (0.0.0.0 for every one)."),
    port: int = typer.Option(8000, min=1, max=65535, help="Port to listen on."),
) -> None:
    """Serve the booking API: free/busy of every stream, organisers' own bookings, the plan.

    Organisers authenticate with the token `onair organiser add NAME` prints. The OpenAPI document is
    at /openapi.json, a page for people at /docs (it works offline), and /health answers load balancers.
    """
    from worker.api.app import create_app, server_config

    with open_store() as (settings, engine):
        app = create_app(engine, settings=settings)
        typer.echo(
            f"onair API on http://{host}:{port} (OpenAPI at /openapi.json, database {engine.dialect.name})"
        )
        server = uvicorn.Server(server_config(app, host=host, port=port, log_level="info", access_log=True))
        server.run()
    if not server.started:
        raise typer.Exit(1)
