"""The composition root of the server: settings -> storage -> writer -> routes."""

from __future__ import annotations

import gc
import math
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import structlog
from starlette.applications import Starlette
from starlette.exceptions import HTTPException

from syncline.delivery.worker import DeliveryWorker
from syncline.errors import SynclineError
from syncline.http import errors
from syncline.http.context import Context
from syncline.http.ratelimit import RateLimiter
from syncline.http.routes import admin, collect, docs, health, profiles, ui, webhooks
from syncline.metrics import Metrics
from syncline.services.ingest import Limits
from syncline.settings import Settings
from syncline.storage.interface import Storage
from syncline.storage.writer import GroupCommitWriter

log = structlog.get_logger("syncline")


def open_storage(settings: Settings) -> Storage:
    if settings.is_sqlite:
        from syncline.storage.sqlite import SQLiteStorage

        return SQLiteStorage(settings.sqlite_path, settings.sqlite_synchronous)
    from syncline.storage.postgres import PostgresStorage

    return PostgresStorage(settings.database_url)


def tune_gc() -> None:
    """Fewer young-generation collections: decoding allocates many short-lived objects."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(50_000, 50, 100)


def limiter_of(settings: Settings) -> RateLimiter:
    burst = settings.rate_limit_burst or math.ceil(2 * settings.rate_limit)
    return RateLimiter(settings.rate_limit, burst)


def limits_of(settings: Settings) -> Limits:
    return Limits(
        max_events=settings.max_events_per_request,
        max_age_ms=settings.max_event_age_days * 86_400_000,
        max_future_ms=settings.max_future_seconds * 1000,
    )


def create_app(settings: Settings, storage: Storage | None = None) -> Starlette:
    storage = storage if storage is not None else open_storage(settings)
    metrics = Metrics()
    worker: DeliveryWorker | None = None

    def committed(jobs: int, seconds: float) -> None:
        metrics.on_commit(jobs, seconds)
        if worker is not None:
            worker.wake()

    writer = GroupCommitWriter(storage, on_commit=committed)
    if settings.delivery_worker:
        # On PostgreSQL other processes may deliver too: their claims are not ours to take.
        worker = DeliveryWorker(storage, writer, settings, metrics.on_attempt, settings.is_sqlite)
    ctx = Context(
        settings, storage, writer, limits_of(settings), metrics, limiter_of(settings), worker
    )

    @asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        writer.start()
        if worker is not None:
            await worker.start()
        log.info(
            "syncline ready",
            host=settings.host,
            port=settings.port,
            database=_safe_url(settings.database_url),
        )
        try:
            yield
        finally:
            if worker is not None:
                await worker.stop()
            writer.stop()
            storage.close()
            log.info("syncline stopped")

    app = Starlette(
        routes=[
            *collect.routes,
            *profiles.routes,
            *webhooks.routes,
            *admin.routes,
            *health.routes,
            *docs.routes,
            *ui.routes,
        ],
        lifespan=lifespan,
        exception_handlers={
            SynclineError: errors.on_syncline_error,
            HTTPException: errors.on_http_error,
            Exception: errors.on_unexpected,
        },
    )
    app.state.syncline = ctx
    app.state.ui = ui.build(settings)
    return app


def _safe_url(url: str) -> str:
    """The database URL without its password."""
    if "@" not in url:
        return url
    scheme, _, rest = url.partition("://")
    return f"{scheme}://***@{rest.split('@', 1)[1]}"
