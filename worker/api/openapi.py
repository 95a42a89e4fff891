"""The OpenAPI 3.1 document, built from the endpoint declarations and the pydantic models they name.

Nothing is written by hand twice: paths, methods, parameters (from the query models' fields and the
path ids), request bodies, every response status and the component schemas (pydantic's
model_json_schema, JSON Schema 2020-12, which OpenAPI 3.1 uses as is) all come from worker.api.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from worker.api.errors import BEARER_CHALLENGE
from worker.api.routing import Endpoint
from worker.api.schemas import ErrorOut

REF = "#/components/schemas/{model}"
JSON = "application/json"


def build_document(endpoints: Sequence[Endpoint], *, version: str) -> dict[str, Any]:
    paths: dict[str, dict[str, Any]] = {}
    for endpoint in endpoints:
        paths.setdefault(endpoint.path, {})[endpoint.method.lower()] = _operation(endpoint)
    paths["/openapi.json"] = {"get": _static("openApi", "This document", JSON, {"type": "object"})}
    paths["/docs"] = {
        "get": _static("docs", "A page for people listing the endpoints", "text/html", {"type": "string"})
    }
    return {
        "openapi": "3.1.0",
        "info": {
            "title": "onair booking API",
            "version": version,
            "description": (
                "Organisers book slots on shared FastPix streams. Authenticate with "
                "`Authorization: Bearer <token>` (from `onair organiser add NAME`). Times in: ISO 8601 with "
                "an offset; out: UTC with Z, plus *_local fields in the zone given by ?tz=."
            ),
        },
        "paths": paths,
        "components": {
            "schemas": _schemas(endpoints),
            "securitySchemes": {"bearerAuth": {"type": "http", "scheme": "bearer"}},
        },
    }


def _operation(endpoint: Endpoint) -> dict[str, Any]:
    operation: dict[str, Any] = {
        "operationId": endpoint.operation_id,
        "summary": endpoint.summary,
        "tags": [endpoint.tag],
        "security": [{"bearerAuth": []}] if endpoint.auth else [],
        "responses": {str(endpoint.ok_status): _response(endpoint.ok_description, endpoint.ok_model)},
    }
    parameters = [_path_parameter(p.name, p.description) for p in endpoint.path_ids]
    if endpoint.query is not None:
        parameters.extend(_query_parameters(endpoint.query))
    if parameters:
        operation["parameters"] = parameters
    if endpoint.body is not None:
        operation["requestBody"] = {"required": True, "content": {JSON: {"schema": _ref(endpoint.body)}}}
    for status, meaning in endpoint.error_statuses().items():
        operation["responses"][str(status)] = _response(meaning, ErrorOut)
        if status == 401:
            operation["responses"]["401"]["headers"] = {
                "WWW-Authenticate": {
                    "description": f"the challenge, e.g. `{BEARER_CHALLENGE}`",
                    "schema": {"type": "string"},
                }
            }
    operation["responses"]["500"] = _response("internal error (logged; the body says no more)", ErrorOut)
    return operation


def _static(operation_id: str, summary: str, media: str, schema: dict[str, Any]) -> dict[str, Any]:
    return {
        "operationId": operation_id,
        "summary": summary,
        "tags": ["meta"],
        "security": [],
        "responses": {"200": {"description": summary, "content": {media: {"schema": schema}}}},
    }


def _response(description: str, model: type[BaseModel]) -> dict[str, Any]:
    return {"description": description, "content": {JSON: {"schema": _ref(model)}}}


def _ref(model: type[BaseModel]) -> dict[str, str]:
    return {"$ref": REF.format(model=model.__name__)}


def _path_parameter(name: str, description: str) -> dict[str, Any]:
    return {
        "name": name,
        "in": "path",
        "required": True,
        "description": description,
        "schema": {"type": "integer", "minimum": 0},
    }


def _query_parameters(model: type[BaseModel]) -> list[dict[str, Any]]:
    schema = model.model_json_schema(mode="validation")
    required = set(schema.get("required", []))
    found = []
    for name, prop in schema["properties"].items():
        prop = dict(prop)
        prop.pop("title", None)
        description = prop.pop("description", None)
        parameter: dict[str, Any] = {
            "name": name,
            "in": "query",
            "required": name in required,
            "schema": prop,
        }
        if description:
            parameter["description"] = description
        found.append(parameter)
    return found


def _schemas(endpoints: Sequence[Endpoint]) -> dict[str, Any]:
    models: dict[type[BaseModel], JsonSchemaMode] = {ErrorOut: "serialization"}
    for endpoint in endpoints:
        models[endpoint.ok_model] = "serialization"
        if endpoint.body is not None:
            models[endpoint.body] = "validation"
    _, top = models_json_schema(list(models.items()), ref_template=REF)
    defs: dict[str, Any] = top.get("$defs", {})
    return dict(sorted(defs.items()))
