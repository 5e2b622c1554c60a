"""The Webhooks API's wire: a subscription as Dotdigital clients write it (camelCase)."""

from __future__ import annotations

from typing import Annotated

import msgspec
from msgspec import Meta

from syncline.domain.webhooks import EVENT_NAMES, ORDERING, WILDCARD
from syncline.schemas.collect import Millis

# Documented as enums; checked by the service (one clear error naming what is available).
EventName = Annotated[str, Meta(extra_json_schema={"enum": [*EVENT_NAMES, WILDCARD]})]
Ordering = Annotated[str, Meta(extra_json_schema={"enum": list(ORDERING)})]
EventId = Annotated[str, Meta(max_length=128)]


class BatchSpec(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Send a JSON array of envelopes, flushed at `maxEvents` or after `timeoutSeconds`."""

    max_events: Annotated[int, Meta(ge=1, le=500)]
    timeout_seconds: Annotated[int, Meta(ge=1, le=60)] = 5


class WebhookSpec(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A new subscription. `secret` (>= 16 characters) is generated when absent."""

    url: Annotated[str, Meta(min_length=1, max_length=2048)]
    events: Annotated[list[EventName], Meta(min_length=1)] = msgspec.field(
        default_factory=lambda: [WILDCARD]
    )
    secret: Annotated[str, Meta(min_length=16, max_length=256)] | None = None
    include_preexisting: bool = True
    ordering: Ordering = "profile"
    batch: BatchSpec | None = None
    enabled: bool = True


class WebhookPatch(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A change to a subscription; absent fields stay as they are."""

    url: Annotated[str, Meta(min_length=1, max_length=2048)] | None = None
    events: Annotated[list[EventName], Meta(min_length=1)] | None = None
    include_preexisting: bool | None = None
    ordering: Ordering | None = None
    batch: BatchSpec | None = None
    enabled: bool | None = None


class RotateSpec(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """A new secret (generated when absent); the old one keeps signing for `overlapSeconds`."""

    secret: Annotated[str, Meta(min_length=16, max_length=256)] | None = None
    overlap_seconds: Annotated[int, Meta(ge=0, le=7 * 86400)] = 86400


class ReplaySpec(msgspec.Struct, forbid_unknown_fields=True, rename="camel"):
    """Dead letters to send again: by event id, or all dead between `since` and `until` (ms)."""

    event_ids: Annotated[list[EventId], Meta(max_length=1000)] | None = None
    since: Millis = 0
    until: Millis | None = None
