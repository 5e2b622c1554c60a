"""The Webhooks API's answers as Structs, for the OpenAPI document only.

The services build these answers as plain dicts; the Structs describe the same shapes for
`/openapi.json` (the requests are decoded by `schemas.webhooks`).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

import msgspec
from msgspec import UNSET, Meta, UnsetType

from syncline.schemas.profiles_docs import Iso
from syncline.schemas.webhooks import BatchSpec


class Webhook(msgspec.Struct, kw_only=True):
    """A subscription and its health. `secret` appears once: in the answer that created or
    rotated it."""

    id: str
    url: str
    events: list[str]
    includePreexisting: bool
    ordering: Literal["profile", "none"]
    batch: BatchSpec | None
    state: Annotated[
        Literal["enabled", "failing", "paused", "disabled"],
        Meta(description="`failing`: enabled, and every attempt has failed since `failingSince`"),
    ]
    disabledReason: str | None
    backlog: Annotated[int, Meta(ge=0, description="events waiting or in flight")]
    delivered: Annotated[int, Meta(ge=0)]
    deadLetters: Annotated[int, Meta(ge=0)]
    lastSuccessAt: Iso | None
    failingSince: Iso | None
    createdOn: Iso | None
    secret: str | UnsetType = UNSET


class Attempt(msgspec.Struct, kw_only=True):
    """One HTTP request to the endpoint: its time, status (none for a timeout or a connection
    error), latency and the first 2 KB of the answer."""

    id: str
    messageId: Annotated[str, Meta(description="the `webhook-id` header, stable across retries")]
    eventIds: list[str]
    at: Iso
    status: int | None
    latencyMs: float
    response: str | None
    error: str | None
    outcome: str


class DeadLetter(msgspec.Struct, kw_only=True):
    """An event given up on: after the whole retry schedule, or at once on a 400."""

    eventId: str
    profileId: str
    revision: int
    attempts: int
    deadAt: Iso | None
    lastError: str | None
    envelope: dict[str, Any]


class Attempts(msgspec.Struct):
    """Newest first; `next_cursor` reads the page after this one."""

    items: list[Attempt]
    next_cursor: str | None


class DeadLetters(msgspec.Struct):
    """In event id order; `next_cursor` reads the page after this one."""

    items: list[DeadLetter]
    next_cursor: str | None


class AvailableEvent(msgspec.Struct):
    name: str
    description: str


class Replayed(msgspec.Struct):
    """How many dead letters were queued again."""

    replayed: Annotated[int, Meta(ge=0)]
