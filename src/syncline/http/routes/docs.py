"""The OpenAPI document, generated from the same msgspec Structs that decode requests."""

from __future__ import annotations

import html
from dataclasses import dataclass, field
from typing import Any

import msgspec
from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import Route

from syncline import __version__
from syncline.http.responses import JSON
from syncline.http.routes.admin import ReplayRequest
from syncline.schemas import collect as c
from syncline.schemas import profiles_docs as pd
from syncline.schemas import webhooks as wh
from syncline.schemas import webhooks_docs as wd


class CollectBody(msgspec.Struct):
    """`{"events": [...]}`: 1..1,000 events, at most 1 MiB."""

    events: list[c.Event]


Object = dict[str, Any]  # an answer whose fields the README describes


class Error(msgspec.Struct):
    reason: str
    error_message: str


_W = "/apispaces/{space}/webhooks"
_WH = _W + "/{webhook_id}"
_Op = tuple[str, str, str, str, Any, Any, str]  # method, path, tag, summary, body, answer, auth
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
        "/apispaces/{space}/profiles",
        "Profiles",
        "Query profiles (Comapi query string), in id order, a page at a time",
        None,
        list[pd.Profile],
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/profiles/{profile_id}",
        "Profiles",
        "A profile, with its ETag",
        None,
        pd.Profile,
        "bearer",
    ),
    (
        "put",
        "/apispaces/{space}/profiles/{profile_id}",
        "Profiles",
        "Replace a profile (creates it if it does not exist)",
        pd.ProfileBody,
        pd.Profile,
        "bearer",
    ),
    (
        "patch",
        "/apispaces/{space}/profiles/{profile_id}",
        "Profiles",
        "Merge fields into a profile (null removes a field)",
        pd.ProfileBody,
        pd.Profile,
        "bearer",
    ),
    (
        "delete",
        "/apispaces/{space}/profiles/{profile_id}",
        "Profiles",
        "Delete a profile (soft: it can be undeleted)",
        None,
        None,
        "bearer",
    ),
    (
        "post",
        "/apispaces/{space}/profiles/{profile_id}/undelete",
        "Profiles",
        "Undelete a deleted profile",
        None,
        pd.Profile,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/profiles/{profile_id}/history",
        "Profiles",
        "Every revision of a profile with what changed, oldest first",
        None,
        pd.History,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/profiles/{profile_id}/things",
        "Things",
        "The things linked to a profile",
        None,
        list[pd.ProfileThing],
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/things/{thing_id}",
        "Things",
        "A thing: attributes, status summary, owners",
        None,
        pd.Thing,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/rejected",
        "Rejected events",
        "List rejected events (status, code, type, cursor, limit)",
        None,
        Object,
        "bearer",
    ),
    (
        "post",
        "/apispaces/{space}/rejected/replay",
        "Rejected events",
        "Replay pending rejected events",
        ReplayRequest,
        Object,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/events",
        "Events",
        "List accepted events (user_id, thing_id, type, cursor, limit)",
        None,
        Object,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/users/{user_id}/events",
        "Events",
        "A user's events",
        None,
        Object,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/things/{thing_id}/events",
        "Events",
        "A thing's events",
        None,
        Object,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/users/{user_id}",
        "State",
        "A user's state",
        None,
        Object,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/things/{thing_id}/state",
        "State",
        "A thing's raw state: attributes, status per key, last connection, firmware, counters, "
        "owners (Copilot.cx names, epoch milliseconds)",
        None,
        pd.RawThingState,
        "bearer",
    ),
    (
        "get",
        "/apispaces/{space}/sync",
        "Preexisting sync",
        "Status, counts and report",
        None,
        Object,
        "bearer",
    ),
    (
        "post",
        "/apispaces/{space}/sync/reopen",
        "Preexisting sync",
        "Reopen a completed sync",
        None,
        Object,
        "bearer",
    ),
    (
        "post",
        _W,
        "Webhooks",
        "Subscribe a URL to profile events",
        wh.WebhookSpec,
        wd.Webhook,
        "bearer",
    ),
    ("get", _W, "Webhooks", "The API space's subscriptions", None, list[wd.Webhook], "bearer"),
    (
        "get",
        _W + "/availableevents",
        "Webhooks",
        "The event names a subscription may name",
        None,
        list[wd.AvailableEvent],
        "bearer",
    ),
    ("get", _WH, "Webhooks", "A subscription and its health", None, wd.Webhook, "bearer"),
    ("patch", _WH, "Webhooks", "Change a subscription", wh.WebhookPatch, wd.Webhook, "bearer"),
    ("delete", _WH, "Webhooks", "Delete a subscription", None, None, "bearer"),
    (
        "post",
        _WH + "/pause",
        "Webhooks",
        "Pause deliveries (events queue)",
        None,
        wd.Webhook,
        "bearer",
    ),
    ("post", _WH + "/resume", "Webhooks", "Resume deliveries", None, wd.Webhook, "bearer"),
    (
        "post",
        _WH + "/rotate",
        "Webhooks",
        "Rotate the secret; the old one also signs during the overlap",
        wh.RotateSpec,
        wd.Webhook,
        "bearer",
    ),
    (
        "get",
        _WH + "/attempts",
        "Webhooks",
        "Every attempt, newest first",
        None,
        wd.Attempts,
        "bearer",
    ),
    ("get", _WH + "/deadletters", "Webhooks", "Dead letters", None, wd.DeadLetters, "bearer"),
    (
        "post",
        _WH + "/deadletters/replay",
        "Webhooks",
        "Send dead letters again: by event id, or all in a time range",
        wh.ReplaySpec,
        wd.Replayed,
        "bearer",
    ),
    ("get", "/healthz", "Operations", "Liveness", None, None, ""),
    ("get", "/readyz", "Operations", "Readiness (storage and writer)", None, None, ""),
    (
        "get",
        "/metrics",
        "Operations",
        "Prometheus metrics (text exposition format)",
        None,
        None,
        "",
    ),
]


@dataclass(frozen=True)
class Extra:
    """What a row of OPERATIONS cannot say: query parameters, request headers, the headers of
    the successful answer, and answers beyond the default 200/204, 400 (with a body) and 401."""

    query: tuple[str, ...] = ()
    headers: tuple[str, ...] = ()
    answer_headers: tuple[str, ...] = ()
    answers: dict[str, tuple[str, Any]] = field(default_factory=dict)  # status: (text, type)
    ok: str = ""  # the success status when not the default 200 (or 204 without a body)
    body_optional: bool = False  # no body means the defaults of every field


QUERY_PARAMETERS: dict[str, dict[str, Any]] = {
    "limit": {
        "description": "page size",
        "schema": {"type": "integer", "minimum": 1, "maximum": 1000, "default": 100},
    },
    "cursor": {
        "description": "the page after the one whose answer carried this cursor",
        "schema": {"type": "string"},
    },
    "terms": {
        "description": "Comapi's (mongo-querystring) terms, all of which must match: "
        "`f=v` equals, `f=!v` not equal, `f=>v` `f=>=v` `f=<v` `f=<=v` compare, `f=^v` starts "
        "with, `f=$v` ends with, `f=~v` contains (case-insensitive), `f=` exists, `f=!` does "
        "not exist, `f[]=a&f[]=b` in, `f[]=!a` not in. A value also matches a number or a "
        "boolean when it reads as one; form-encoded (`+` is a space, `%2B` a plus).",
        "style": "form",
        "explode": True,
        "schema": {"type": "object", "additionalProperties": {"type": "string"}},
        "examples": {"plan": {"value": {"plan": "pro", "seats": ">2"}}},
    },
}
HEADERS: dict[str, dict[str, Any]] = {
    "If-None-Match": {
        "description": "an ETag the client holds: 304 when it is still current",
        "schema": {"type": "string"},
    },
    "If-Match": {
        "description": "the ETag the change expects (or `*`): 412 and nothing changed when "
        "the profile's current ETag differs",
        "schema": {"type": "string"},
    },
}
ANSWER_HEADERS: dict[str, dict[str, Any]] = {
    "ETag": {
        "description": "the profile's strong ETag (its non-system fields)",
        "schema": {"type": "string"},
    },
    "X-Revision": {"description": "the profile's revision", "schema": {"type": "integer"}},
    "Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}},
    "Link": {
        "description": 'the next page, `<...>; rel="next"`, when there is one',
        "schema": {"type": "string"},
    },
}
_PROFILE = "/apispaces/{space}/profiles/{profile_id}"
_NOT_FOUND = ("Not found: no such profile (or deleted), or no such API space", None)
_STALE = ("Precondition failed: If-Match does not match the current ETag", None)
_KEPT = ("Conflict: a newer change decides the profile's deletion", None)
_TAGGED = ("ETag", "X-Revision")
_NO_HOOK = ("Not found: no such webhook, or no such API space", None)
EXTRAS: dict[tuple[str, str], Extra] = {
    ("get", "/apispaces/{space}/profiles"): Extra(
        query=("terms", "limit", "cursor"),
        answer_headers=("Link",),
        answers={"400": ("Bad request: a term or parameter that cannot be read", None)},
    ),
    ("get", _PROFILE): Extra(
        headers=("If-None-Match",),
        answer_headers=_TAGGED,
        answers={
            "304": ("Not modified: If-None-Match holds the current ETag", None),
            "404": _NOT_FOUND,
        },
    ),
    ("put", _PROFILE): Extra(
        headers=("If-Match",),
        answer_headers=_TAGGED,
        answers={
            "201": ("Created: there was no visible profile of this id", pd.Profile),
            "404": ("Not found: no such API space, or an id no profile can have", None),
            "412": _STALE,
            "413": ("Payload too large", None),
        },
    ),
    ("patch", _PROFILE): Extra(
        headers=("If-Match",),
        answer_headers=_TAGGED,
        answers={"404": _NOT_FOUND, "412": _STALE, "413": ("Payload too large", None)},
    ),
    ("delete", _PROFILE): Extra(
        headers=("If-Match",), answers={"404": _NOT_FOUND, "409": _KEPT, "412": _STALE}
    ),
    ("post", _PROFILE + "/undelete"): Extra(
        headers=("If-Match",),
        answer_headers=_TAGGED,
        answers={
            "404": ("Not found: no such profile, or it was never visible", None),
            "409": _KEPT,
            "412": _STALE,
        },
    ),
    ("get", _PROFILE + "/history"): Extra(
        query=("limit", "cursor"),
        answers={
            "400": ("Bad request: a bad limit or cursor", None),
            "404": ("Not found: no such profile (a deleted one keeps its history)", None),
        },
    ),
    ("get", _PROFILE + "/things"): Extra(answers={"404": _NOT_FOUND}),
    ("get", "/apispaces/{space}/things/{thing_id}"): Extra(
        answers={"404": ("Not found: no such thing, or no such API space", None)}
    ),
    ("get", "/apispaces/{space}/things/{thing_id}/state"): Extra(
        answers={"404": ("Not found: no such thing, or no such API space", None)}
    ),
    ("post", "/apispaces/{space}/rejected/replay"): Extra(body_optional=True),
    ("post", _W): Extra(
        ok="201",
        answers={"201": ("Created; the answer holds the secret, shown this once", wd.Webhook)},
    ),
    ("get", _WH): Extra(answers={"404": _NO_HOOK}),
    ("patch", _WH): Extra(answers={"404": _NO_HOOK}),
    ("delete", _WH): Extra(answers={"404": _NO_HOOK}),
    ("post", _WH + "/pause"): Extra(answers={"404": _NO_HOOK}),
    ("post", _WH + "/resume"): Extra(answers={"404": _NO_HOOK}),
    ("post", _WH + "/rotate"): Extra(answers={"404": _NO_HOOK}),
    ("get", _WH + "/attempts"): Extra(query=("limit", "cursor"), answers={"404": _NO_HOOK}),
    ("get", _WH + "/deadletters"): Extra(query=("limit", "cursor"), answers={"404": _NO_HOOK}),
    ("post", _WH + "/deadletters/replay"): Extra(answers={"404": _NO_HOOK}),
}


def operation_id(method: str, path: str) -> str:
    """`getProfile`-like names from the path: its fixed words, a singular noun when a path
    parameter follows it (`/webhooks/{webhook_id}/attempts` -> `getWebhookAttempts`)."""
    parts = [p for p in path.split("/") if p and p not in ("apispaces", "{space}")]
    words: list[str] = []
    for i, part in enumerate(parts):
        if part.startswith("{"):
            continue
        one = i + 1 < len(parts) and parts[i + 1].startswith("{")
        word = part[:-1] if one and part.endswith("s") else part
        words += [w for w in word.split("_") if w]
    return method + "".join(w[:1].upper() + w[1:] for w in words)


# OpenAPI links: what an answer lets a client (and schemathesis's stateful tests) call next.
_SPACE = {"space": "$request.path.space"}
_SAME_PROFILE = {**_SPACE, "profile_id": "$request.path.profile_id"}
_FIRST_PROFILE = {**_SPACE, "profile_id": "$response.body#/0/id"}
_NEW_HOOK = {**_SPACE, "webhook_id": "$response.body#/id"}
_FIRST_HOOK = {**_SPACE, "webhook_id": "$response.body#/0/id"}
_SAME_HOOK = {**_SPACE, "webhook_id": "$request.path.webhook_id"}
_ON_PROFILE = [
    ("get", _PROFILE),
    ("put", _PROFILE),
    ("patch", _PROFILE),
    ("delete", _PROFILE),
    ("post", _PROFILE + "/undelete"),
    ("get", _PROFILE + "/history"),
    ("get", _PROFILE + "/things"),
]
_ON_HOOK = [
    ("get", _WH),
    ("patch", _WH),
    ("delete", _WH),
    ("post", _WH + "/pause"),
    ("post", _WH + "/resume"),
    ("post", _WH + "/rotate"),
    ("get", _WH + "/attempts"),
    ("get", _WH + "/deadletters"),
    ("post", _WH + "/deadletters/replay"),
]
LINKS: dict[tuple[str, str, str], tuple[dict[str, str], list[tuple[str, str]]]] = {
    ("get", "/apispaces/{space}/profiles", "200"): (_FIRST_PROFILE, _ON_PROFILE),
    ("get", _W, "200"): (_FIRST_HOOK, _ON_HOOK),
    ("put", _PROFILE, "200"): (_SAME_PROFILE, _ON_PROFILE),
    ("put", _PROFILE, "201"): (_SAME_PROFILE, _ON_PROFILE),
    ("patch", _PROFILE, "200"): (_SAME_PROFILE, _ON_PROFILE),
    ("delete", _PROFILE, "204"): (_SAME_PROFILE, _ON_PROFILE),
    ("post", _PROFILE + "/undelete", "200"): (_SAME_PROFILE, _ON_PROFILE),
    ("post", _W, "201"): (_NEW_HOOK, _ON_HOOK),
    ("patch", _WH, "200"): (_SAME_HOOK, _ON_HOOK),
    ("post", _WH + "/pause", "200"): (_SAME_HOOK, _ON_HOOK),
    ("post", _WH + "/resume", "200"): (_SAME_HOOK, _ON_HOOK),
    ("post", _WH + "/rotate", "200"): (_SAME_HOOK, _ON_HOOK),
}


def build_spec() -> dict[str, Any]:
    extra_types = [t for x in EXTRAS.values() for _, t in x.answers.values() if t is not None]
    types = [t for op in OPERATIONS for t in (op[4], op[5]) if t is not None] + extra_types
    types = list(dict.fromkeys([*types, Error]))
    schemas, components = msgspec.json.schema_components(
        types, ref_template="#/components/schemas/{name}"
    )
    for struct, more in pd.OPEN.items():
        components[struct.__name__].update(more)
    for component in components.values():  # docstrings: one paragraph each
        if "description" in component:
            component["description"] = " ".join(component["description"].split())
    refs = dict(zip(types, schemas, strict=True))
    err = {"content": {"application/json": {"schema": refs[Error]}}}

    def answer_with(text: str, kind: Any, headers: tuple[str, ...]) -> dict[str, Any]:
        out: dict[str, Any] = {"description": text}
        if kind is not None:
            out["content"] = {"application/json": {"schema": refs[kind]}}
        if headers:
            out["headers"] = {h: ANSWER_HEADERS[h] for h in headers}
        return out

    paths: dict[str, dict[str, Any]] = {}
    for method, path, tag, summary, body, answer, security in OPERATIONS:
        extra = EXTRAS.get((method, path), Extra())
        op: dict[str, Any] = {
            "operationId": operation_id(method, path),
            "tags": [tag],
            "summary": summary,
            "responses": {},
        }
        params: list[dict[str, Any]] = [
            {"name": p.strip("{}"), "in": "path", "required": True, "schema": {"type": "string"}}
            for p in path.split("/")
            if p.startswith("{")
        ]
        params += [{"name": q, "in": "query", **QUERY_PARAMETERS[q]} for q in extra.query]
        params += [{"name": h, "in": "header", **HEADERS[h]} for h in extra.headers]
        if params:
            op["parameters"] = params
        if body is not None:
            op["requestBody"] = {
                "required": not extra.body_optional,
                "content": {"application/json": {"schema": refs[body]}},
            }
        if not extra.ok:
            ok = answer_with("OK", answer, extra.answer_headers)
            op["responses"]["200" if answer is not None or method == "get" else "204"] = ok
        if security:
            op["security"] = [{security: []}]
            op["responses"]["401"] = {"description": "Unauthorized", **err}
            op["responses"]["429"] = {
                "description": "Over the credential's rate limit (SYNCLINE_RATE_LIMIT)",
                "headers": {"Retry-After": ANSWER_HEADERS["Retry-After"]},
                **err,
            }
        if body is not None:
            op["responses"]["400"] = {"description": "Bad request", **err}
        if "{space}" in path:
            op["responses"].setdefault(
                "404", {"description": "Not found: no such API space, or no such item", **err}
            )
        if security == "bearer" or params:
            op["responses"].setdefault(
                "400", {"description": "Bad request: a parameter that cannot be read", **err}
            )
        for status, (text, kind) in extra.answers.items():
            if status == "304":
                op["responses"][status] = answer_with(text, None, ("ETag",))
            elif status.startswith("2"):
                op["responses"][status] = answer_with(text, kind, extra.answer_headers)
            else:
                op["responses"][status] = {"description": text, **err}
        for status, answer_spec in op["responses"].items():
            if (method, path, status) in LINKS:
                parameters, targets = LINKS[method, path, status]
                answer_spec["links"] = {}
                for m, p in targets:
                    target = operation_id(m, p)
                    answer_spec["links"][target[:1].upper() + target[1:]] = {
                        "operationId": target,
                        "parameters": {k: v for k, v in parameters.items() if "{" + k + "}" in p},
                    }
        op["responses"] = dict(sorted(op["responses"].items()))
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
