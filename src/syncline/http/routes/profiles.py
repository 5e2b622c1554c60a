"""The Comapi-compatible Profiles and Things API (Bearer: the space's API token or admin)."""

from __future__ import annotations

from typing import Any
from urllib.parse import quote

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline.clock import now_ms
from syncline.domain import query as q
from syncline.http.responses import JSON
from syncline.http.routes.admin import guard, path_id
from syncline.http.routes.body import int_param, read_body
from syncline.schemas.profiles import decode_write
from syncline.services import profiles, things
from syncline.storage.records import ProfileRow


def _by(who: str) -> str:
    return "admin" if who == "admin" else f"access:{who}"


def _profile_response(row: ProfileRow, status: int = 200) -> Response:
    headers = {"ETag": row.etag, "X-Revision": str(row.revision)}
    return JSON(profiles.served(row), status_code=status, headers=headers)


async def get_profile(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    pid = path_id(request, "profile_id", "profile")
    row = await run_in_threadpool(profiles.get, ctx.storage.reader(), space, pid)
    if profiles.if_none_match(request.headers.get("if-none-match"), row.etag):
        return Response(status_code=304, headers={"ETag": row.etag})
    return _profile_response(row)


async def query_profiles(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    rows, query, limit, cursor = await run_in_threadpool(
        profiles.find, ctx.storage.reader(), space, request.url.query
    )
    headers = {}
    if cursor is not None:
        headers["Link"] = f'<{_next_url(request, query, limit, cursor)}>; rel="next"'
    return JSON([profiles.served(r) for r in rows], headers=headers)


def _next_url(request: Request, query: q.Query, limit: int, cursor: str) -> str:
    kept = [
        term
        for term in request.url.query.split("&")
        if term and term.partition("=")[0] not in q.RESERVED_PARAMS
    ]
    kept += [f"limit={limit}", f"cursor={quote(cursor)}"]
    return f"{request.url.path}?{'&'.join(kept)}"


async def _write(request: Request, method: str) -> Response:
    ctx, space, who = await guard(request)
    pid = path_id(request, "profile_id", "profile")
    match = request.headers.get("if-match")
    now = now_ms()
    if method in ("replace", "merge"):
        write = decode_write(await read_body(request, ctx.settings.max_body_bytes), pid)
        fn: Any = profiles.replace if method == "replace" else profiles.merge
        written = await ctx.writer.run(lambda uow: fn(uow, space, pid, write, match, _by(who), now))
    else:
        fn = profiles.delete if method == "delete" else profiles.undelete
        written = await ctx.writer.run(lambda uow: fn(uow, space, pid, match, _by(who), now))
    if written.profile is None:
        return Response(status_code=204)
    return _profile_response(written.profile, 201 if written.created else 200)


async def put_profile(request: Request) -> Response:
    return await _write(request, "replace")


async def patch_profile(request: Request) -> Response:
    return await _write(request, "merge")


async def delete_profile(request: Request) -> Response:
    return await _write(request, "delete")


async def undelete_profile(request: Request) -> Response:
    return await _write(request, "undelete")


async def profile_history(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    pid = path_id(request, "profile_id", "profile")
    limit = int_param(request, "limit", 100, 1, 1000)
    cursor = request.query_params.get("cursor")
    items, next_cursor = await run_in_threadpool(
        profiles.history, ctx.storage.reader(), space, pid, cursor, limit
    )
    return JSON({"items": items, "next_cursor": next_cursor})


async def profile_things(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    pid = path_id(request, "profile_id", "profile")
    return JSON(await run_in_threadpool(things.of_profile, ctx.storage.reader(), space, pid))


async def get_thing(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    thing_id = path_id(request, "thing_id", "thing")
    return JSON(await run_in_threadpool(things.get, ctx.storage.reader(), space, thing_id))


_P = "/apispaces/{space}/profiles"
routes = [
    Route(_P, query_profiles, methods=["GET"]),
    Route(_P + "/{profile_id}", get_profile, methods=["GET"]),
    Route(_P + "/{profile_id}", put_profile, methods=["PUT"]),
    Route(_P + "/{profile_id}", patch_profile, methods=["PATCH"]),
    Route(_P + "/{profile_id}", delete_profile, methods=["DELETE"]),
    Route(_P + "/{profile_id}/undelete", undelete_profile, methods=["POST"]),
    Route(_P + "/{profile_id}/history", profile_history, methods=["GET"]),
    Route(_P + "/{profile_id}/things", profile_things, methods=["GET"]),
    Route("/apispaces/{space}/things/{thing_id}", get_thing, methods=["GET"]),
]
