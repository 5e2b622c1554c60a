"""The preexisting sync of an API space: opened once, completed once, reopened by an operator."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

OPEN = "open"
COMPLETED = "completed"

NOT_OPEN = "sync.not_open"
ALREADY_COMPLETED = "sync.already_completed"

COUNTED = {
    "preexisting_user_created": "users",
    "preexisting_thing_created": "things",
    "preexisting_user_thing_associated": "associations",
}


@dataclass
class SyncRun:
    run: int
    status: str
    opened_at: int
    started_event_id: str | None = None
    completed_at: int | None = None
    counts: dict[str, int] = field(
        default_factory=lambda: {"users": 0, "things": 0, "associations": 0, "rejected": 0}
    )
    report: dict[str, Any] | None = None
    changed: bool = False

    @property
    def is_open(self) -> bool:
        return self.status == OPEN


def start(current: SyncRun | None, event_id: str, now_ms: int) -> tuple[SyncRun | None, str | None]:
    """The run after a `preexisting_sync_started`, or the error code refusing it."""
    if current is None:
        return SyncRun(1, OPEN, now_ms, event_id, changed=True), None
    if current.is_open:
        if current.started_event_id is None:  # a run an operator reopened
            current.started_event_id = event_id
            current.changed = True
        return current, None
    return None, ALREADY_COMPLETED


def reopen(current: SyncRun | None, now_ms: int) -> SyncRun:
    """An operator's decision: a new run opens, whatever the state."""
    if current is not None and current.is_open:
        return current
    number = 1 if current is None else current.run + 1
    return SyncRun(number, OPEN, now_ms, changed=True)


def complete(current: SyncRun | None, now_ms: int, orphans: dict[str, Any]) -> str | None:
    """Close the open run with its report; returns an error code when no run is open."""
    if current is None or not current.is_open:
        return NOT_OPEN
    current.status = COMPLETED
    current.completed_at = now_ms
    current.report = {
        "totals": dict(current.counts),
        "orphans": orphans,
        "rejected": current.counts["rejected"],
        "durationMs": now_ms - current.opened_at,
    }
    current.changed = True
    return None


def admit(current: SyncRun | None, event_type: str) -> str | None:
    """May a preexisting entity event be applied now? Counts it when it may."""
    if current is None or not current.is_open:
        return NOT_OPEN
    current.counts[COUNTED[event_type]] += 1
    current.changed = True
    return None


def count_rejected(current: SyncRun | None) -> None:
    if current is not None and current.is_open:
        current.counts["rejected"] += 1
        current.changed = True
