"""The API's OpenAPI document, served over HTTP: valid OpenAPI 3.1, listing every route, and honest:
real answers of each kind match the schema it documents for their status."""

from __future__ import annotations

import json
import os
import re
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from jsonschema import Draft202012Validator
from openapi_spec_validator import validate as validate_spec

from tests.integration.api_support import (
    ONAIR,
    ApiServer,
    api_server,
    booking_body,
    free_port,
    hour,
    onair_api,
)
from tests.integration.store_support import migrated
from worker.api.app import ROUTERS

METHODS = {"get", "put", "post", "delete", "options", "head", "patch", "trace"}


@pytest.fixture(params=["sqlite"])
def api(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ApiServer]:
    yield from api_server(request, tmp_path)


@pytest.fixture
def document(api: ApiServer) -> dict[str, Any]:
    with api.client() as anonymous:
        response = anonymous.get("/openapi.json")
    assert response.status_code == 200
    assert response.headers["content-type"].startswith("application/json")
    doc: dict[str, Any] = response.json()
    return doc


def test_the_document_is_valid_openapi_31(document: dict[str, Any]) -> None:
    validate_spec(document)
    assert document["openapi"].startswith("3.1")
    for schema in document["components"]["schemas"].values():
        Draft202012Validator.check_schema(schema)
    refs = set(re.findall(r'"\$ref": "([^"]+)"', json.dumps(document)))
    assert refs, "the document names its schemas by reference"
    for ref in refs:
        assert ref.startswith("#/components/schemas/")
        assert ref.rsplit("/", 1)[1] in document["components"]["schemas"], f"{ref} does not resolve"
    operation_ids = [op["operationId"] for item in document["paths"].values() for op in item.values()]
    assert len(operation_ids) == len(set(operation_ids))
    for path, item in document["paths"].items():
        for operation in item.values():
            declared = {p["name"] for p in operation.get("parameters", []) if p["in"] == "path"}
            assert declared == set(re.findall(r"{(\w+)}", path)), (path, declared)


def test_every_route_is_documented_with_its_auth_and_error_statuses(
    api: ApiServer, document: dict[str, Any]
) -> None:
    served = {
        (method.lower(), route.path)
        for router in ROUTERS
        for route in router.routes
        for method in getattr(route, "methods", ())
    } | {("get", "/openapi.json"), ("get", "/docs")}
    documented = {(m, p) for p, item in document["paths"].items() for m in item if m in METHODS}
    assert documented == served
    assert {p for _, p in documented} >= {
        "/v1/streams",
        "/v1/bookings",
        "/v1/bookings/{booking_id}",
        "/v1/plan",
    }
    with api.client() as anonymous:
        for method, path in sorted(documented):
            answer = anonymous.request(method.upper(), path.replace("{booking_id}", "1"))
            # A made-up id or feed secret may well be 404; a fixed path may not.
            assert answer.status_code not in (404, 405) or "{" in path, (method, path)
            operation = document["paths"][path][method]
            if operation["security"]:
                assert answer.status_code == 401
                assert "401" in operation["responses"]
    bookings = document["paths"]["/v1/bookings"]
    assert set(bookings["post"]["responses"]) == {"201", "401", "409", "413", "415", "422", "500"}
    assert bookings["post"]["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/BookingCreate"
    }
    streams = document["paths"]["/v1/streams"]["get"]
    assert {p["name"] for p in streams["parameters"]} == {"from", "to", "tz"}
    one = document["paths"]["/v1/bookings/{booking_id}"]
    assert set(one) == {"get", "patch", "delete"}
    assert all("404" in op["responses"] for op in one.values())


def _validator(document: dict[str, Any], path: str, method: str, status: int) -> Draft202012Validator:
    media = document["paths"][path][method]["responses"][str(status)]["content"]["application/json"]
    return Draft202012Validator({"components": document["components"], **media["schema"]})


def test_real_answers_match_the_documented_schemas(api: ApiServer, document: dict[str, Any]) -> None:
    def check(response: httpx.Response, path: str, method: str) -> None:
        _validator(document, path, method, response.status_code).validate(response.json())

    with api.client("Jazz Club") as jazz, api.client() as anonymous:
        created = jazz.post(
            "/v1/bookings", params={"tz": "America/New_York"}, json=booking_body(hour(2), hour(3))
        )
        assert created.status_code == 201
        check(created, "/v1/bookings", "post")
        clash = jazz.post("/v1/bookings", json=booking_body(hour(2), hour(3)))
        assert clash.status_code == 409
        check(clash, "/v1/bookings", "post")
        bad = jazz.post("/v1/bookings", json={"stream_id": ""})
        assert bad.status_code == 422
        check(bad, "/v1/bookings", "post")
        check(anonymous.post("/v1/bookings", json={}), "/v1/bookings", "post")
        check(jazz.get("/v1/bookings"), "/v1/bookings", "get")
        booking = f"/v1/bookings/{created.json()['id']}"
        check(jazz.get(booking), "/v1/bookings/{booking_id}", "get")
        check(jazz.get("/v1/bookings/999999"), "/v1/bookings/{booking_id}", "get")
        check(jazz.patch(booking, json={"title": "renamed"}), "/v1/bookings/{booking_id}", "patch")
        check(jazz.delete(booking), "/v1/bookings/{booking_id}", "delete")
        check(jazz.get("/v1/streams", params={"tz": "Asia/Tokyo"}), "/v1/streams", "get")
        check(jazz.get("/v1/plan"), "/v1/plan", "get")
        check(anonymous.get("/health"), "/health", "get")


def test_health_docs_unknown_paths_and_wrong_methods_answer_without_a_token(api: ApiServer) -> None:
    with api.client() as anonymous:
        health = anonymous.get("/health")
        assert health.status_code == 200 and health.json()["status"] == "ok"
        docs = anonymous.get("/docs")
        assert docs.status_code == 200 and "text/html" in docs.headers["content-type"]
        assert "/v1/bookings/{booking_id}" in docs.text and "/openapi.json" in docs.text
        missing = anonymous.get("/v2/nothing")
        assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
        wrong = anonymous.put("/v1/bookings")
        assert wrong.status_code == 405 and wrong.json()["error"]["code"] == "method_not_allowed"
        assert "GET" in wrong.headers["allow"]


def test_onair_api_serves_a_migrated_database_and_refuses_one_that_is_not(tmp_path: Path) -> None:
    bare = {**os.environ, "ONAIR_DATABASE_URL": f"sqlite:///{tmp_path}/bare.db"}
    refused = subprocess.run([ONAIR, "api"], env=bare, capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "onair db upgrade" in refused.stderr

    url = f"sqlite:///{tmp_path}/onair.db"
    for _ in migrated(url):
        pass
    port = free_port()
    with onair_api(url, port):
        answer = httpx.get(f"http://127.0.0.1:{port}/health", timeout=2)
        assert answer.json() == {"status": "ok", "database": "sqlite"}
        assert httpx.get(f"http://127.0.0.1:{port}/v1/streams").status_code == 401
