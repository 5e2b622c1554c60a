"""The preexisting sync as operators see it, and the operator's reopen."""

from __future__ import annotations

from typing import Any

from syncline.domain import sync
from syncline.domain.sync import SyncRun
from syncline.errors import NotFound
from syncline.storage.interface import Reader, UnitOfWork


def status(reader: Reader, space: str) -> dict[str, Any]:
    if reader.space(space) is None:
        raise NotFound(f"no API space {space}")
    return describe(reader.sync(space))


def describe(run: SyncRun | None) -> dict[str, Any]:
    if run is None:
        return {"status": "not_started", "run": 0}
    return {
        "status": run.status,
        "run": run.run,
        "openedAt": run.opened_at,
        "startedEventId": run.started_event_id,
        "completedAt": run.completed_at,
        "counts": run.counts,
        "report": run.report,
    }


def reopen(uow: UnitOfWork, reader: Reader, space: str, now: int) -> dict[str, Any]:
    if reader.space(space) is None:
        raise NotFound(f"no API space {space}")
    run = sync.reopen(uow.load_sync(space), now)
    if run.changed:
        uow.save_sync(space, run)
    return describe(run)
