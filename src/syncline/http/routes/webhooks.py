"""The Webhooks API of one API space (Bearer: the space's API token or the admin token)."""

from __future__ import annotations

from typing import Any

from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline.clock import now_ms
from syncline.domain.webhooks import EVENT_NAMES, WILDCARD
from syncline.errors import NotFound
from syncline.http.context import Context
from syncline.http.responses import JSON
from syncline.http.routes.admin import guard
from syncline.http.routes.body import decode_json, int_param, read_body
from syncline.schemas.webhooks import ReplaySpec, RotateSpec, WebhookPatch, WebhookSpec
from syncline.services import webhooks

_DESCRIPTIONS = {
    "profile.create": "A profile was created (revision 0); the payload is the document.",
    "profile.update": "A profile's document changed; the payload is the whole document.",
    "profile.delete": "A profile was deleted; the payload is {date, by, id}.",
    "profile.undelete": "A deleted profile was restored; the payload is {id}.",
    "profile.devicesUpdated": "The things associated with a profile changed.",
}


async def _body(request: Request, ctx: Context) -> bytes:
    return await read_body(request, ctx.settings.max_body_bytes) or b"{}"


def _hook(request: Request) -> str:
    value: str = request.path_params["webhook_id"]
    if len(value) > 64:
        raise NotFound(f"no webhook {value[:64]!r}")
    return value


async def create(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    spec = decode_json(await read_body(request, ctx.settings.max_body_bytes), WebhookSpec)
    allow, now = ctx.settings.webhooks_allow_private, now_ms()
    row, _ = await ctx.writer.run(lambda uow: webhooks.create(uow, space, spec, allow, now))
    view = await run_in_threadpool(webhooks.view, ctx.storage.reader(), space, row, row.secret)
    return JSON(view, status_code=201)


async def list_hooks(request: Request) -> Response:
    ctx, space, _ = await guard(request)

    def read() -> list[dict[str, Any]]:
        reader = ctx.storage.reader()
        return [webhooks.view(reader, space, row) for row in reader.webhooks(space)]

    return JSON(await run_in_threadpool(read))


async def show(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)

    def read() -> dict[str, Any]:
        reader = ctx.storage.reader()
        return webhooks.view(reader, space, webhooks.get(reader, space, hook))

    return JSON(await run_in_threadpool(read))


async def update(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    patch = decode_json(await _body(request, ctx), WebhookPatch)
    allow = ctx.settings.webhooks_allow_private
    row = await ctx.writer.run(lambda uow: webhooks.update(uow, space, hook, patch, allow))
    return JSON(await run_in_threadpool(webhooks.view, ctx.storage.reader(), space, row))


async def _set_enabled(request: Request, enabled: bool) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    row = await ctx.writer.run(lambda uow: webhooks.set_enabled(uow, space, hook, enabled))
    if ctx.worker is not None:
        ctx.worker.wake()
    return JSON(await run_in_threadpool(webhooks.view, ctx.storage.reader(), space, row))


async def pause(request: Request) -> Response:
    return await _set_enabled(request, False)


async def resume(request: Request) -> Response:
    return await _set_enabled(request, True)


async def rotate(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    spec = decode_json(await _body(request, ctx), RotateSpec)
    now = now_ms()
    row, _ = await ctx.writer.run(lambda uow: webhooks.rotate(uow, space, hook, spec, now))
    view = await run_in_threadpool(webhooks.view, ctx.storage.reader(), space, row, row.secret)
    return JSON(view)


async def delete(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    await ctx.writer.run(lambda uow: webhooks.delete(uow, space, hook))
    return Response(status_code=204)


async def _page(request: Request, read: Any) -> Response:
    """One page of a webhook's attempts or dead letters, and the cursor of the next."""
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    limit = int_param(request, "limit", 100, 1, 1000)
    cursor = request.query_params.get("cursor")
    items, after = await run_in_threadpool(read, ctx.storage.reader(), space, hook, cursor, limit)
    return JSON({"items": items, "next_cursor": after})


async def attempts(request: Request) -> Response:
    return await _page(request, webhooks.attempts)


async def dead_letters(request: Request) -> Response:
    return await _page(request, webhooks.dead_letters)


async def replay(request: Request) -> Response:
    ctx, space, _ = await guard(request)
    hook = _hook(request)
    spec = decode_json(await _body(request, ctx), ReplaySpec)
    now = now_ms()
    count = await ctx.writer.run(lambda uow: webhooks.replay(uow, space, hook, spec, now))
    if ctx.worker is not None:
        ctx.worker.wake()
    return JSON({"replayed": count})


async def available(request: Request) -> Response:
    await guard(request)
    names = [{"name": n, "description": _DESCRIPTIONS[n]} for n in EVENT_NAMES]
    return JSON([*names, {"name": WILDCARD, "description": "Every profile event."}])


_W = "/apispaces/{space}/webhooks"
routes = [
    Route(_W, create, methods=["POST"]),
    Route(_W, list_hooks, methods=["GET"]),
    Route(_W + "/availableevents", available, methods=["GET"]),
    Route(_W + "/{webhook_id}", show, methods=["GET"]),
    Route(_W + "/{webhook_id}", update, methods=["PATCH"]),
    Route(_W + "/{webhook_id}", delete, methods=["DELETE"]),
    Route(_W + "/{webhook_id}/pause", pause, methods=["POST"]),
    Route(_W + "/{webhook_id}/resume", resume, methods=["POST"]),
    Route(_W + "/{webhook_id}/rotate", rotate, methods=["POST"]),
    Route(_W + "/{webhook_id}/attempts", attempts, methods=["GET"]),
    Route(_W + "/{webhook_id}/deadletters", dead_letters, methods=["GET"]),
    Route(_W + "/{webhook_id}/deadletters/replay", replay, methods=["POST"]),
]
