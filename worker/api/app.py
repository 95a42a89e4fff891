"""create_app: the FastAPI application for `onair api`, on a database engine or onair's settings."""

from __future__ import annotations

from importlib.metadata import PackageNotFoundError, version

import uvicorn
from fastapi import Depends, FastAPI
from fastapi.exceptions import RequestValidationError
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine
from starlette.exceptions import HTTPException

from worker.api import docs
from worker.api.context import ApiContext
from worker.api.deps import plain_query
from worker.api.errors import ApiError, on_api_error, on_crash, on_http_error, on_validation_error
from worker.api.head import HeadAsGet
from worker.api.headers import SecurityHeaders
from worker.api.limits import BodyLimit
from worker.api.redact import redact_access_log
from worker.api.routes import bookings, calendar, health, plan, streams, webhooks
from worker.clock import Clock, SystemClock
from worker.config import FastPixSettings, OnairSettings
from worker.service.database import make_engine
from worker.web import ops_controls, organiser, pages

ROUTERS = (health.router, streams.router, bookings.router, plan.router, calendar.router, webhooks.router)


def create_app(
    engine_or_settings: Engine | OnairSettings,
    *,
    settings: OnairSettings | None = None,
    clock: Clock | None = None,
    fastpix: FastPixSettings | None = None,
) -> FastAPI:
    """The API on this engine (with `settings`, default read from the environment) or on the database
    the settings name (`fastpix` default read from the environment). The engine is the caller's to
    dispose of."""
    if isinstance(engine_or_settings, OnairSettings):
        settings = engine_or_settings
        engine = make_engine(settings.database_url)
    else:
        engine = engine_or_settings
        settings = settings or OnairSettings()
    app = FastAPI(
        title="onair booking API",
        version=_version(),
        openapi_url=None,
        docs_url=None,
        redoc_url=None,
        # A body sent without a Content-Type is read as JSON; one with another type is a 415.
        strict_content_type=False,
        dependencies=[Depends(plain_query)],
        exception_handlers={
            ApiError: on_api_error,
            RequestValidationError: on_validation_error,
            HTTPException: on_http_error,
            Exception: on_crash,
        },
    )
    app.state.context = ApiContext(
        engine=engine, settings=settings, clock=clock or SystemClock(), fastpix=fastpix or FastPixSettings()
    )
    for router in ROUTERS:
        app.include_router(router)
    app.include_router(pages.router)
    app.include_router(organiser.router)
    app.include_router(ops_controls.router)
    app.mount("/static", StaticFiles(packages=[("worker.web", "static")]), name="web-static")
    docs.install(app)
    app.add_middleware(BodyLimit)
    app.add_middleware(HeadAsGet)
    app.add_middleware(SecurityHeaders)
    return app


def server_config(app: FastAPI, *, host: str, port: int, **options: object) -> uvicorn.Config:
    """How onair runs the app under uvicorn: without uvicorn's `server` banner, and with feed secrets
    redacted from the access log (uvicorn sets its loggers up here, so the filter goes on after)."""
    config = uvicorn.Config(app, host=host, port=port, server_header=False, **options)  # type: ignore[arg-type]
    redact_access_log()
    return config


def _version() -> str:
    try:
        return version("onair")
    except PackageNotFoundError:
        return "0.0.0"
