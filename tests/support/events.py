"""Builders of Collect events for tests: valid by default, timestamps near now and rising."""

from __future__ import annotations

import itertools
import uuid
from typing import Any

from syncline.clock import now_ms

_seq = itertools.count()


def event(
    type: str,
    payload: dict[str, Any] | None = None,
    *,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> dict[str, Any]:
    return {
        "type": type,
        "event_id": event_id or str(uuid.uuid4()),
        "timestamp": timestamp if timestamp is not None else now_ms() - 1000 + next(_seq) % 100_000,
        "payload": payload if payload is not None else {},
    }


def user_created(user_id: str, **fields: Any) -> dict[str, Any]:
    return event("user_created", {"user_id": user_id, **fields})


def thing_created(thing_id: str, **fields: Any) -> dict[str, Any]:
    return event("thing_created", {"thing_id": thing_id, **fields})


def associated(user_id: str, thing_id: str) -> dict[str, Any]:
    return event("user_thing_associated", {"user_id": user_id, "thing_id": thing_id})


def batch(*events: dict[str, Any]) -> dict[str, Any]:
    return {"events": list(events)}
