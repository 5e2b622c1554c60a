"""Operator endpoints of one API space (Bearer: the space's API token or the admin token):
rejected events and their replay, the event log, the preexisting sync, raw user/thing state."""

from __future__ import annotations

from typing import Any

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline.clock import now_ms
from syncline.errors import NotFound
from syncline.http import auth
from syncline.http.context import Context, context
from syncline.http.responses import JSON
from syncline.http.routes.body import decode_json, int_param, read_body
from syncline.schemas.collect import Id
from syncline.services import replay, syncstatus, views


class ReplayRequest(msgspec.Struct, forbid_unknown_fields=True):
    """Which pending rejected events to replay: by id, or all matching a code and/or type."""

    ids: list[str] | None = None
    code: str | None = None
    type: str | None = None
    limit: int = 1000


async def guard(request: Request) -> tuple[Context, str, str]:
    """The context, the space of the path, and who acts: a credential id or `admin`."""
    ctx = context(request)
    space = request.path_params["space"]
    reader = ctx.storage.reader()
    token = ctx.settings.admin_token
    who = await run_in_threadpool(auth.space_access, request, reader, space, token)
    ctx.limiter.check(who)
    return ctx, space, who


async def list_rejected(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    q = request.query_params
    limit = int_param(request, "limit", 100, 1, 1000)

    def read() -> Any:
        return ctx.storage.reader().rejected(
            space,
            status=q.get("status", "pending") or None,
            code=q.get("code"),
            type=q.get("type"),
            cursor=q.get("cursor"),
            limit=limit,
        )

    page = await run_in_threadpool(read)
    return JSON({"items": page.items, "next_cursor": page.next_cursor})


async def replay_rejected(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    body = await read_body(request, ctx.settings.max_body_bytes)
    spec = decode_json(body or b"{}", ReplayRequest)
    now = now_ms()
    result = await ctx.writer.run(
        lambda uow: replay.replay(
            uow,
            space,
            now,
            ctx.limits,
            ids=spec.ids,
            code=spec.code,
            type=spec.type,
            limit=max(1, min(spec.limit, 10_000)),
        )
    )
    return JSON(
        {
            "accepted": result.accepted,
            "duplicates": result.duplicates,
            "still_rejected": result.still_rejected,
            "items": result.items,
        }
    )


async def list_events(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    q = request.query_params
    limit = int_param(request, "limit", 100, 1, 1000)
    user_id = request.path_params.get("user_id", q.get("user_id"))
    thing_id = request.path_params.get("thing_id", q.get("thing_id"))

    def read() -> Any:
        return ctx.storage.reader().events(
            space,
            user_id=user_id,
            thing_id=thing_id,
            type=q.get("type"),
            cursor=q.get("cursor"),
            limit=limit,
        )

    page = await run_in_threadpool(read)
    return JSON({"items": page.items, "next_cursor": page.next_cursor})


async def sync_status(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    return JSON(await run_in_threadpool(syncstatus.status, ctx.storage.reader(), space))


async def sync_reopen(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    now = now_ms()
    result = await ctx.writer.run(
        lambda uow: syncstatus.reopen(uow, ctx.storage.reader(), space, now)
    )
    return JSON(result)


async def get_user(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    user_id = path_id(request, "user_id", "user")
    found = await run_in_threadpool(views.user, ctx.storage.reader(), space, user_id)
    return JSON(found)


async def get_thing_state(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    thing_id = path_id(request, "thing_id", "thing")
    found = await run_in_threadpool(views.thing, ctx.storage.reader(), space, thing_id)
    return JSON(found)


def path_id(request: Request, name: str, what: str) -> str:
    """An id from the path; one that could never exist is simply not found."""
    value: str = request.path_params[name]
    try:
        msgspec.convert(value, Id)
    except msgspec.ValidationError:
        raise NotFound(f"no {what} {value!r}") from None
    return value


routes = [
    Route("/apispaces/{space}/rejected", list_rejected, methods=["GET"]),
    Route("/apispaces/{space}/rejected/replay", replay_rejected, methods=["POST"]),
    Route("/apispaces/{space}/events", list_events, methods=["GET"]),
    Route("/apispaces/{space}/users/{user_id}/events", list_events, methods=["GET"]),
    Route("/apispaces/{space}/things/{thing_id}/events", list_events, methods=["GET"]),
    Route("/apispaces/{space}/users/{user_id}", get_user, methods=["GET"]),
    Route("/apispaces/{space}/things/{thing_id}/state", get_thing_state, methods=["GET"]),
    Route("/apispaces/{space}/sync", sync_status, methods=["GET"]),
    Route("/apispaces/{space}/sync/reopen", sync_reopen, methods=["POST"]),
]
