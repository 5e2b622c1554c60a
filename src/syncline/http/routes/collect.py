"""`POST /v2/collect` (and `/collect`) and the consent endpoint, as Copilot.cx answers them."""

from __future__ import annotations

import time
import uuid
from collections import Counter

from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline.clock import now_ms
from syncline.http import auth
from syncline.http.context import Context, context
from syncline.http.responses import JSON
from syncline.http.routes.body import decode_json, read_body
from syncline.schemas import collect as c
from syncline.services import ingest, spaces
from syncline.services.apply import Applier

CONSENT_PATH = "/v2/api/report/user_copilot_analysis_consent_changed"


def _space(request: Request, ctx: Context) -> tuple[str, str]:
    """The API space of the Basic credentials, and who they are (`access:<credential id>`)."""
    client_id, secret = auth.basic(request)
    credential = spaces.authenticate_collect(ctx.storage.reader(), client_id, secret)
    ctx.limiter.check(credential.credential_id)
    return credential.api_space_id, f"access:{credential.credential_id}"


async def collect(request: Request) -> Response:
    started = time.perf_counter()
    ctx = context(request)
    space, by = _space(request, ctx)
    body = await read_body(request, ctx.settings.max_body_bytes)
    now = now_ms()
    decoded = ingest.decode_request(body, now, ctx.limits)
    result = await ctx.writer.run_merged(
        ("collect", space, by),
        (decoded, now),
        lambda uow, items: ingest.commit_many(uow, space, items, by),
    )
    _count(ctx, decoded, result)
    ctx.metrics.requests.labels("/v2/collect", "POST", "200").observe(time.perf_counter() - started)
    return JSON(result)


async def consent(request: Request) -> Response:
    ctx = context(request)
    space, by = _space(request, ctx)
    body = decode_json(await read_body(request, ctx.settings.max_body_bytes), c.ConsentRequest)
    now = now_ms()
    event = c.UserUpdated(
        event_id=f"consent-{uuid.uuid4()}",
        timestamp=now,
        payload=c.UserPayload(user_id=body.user_id, copilot_analysis_consent=body.consent_value),
    )
    await ctx.writer.run(lambda uow: Applier(uow, space, now, by).run([event]))
    ctx.metrics.events.labels("user_updated", "accepted").inc()
    return Response(status_code=204)


def _count(ctx: Context, decoded: list[ingest.Decoded], result: c.CollectResponse) -> None:
    """Counted per request, then added: a metric child lookup per event would cost more."""
    invalid = {item.index: item.code for item in result.invalid_events}
    events: Counter[tuple[str, str]] = Counter()
    for d in decoded:
        kind = d.result.type if isinstance(d.result, c.EventError) else c.event_type(d.result)
        events[kind or "unknown", "rejected" if d.index in invalid else "accepted"] += 1
    for labels, n in events.items():
        ctx.metrics.events.labels(*labels).inc(n)
    for code, n in Counter(invalid.values()).items():
        ctx.metrics.rejected.labels(code).inc(n)


routes = [
    Route("/v2/collect", collect, methods=["POST"]),
    Route("/collect", collect, methods=["POST"]),
    Route(CONSENT_PATH, consent, methods=["POST"]),
]
