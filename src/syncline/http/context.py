"""What every route needs, built once by `create_app` (the composition root)."""

from __future__ import annotations

from dataclasses import dataclass

from starlette.requests import Request

from syncline.delivery.worker import DeliveryWorker
from syncline.http.ratelimit import RateLimiter
from syncline.metrics import Metrics
from syncline.services.ingest import Limits
from syncline.settings import Settings
from syncline.storage.interface import Storage
from syncline.storage.writer import GroupCommitWriter


@dataclass
class Context:
    settings: Settings
    storage: Storage
    writer: GroupCommitWriter
    limits: Limits
    metrics: Metrics
    limiter: RateLimiter
    worker: DeliveryWorker | None = None


def context(request: Request) -> Context:
    ctx: Context = request.app.state.syncline
    return ctx
