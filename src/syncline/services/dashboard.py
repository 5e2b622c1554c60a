"""What the operator dashboard shows, read with bounded queries only.

Rates come from the per-minute counters written with the events, totals from the running
totals, backlogs and dead letters are counted up to `CAP`, and a webhook's success rate and
latency are those of its last `RECENT_ATTEMPTS` attempts.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from syncline.services import syncstatus, webhooks
from syncline.storage.interface import Reader
from syncline.storage.records import AttemptRow, WebhookRow

CAP = 10_000
MINUTES = 60
RECENT_ATTEMPTS = 100
OPEN = ("pending", "inflight")


@dataclass(frozen=True, slots=True)
class Minute:
    minute: int  # minutes since the epoch
    accepted: int
    rejected: int


@dataclass(slots=True)
class TypeCount:
    type: str
    accepted: int = 0
    rejected: int = 0


@dataclass(frozen=True, slots=True)
class Health:
    """Of a webhook's recent attempts: how many, the share delivered, latency percentiles."""

    attempts: int
    success_rate: float | None
    p50_ms: float | None
    p95_ms: float | None


@dataclass(frozen=True, slots=True)
class HookSummary:
    id: str
    url: str
    state: str
    backlog: int
    dead: int
    health: Health
    last_success_at: int | None
    disabled_reason: str | None


@dataclass(frozen=True, slots=True)
class Overview:
    minutes: list[Minute]
    last_hour: list[TypeCount]
    totals: list[TypeCount]
    backlog: int
    hooks: list[HookSummary]
    pending_rejected: int
    sync: dict[str, Any] = field(default_factory=dict)


# pure --------------------------------------------------------------------------------------
def per_minute(rows: Iterable[tuple[int, str, str, int]], first: int, count: int) -> list[Minute]:
    """`count` minutes from `first`, summed over types; minutes without events are zeros."""
    accepted = [0] * count
    rejected = [0] * count
    for minute, _, outcome, n in rows:
        slot = minute - first
        if 0 <= slot < count:
            if outcome == "accepted":
                accepted[slot] += n
            else:
                rejected[slot] += n
    return [Minute(first + i, accepted[i], rejected[i]) for i in range(count)]


def by_type(rows: Iterable[tuple[str, str, int]]) -> list[TypeCount]:
    """Accepted and rejected per event type, busiest first."""
    out: dict[str, TypeCount] = {}
    for kind, outcome, n in rows:
        entry = out.setdefault(kind, TypeCount(kind))
        if outcome == "accepted":
            entry.accepted += n
        else:
            entry.rejected += n
    return sorted(out.values(), key=lambda t: (-(t.accepted + t.rejected), t.type))


def health(attempts: Sequence[AttemptRow]) -> Health:
    if not attempts:
        return Health(0, None, None, None)
    delivered = sum(1 for a in attempts if a.outcome == "delivered")
    latencies = sorted(a.latency_ms for a in attempts)
    return Health(
        len(attempts),
        delivered / len(attempts),
        _percentile(latencies, 0.50),
        _percentile(latencies, 0.95),
    )


def _percentile(ordered: Sequence[float], q: float) -> float:
    """Nearest rank."""
    rank = max(1, -(-len(ordered) * q // 1))
    return ordered[int(rank) - 1]


def capped(n: int, cap: int = CAP) -> str:
    """A count as people read it: `12,345`, or `10,000+` when counting stopped at the cap."""
    return f"{cap:,}+" if n >= cap else f"{n:,}"


# reads -------------------------------------------------------------------------------------
def overview(reader: Reader, space: str, now_ms: int) -> Overview:
    first = now_ms // 60_000 - MINUTES + 1
    recent = reader.event_counts(space, first)
    hooks = [hook_summary(reader, space, row) for row in reader.webhooks(space)]
    return Overview(
        minutes=per_minute(recent, first, MINUTES),
        last_hour=by_type((kind, outcome, n) for _, kind, outcome, n in recent),
        totals=by_type(reader.event_totals(space)),
        backlog=sum(h.backlog for h in hooks),
        hooks=hooks,
        pending_rejected=reader.rejected_count(space, "pending", None, None, CAP),
        sync=syncstatus.status(reader, space),
    )


def hook_summary(reader: Reader, space: str, row: WebhookRow) -> HookSummary:
    return HookSummary(
        id=row.webhook_id,
        url=row.url,
        state=webhooks.state_of(row),
        backlog=reader.delivery_count(space, row.webhook_id, OPEN, CAP),
        dead=reader.delivery_count(space, row.webhook_id, ("dead",), CAP),
        health=health(reader.attempts(space, row.webhook_id, None, RECENT_ATTEMPTS)),
        last_success_at=row.last_success_at,
        disabled_reason=row.disabled_reason,
    )
