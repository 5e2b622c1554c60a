"""Liveness, readiness and Prometheus metrics."""

from __future__ import annotations

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline.errors import StorageUnavailable
from syncline.http.context import context
from syncline.http.responses import JSON, error


async def healthz(request: Request) -> Response:
    return JSON({"status": "ok"})


async def readyz(request: Request) -> Response:
    ctx = context(request)
    try:
        await run_in_threadpool(lambda: ctx.storage.reader().ping())
    except StorageUnavailable as exc:
        return error(503, "COMMON.SERVICE_UNAVAILABLE", f"storage: {exc}")
    if not ctx.writer.alive:
        return error(503, "COMMON.SERVICE_UNAVAILABLE", "the writer is not running")
    return JSON({"status": "ready"})


async def metrics(request: Request) -> Response:
    ctx = context(request)
    counts = await run_in_threadpool(lambda: ctx.storage.reader().delivery_totals())
    for status in ("pending", "inflight", "dead"):
        ctx.metrics.outbox.labels(status).set(counts.get(status, 0))
    body = generate_latest(ctx.metrics.registry)
    return Response(body, media_type=CONTENT_TYPE_LATEST)


routes = [
    Route("/healthz", healthz, methods=["GET"]),
    Route("/readyz", readyz, methods=["GET"]),
    Route("/metrics", metrics, methods=["GET"]),
]
