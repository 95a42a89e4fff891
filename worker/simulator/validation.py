"""Request bodies and query strings checked as the OpenAPI spec constrains them.

Each check returns the cleaned values or raises `Invalid` with one entry per bad field, which the
API turns into FastPix's 422 body: `error.fields = [{"field", "message"}]`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

RESOLUTIONS = ("1080p", "720p", "480p")
POLICIES = ("public", "private")


class Invalid(Exception):
    def __init__(self, fields: list[dict[str, str]]) -> None:
        super().__init__("payload validation failed")
        self.fields = fields


def _problem(field: str, message: str) -> dict[str, str]:
    return {"field": field, "message": message}


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def check_metadata(value: Any, field: str, problems: list[dict[str, str]]) -> dict[str, str] | None:
    if value is None:
        return None
    if not isinstance(value, dict):
        problems.append(_problem(field, "must be an object of string values"))
        return None
    if len(value) > 10:
        problems.append(_problem(field, "must not have more than 10 entries"))
    for key, item in value.items():
        if not isinstance(item, str):
            problems.append(_problem(f"{field}.{key}", "must be a string"))
        elif len(item) > 255:
            problems.append(_problem(f"{field}.{key}", "must not be longer than 255 characters"))
    return {str(k): str(v) for k, v in value.items()}


def check_reconnect_window(value: Any, field: str, problems: list[dict[str, str]]) -> int | None:
    if value is None:
        return None
    if not _is_int(value) or not 60 <= value <= 1800:
        problems.append(_problem(field, "must be an integer between 60 and 1800"))
        return None
    return int(value)


def _choice(value: Any, field: str, choices: tuple[str, ...], problems: list[dict[str, str]]) -> str | None:
    if value is None:
        return None
    if value not in choices:
        problems.append(_problem(field, f"must be one of: {', '.join(choices)}"))
        return None
    return str(value)


def _object(body: Mapping[str, Any], key: str, problems: list[dict[str, str]]) -> dict[str, Any]:
    value = body.get(key)
    if value is None:
        problems.append(_problem(key, "must not be null"))
        return {}
    if not isinstance(value, dict):
        problems.append(_problem(key, "must be an object"))
        return {}
    return value


@dataclass(frozen=True)
class CreateRequest:
    access_policy: str
    settings: dict[str, Any]


def check_create(body: Any) -> CreateRequest:
    if not isinstance(body, dict):
        raise Invalid([_problem("body", "must be a JSON object")])
    problems: list[dict[str, str]] = []
    playback = _object(body, "playbackSettings", problems)
    media = _object(body, "inputMediaSettings", problems)
    access = _choice(playback.get("accessPolicy"), "playbackSettings.accessPolicy", POLICIES, problems)
    settings: dict[str, Any] = {}
    resolution = _choice(
        media.get("maxResolution"), "inputMediaSettings.maxResolution", RESOLUTIONS, problems
    )
    if resolution:
        settings["max_resolution"] = resolution
    window = check_reconnect_window(
        media.get("reconnectWindow"), "inputMediaSettings.reconnectWindow", problems
    )
    if window is not None:
        settings["reconnect_window"] = window
    policy = _choice(media.get("mediaPolicy"), "inputMediaSettings.mediaPolicy", POLICIES, problems)
    if policy:
        settings["media_policy"] = policy
    metadata = check_metadata(media.get("metadata"), "inputMediaSettings.metadata", problems)
    if metadata:
        settings["metadata"] = metadata
    dvr = media.get("enableDvrMode")
    if dvr is not None:
        if isinstance(dvr, bool):
            settings["enable_dvr_mode"] = dvr
        else:
            problems.append(_problem("inputMediaSettings.enableDvrMode", "must be a boolean"))
    # Not in the spec's request schema: a simulator extension so tests can exercise maxDuration.
    max_duration = media.get("maxDuration")
    if max_duration is not None:
        if _is_int(max_duration) and (max_duration == 0 or 60 <= max_duration <= 28800):
            settings["max_duration"] = int(max_duration)
        else:
            problems.append(_problem("inputMediaSettings.maxDuration", "must be 0 or between 60 and 28800"))
    if problems:
        raise Invalid(problems)
    return CreateRequest(access_policy=access or "public", settings=settings)


def check_update(body: Any) -> tuple[dict[str, str] | None, int | None]:
    if not isinstance(body, dict):
        raise Invalid([_problem("body", "must be a JSON object")])
    problems: list[dict[str, str]] = []
    metadata = check_metadata(body.get("metadata"), "metadata", problems)
    window = check_reconnect_window(body.get("reconnectWindow"), "reconnectWindow", problems)
    if problems:
        raise Invalid(problems)
    return metadata, window


def check_access_policy(body: Any) -> str:
    if body is None:
        return "public"
    if not isinstance(body, dict):
        raise Invalid([_problem("body", "must be a JSON object")])
    problems: list[dict[str, str]] = []
    policy = _choice(body.get("accessPolicy"), "accessPolicy", POLICIES, problems)
    if problems:
        raise Invalid(problems)
    return policy or "public"


def check_simulcast(body: Any) -> tuple[str, str, dict[str, str] | None]:
    if not isinstance(body, dict):
        raise Invalid([_problem("body", "must be a JSON object")])
    problems: list[dict[str, str]] = []
    url, key = body.get("url"), body.get("streamKey")
    if not isinstance(url, str) or not url:
        problems.append(_problem("url", "must not be null"))
    if not isinstance(key, str) or not key:
        problems.append(_problem("streamKey", "must not be null"))
    metadata = check_metadata(body.get("metadata"), "metadata", problems)
    if problems:
        raise Invalid(problems)
    return str(url), str(key), metadata


def check_simulcast_update(body: Any) -> tuple[bool | None, dict[str, str] | None]:
    if not isinstance(body, dict):
        raise Invalid([_problem("body", "must be a JSON object")])
    problems: list[dict[str, str]] = []
    enabled = body.get("isEnabled")
    if enabled is not None and not isinstance(enabled, bool):
        problems.append(_problem("isEnabled", "must be a boolean"))
    metadata = check_metadata(body.get("metadata"), "metadata", problems)
    if problems:
        raise Invalid(problems)
    return enabled, metadata


@dataclass(frozen=True)
class ListQuery:
    limit: int
    page: int
    descending: bool


def check_list_query(params: Mapping[str, str]) -> ListQuery:
    problems: list[dict[str, str]] = []
    limit = _int_param(params, "limit", 10, problems)
    if limit is not None and not 1 <= limit <= 50:
        problems.append(_problem("limit", "must be between 1 and 50"))
    page = _int_param(params, "offset", 1, problems)
    if page is not None and page < 0:
        problems.append(_problem("offset", "must be greater than or equal to 1"))
    order = params.get("orderBy", "desc").lower()
    if order not in ("asc", "desc"):
        problems.append(_problem("orderBy", "must be one of: asc, desc"))
    if problems or limit is None or page is None:
        raise Invalid(problems)
    # The seed guide documents offset 0 as the default; treat it as the first page.
    return ListQuery(limit=limit, page=max(page, 1), descending=order == "desc")


def _int_param(
    params: Mapping[str, str], name: str, default: int, problems: list[dict[str, str]]
) -> int | None:
    raw = params.get(name)
    if raw is None or raw == "":
        return default
    try:
        return int(raw)
    except ValueError:
        problems.append(_problem(name, "must be an integer"))
        return None
