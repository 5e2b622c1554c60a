"""Replaying rejected events after their cause was fixed: the same rules as a first arrival."""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from syncline.errors import error_text
from syncline.schemas.collect import EventError
from syncline.services.apply import ACCEPTED, DUPLICATE, Applier
from syncline.services.ingest import Limits, validate
from syncline.storage import dashboard_sql
from syncline.storage.interface import UnitOfWork
from syncline.storage.records import RejectedRow


@dataclass
class ReplayResult:
    accepted: int = 0
    duplicates: int = 0
    still_rejected: int = 0
    items: list[dict[str, object]] = field(default_factory=list)


def replay(
    uow: UnitOfWork,
    space: str,
    now: int,
    limits: Limits,
    *,
    ids: Sequence[str] | None = None,
    code: str | None = None,
    type: str | None = None,
    limit: int = 1000,
) -> ReplayResult:
    rows = uow.load_rejected(space, ids, code, type, limit)
    applier = Applier(uow, space, now)
    checked = [(row, validate(row.raw, row.received_at, now, limits)) for row in rows]
    valid = [(row, ev) for row, ev in checked if not isinstance(ev, EventError)]
    outcomes = dict(
        zip(
            [row.rejected_id for row, _ in valid], applier.run([ev for _, ev in valid]), strict=True
        )
    )
    result = ReplayResult()
    for row, ev in checked:
        outcome = ev if isinstance(ev, EventError) else outcomes[row.rejected_id]
        _record(row, outcome, now, result)
    uow.update_rejected(space, rows)
    applier.flush()
    accepted = Counter(
        (row.type or "unknown", dashboard_sql.ACCEPTED) for row in rows if row.status == ACCEPTED
    )
    uow.count_events(space, now // 60_000, accepted)
    return result


def _record(row: RejectedRow, outcome: object, now: int, result: ReplayResult) -> None:
    row.replayed_at = now
    row.replay_count += 1
    if outcome == ACCEPTED:
        row.status = "accepted"
        result.accepted += 1
    elif outcome == DUPLICATE:
        row.status = "duplicate"
        result.duplicates += 1
    elif isinstance(outcome, EventError):
        row.code, row.field, row.message = outcome.code, outcome.field, outcome.message
        result.still_rejected += 1
    result.items.append(
        {
            "id": row.rejected_id,
            "event_id": row.event_id,
            "status": row.status,
            "code": row.code,
            "error": error_text(row.code, row.field, row.message),
        }
    )
