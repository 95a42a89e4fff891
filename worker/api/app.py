"""create_app: the Starlette application for `onair api`, on a database engine or onair's settings."""

from __future__ import annotations

import html
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from sqlalchemy import Engine
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Route

from worker.api.context import ApiContext
from worker.api.errors import ApiError, on_api_error, on_crash, on_http_error
from worker.api.openapi import build_document
from worker.api.routes import bookings, health, plan, streams
from worker.api.routing import Endpoint
from worker.api.routing import routes as endpoint_routes
from worker.clock import Clock, SystemClock
from worker.config import OnairSettings
from worker.store.db import make_engine

ENDPOINTS: list[Endpoint] = [
    *health.ENDPOINTS,
    *streams.ENDPOINTS,
    *bookings.ENDPOINTS,
    *plan.ENDPOINTS,
]


def create_app(
    engine_or_settings: Engine | OnairSettings,
    *,
    settings: OnairSettings | None = None,
    clock: Clock | None = None,
) -> Starlette:
    """The API on this engine (with `settings`, default read from the environment) or on the database
    the settings name. The engine is the caller's to dispose of."""
    if isinstance(engine_or_settings, OnairSettings):
        settings = engine_or_settings
        engine = make_engine(settings.database_url)
    else:
        engine = engine_or_settings
        settings = settings or OnairSettings()
    ctx = ApiContext(engine=engine, settings=settings, clock=clock or SystemClock())
    document = build_document(ENDPOINTS, version=_version())
    page = _docs_page(document)

    async def openapi(_request: Request) -> Response:
        return JSONResponse(document)

    async def docs(_request: Request) -> Response:
        return HTMLResponse(page)

    routes = endpoint_routes(ENDPOINTS, ctx)
    routes += [Route("/openapi.json", openapi, methods=["GET"]), Route("/docs", docs, methods=["GET"])]
    app = Starlette(
        routes=routes,
        exception_handlers={ApiError: on_api_error, HTTPException: on_http_error, Exception: on_crash},
    )
    app.state.context = ctx
    return app


def _version() -> str:
    try:
        return version("onair")
    except PackageNotFoundError:
        return "0.0.0"


def _docs_page(document: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(op['summary'])}</td></tr>"
        for path, operations in document["paths"].items()
        for method, op in operations.items()
    )
    return (
        "<!doctype html><html><head><meta charset='utf-8'><title>onair booking API</title></head><body>"
        f"<h1>onair booking API</h1><p>{html.escape(document['info']['description'])}</p>"
        "<p>The machine-readable description is <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"<table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>what</th></tr>{rows}</table>"
        "</body></html>"
    )
