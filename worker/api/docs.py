"""The OpenAPI document (FastAPI's, completed) and the /docs page, which works without internet.

FastAPI's Swagger UI loads its script and style from a CDN by default, which a browser behind a
firewall (or on an isolated network) cannot reach. The page here uses the copies of Swagger UI that
the `fastapi-offline` package ships, served under /docs/assets, and lists every endpoint in plain
HTML as well, so it says something useful even with scripts off.
"""

from __future__ import annotations

import html
from importlib.resources import files
from typing import Any

from fastapi import FastAPI
from fastapi.openapi.docs import get_swagger_ui_html
from fastapi.openapi.utils import get_openapi
from fastapi.responses import HTMLResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

ASSETS = "/docs/assets"
DESCRIPTION = (
    "Organisers book slots on shared FastPix streams. Authenticate with `Authorization: Bearer <token>` "
    "(from `onair organiser add NAME`). Times in: ISO 8601 with an offset; out: UTC with Z, plus "
    "*_local fields in the zone given by ?tz=."
)


def install(app: FastAPI) -> None:
    """Serve /openapi.json and /docs (both listed in the document themselves) and the page's assets."""
    app.openapi = lambda: _document(app)  # type: ignore[method-assign]
    app.mount(ASSETS, StaticFiles(directory=str(files("fastapi_offline") / "static")), name="docs-assets")

    @app.get(
        "/openapi.json",
        operation_id="openApi",
        summary="This document",
        tags=["meta"],
        response_model=dict[str, Any],
    )
    def openapi() -> JSONResponse:
        return JSONResponse(app.openapi())

    @app.get(
        "/docs",
        operation_id="docs",
        summary="A page for people: every endpoint, tried out in the browser",
        tags=["meta"],
        response_class=HTMLResponse,
    )
    def docs() -> HTMLResponse:
        page = get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=f"{app.title}: docs",
            swagger_js_url=f"{ASSETS}/swagger-ui-bundle.js",
            swagger_css_url=f"{ASSETS}/swagger-ui.css",
            swagger_favicon_url=f"{ASSETS}/favicon.png",
        )
        text = bytes(page.body).decode("utf-8")
        return HTMLResponse(text.replace("</body>", _endpoint_list(app.openapi()) + "</body>", 1))


def _document(app: FastAPI) -> dict[str, Any]:
    if app.openapi_schema is None:
        document = get_openapi(
            title=app.title, version=app.version, description=DESCRIPTION, routes=app.routes
        )
        for item in document["paths"].values():
            for operation in item.values():
                # An endpoint without a bearer dependency needs no token: say so explicitly.
                operation.setdefault("security", [])
                # FastAPI files an error under the route's own media type (text/calendar for the
                # feed); every error body is JSON.
                for status, response in operation["responses"].items():
                    content = response.get("content", {})
                    if int(status) >= 400 and "application/json" not in content and content:
                        response["content"] = {"application/json": next(iter(content.values()))}
        app.openapi_schema = document
    return app.openapi_schema


def _endpoint_list(document: dict[str, Any]) -> str:
    rows = "".join(
        f"<tr><td><code>{method.upper()}</code></td><td><code>{html.escape(path)}</code></td>"
        f"<td>{html.escape(op.get('summary', ''))}</td></tr>"
        for path, operations in document["paths"].items()
        for method, op in operations.items()
    )
    return (
        "<noscript><h1>onair booking API</h1>"
        f"<p>{html.escape(document['info']['description'])}</p>"
        "<p>The machine-readable description is <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"<table border='1' cellpadding='4'><tr><th>method</th><th>path</th><th>what</th></tr>{rows}"
        "</table></noscript>"
    )
