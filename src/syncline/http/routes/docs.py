"""The OpenAPI document, generated from the same msgspec Structs that decode requests."""

from __future__ import annotations

import html
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from syncline import __version__
from syncline.http.responses import JSON
from syncline.http.routes.admin import ReplayRequest
from syncline.schemas import collect as c


class CollectBody(msgspec.Struct):
    """`{"events": [...]}`: 1..1,000 events, at most 1 MiB."""

    events: list[c.Event]


class Error(msgspec.Struct):
    reason: str
    error_message: str


_Op = tuple[str, str, str, str, type | None, type | None, str]
OPERATIONS: list[_Op] = [
    (
        "post",
        "/v2/collect",
        "Collect",
        "Send events (Copilot.cx Collect API)",
        CollectBody,
        c.CollectResponse,
        "basic",
    ),
    (
        "post",
        "/collect",
        "Collect",
        "Alias of /v2/collect (before API 2.1.4)",
        CollectBody,
        c.CollectResponse,
        "basic",
    ),
    (
        "post",
        "/v2/api/report/user_copilot_analysis_consent_changed",
        "Collect",
        "Change a user's analysis consent",
        c.ConsentRequest,
        None,
        "basic",
    ),
    (
        "get",
        "/apispaces/{space}/rejected",
        "Rejected events",
        "List rejected events (status, code, type, cursor, limit)",
        None,
        None,
        "bearer",
    ),
    (
        "post",
        "/apispaces/{space}/rejected/replay",
        "Rejected events",
        "Replay pending rejected events",
        ReplayRequest,
        None,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/events",
        "Events",
        "List accepted events (user_id, thing_id, type, cursor, limit)",
        None,
        None,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/users/{user_id}/events",
        "Events",
        "A user's events",
        None,
        None,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/things/{thing_id}/events",
        "Events",
        "A thing's events",
        None,
        None,
        "bearer",
    ),
    ("get", "/apispaces/{space}/users/{user_id}", "State", "A user's state", None, None, "bearer"),
    (
        "get",
        "/apispaces/{space}/things/{thing_id}",
        "State",
        "A thing: attributes, status per key, last connection, firmware, counters, owners",
        None,
        None,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/sync",
        "Preexisting sync",
        "Status, counts and report",
        None,
        None,
        "bearer",
    ),
    (
        "post",
        "/apispaces/{space}/sync/reopen",
        "Preexisting sync",
        "Reopen a completed sync",
        None,
        None,
        "bearer",
    ),
    ("get", "/healthz", "Operations", "Liveness", None, None, ""),
    ("get", "/readyz", "Operations", "Readiness (storage and writer)", None, None, ""),
]


def build_spec() -> dict[str, Any]:
    types = [t for op in OPERATIONS for t in (op[4], op[5]) if t is not None] + [Error]
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    refs = dict(zip(types, schemas, strict=True))
    paths: dict[str, dict[str, Any]] = {}
    for method, path, tag, summary, body, answer, security in OPERATIONS:
        op: dict[str, Any] = {"tags": [tag], "summary": summary, "responses": {}}
        params = [p.strip("{}") for p in path.split("/") if p.startswith("{")]
        if params:
            op["parameters"] = [
                {"name": p, "in": "path", "required": True, "schema": {"type": "string"}}
                for p in params
            ]
        if body is not None:
            op["requestBody"] = {
                "required": True,
                "content": {"application/json": {"schema": refs[body]}},
            }
        ok: dict[str, Any] = {"description": "OK"}
        if answer is not None:
            ok["content"] = {"application/json": {"schema": refs[answer]}}
        op["responses"]["200" if answer is not None or method == "get" else "204"] = ok
        err = {"content": {"application/json": {"schema": refs[Error]}}}
        if security:
            op["security"] = [{security: []}]
            op["responses"]["401"] = {"description": "Unauthorized", **err}
        if body is not None:
            op["responses"]["400"] = {"description": "Bad request", **err}
        paths.setdefault(path, {})[method] = op
    return {
        "openapi": "3.1.0",
        "info": {"title": "syncline", "version": __version__},
        "paths": paths,
        "components": {
            "schemas": components,
            "securitySchemes": {
                "basic": {"type": "http", "scheme": "basic"},
                "bearer": {"type": "http", "scheme": "bearer"},
            },
        },
    }


_SPEC = build_spec()


async def openapi(request: Request) -> Response:
    return JSON(_SPEC)


async def docs(request: Request) -> Response:
    rows = "".join(
        f"<tr><td><code>{m.upper()}</code></td><td><code>{html.escape(p)}</code></td>"
        f"<td>{html.escape(s)}</td></tr>"
        for m, p, _, s, *_ in OPERATIONS
    )
    page = (
        "<!doctype html><title>syncline API</title><h1>syncline API</h1>"
        "<p>The machine-readable document is <a href='/openapi.json'>/openapi.json</a>.</p>"
        f"<table>{rows}</table>"
    )
    return HTMLResponse(page)


routes = [
    Route("/openapi.json", openapi, methods=["GET"]),
    Route("/docs", docs, methods=["GET"]),
]
