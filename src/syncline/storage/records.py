"""Plain records that cross the storage boundary."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any


@dataclass(slots=True)  # one per event: not frozen (5x faster to build)
class EventRow:
    event_id: str
    type: str
    timestamp: int
    received_at: int
    precedence: int
    user_id: str | None
    thing_id: str | None
    payload: bytes
    digest: bytes


@dataclass(slots=True)  # one per event: not frozen (5x faster to build)
class HistoryRow:
    """One profile revision: what changed and what caused it (both JSON)."""

    user_id: str
    revision: int
    at: int
    name: str
    changes: bytes
    cause: bytes
    etag: str


@dataclass(frozen=True, slots=True)
class ProfileRow:
    """A profile as stored: its document and what is served beside it."""

    user_id: str
    doc: dict[str, Any]
    etag: str
    revision: int
    created_on: int | None
    updated_on: int | None


@dataclass(slots=True)
class RejectedRow:
    rejected_id: str
    event_id: str | None
    event_index: int
    type: str | None
    raw: bytes
    code: str
    field: str
    message: str
    received_at: int
    status: str = "pending"
    replayed_at: int | None = None
    replay_count: int = 0


@dataclass(frozen=True, slots=True)
class Credential:
    api_space_id: str
    credential_id: str
    kind: str
    client_id: str | None
    secret_hash: str
    created_at: int
    revoked_at: int | None


@dataclass(frozen=True, slots=True)
class Space:
    api_space_id: str
    account_id: int
    name: str
    created_at: int


@dataclass(frozen=True, slots=True)
class Page:
    items: list[dict[str, Any]]
    next_cursor: str | None


@dataclass(slots=True)
class WebhookRow:
    """A subscription as stored. `events` lists names or `profile.*`."""

    webhook_id: str
    url: str
    events: list[str]
    secret: str
    include_preexisting: bool
    ordering: str
    batch_max_events: int | None
    batch_timeout_s: int | None
    state: str
    created_at: int
    previous_secret: str | None = None
    previous_until: int | None = None
    disabled_reason: str | None = None
    failing_since: int | None = None
    last_success_at: int | None = None
    last_failure_at: int | None = None


@dataclass(slots=True)  # one per event: not frozen (5x faster to build)
class OutboxRow:
    """One profile revision to announce: its envelope, ready to send."""

    event_id: str
    user_id: str
    revision: int
    name: str
    envelope: bytes
    preexisting: bool
    at: int


@dataclass(frozen=True, slots=True)
class Claimed:
    """A delivery taken by a sender: the envelope, how often it was tried, and the claim's
    lease end, which also tells this claim from a later one of the same row."""

    event_id: str
    user_id: str
    revision: int
    attempts: int
    envelope: bytes
    batch_id: str | None
    lease_until: int


@dataclass(frozen=True, slots=True)
class Settled:
    """What one attempt decided for the deliveries it carried: `delivered`, `dead`, `pending`
    again until `next_at`, or `unclaimed` (given back untried); and its attempt row, if any.
    It applies only to rows still held by the claim of `lease_until`: a sender that outlived
    its lease no longer decides for a row another sender has claimed since."""

    space: str
    webhook_id: str
    event_ids: Sequence[str]
    lease_until: int
    status: str
    next_at: int
    error: str | None
    attempt: AttemptRow | None


@dataclass(frozen=True, slots=True)
class AttemptRow:
    attempt_id: str
    message_id: str
    event_ids: list[str]
    at: int
    status: int | None
    latency_ms: float
    response: str | None
    error: str | None
    outcome: str
