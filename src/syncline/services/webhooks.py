"""The Webhooks API's use cases: subscribe, change, pause, rotate, inspect and replay."""

from __future__ import annotations

import base64
import secrets
import uuid
from typing import Any

from syncline.domain import profiles, webhooks
from syncline.domain.webhooks import WebhookRuleError
from syncline.errors import NotFound, RequestRejected
from syncline.schemas.webhooks import ReplaySpec, RotateSpec, WebhookPatch, WebhookSpec
from syncline.storage.interface import Reader, UnitOfWork
from syncline.storage.records import WebhookRow


def create(
    uow: UnitOfWork, space: str, spec: WebhookSpec, allow_private: bool, now: int
) -> tuple[WebhookRow, bool]:
    """The new subscription, and whether its secret was generated (then shown this once)."""
    generated = spec.secret is None
    secret = spec.secret or new_secret()
    row = WebhookRow(
        webhook_id=str(uuid.uuid4()),
        url=spec.url,
        events=spec.events,
        secret=secret,
        include_preexisting=spec.include_preexisting,
        ordering=spec.ordering,
        batch_max_events=spec.batch.max_events if spec.batch else None,
        batch_timeout_s=spec.batch.timeout_seconds if spec.batch else None,
        state=webhooks.ENABLED if spec.enabled else webhooks.PAUSED,
        created_at=now,
    )
    _check(row, allow_private)
    uow.save_webhook(space, row)
    return row, generated


def new_secret() -> str:
    """A Standard Webhooks key: `whsec_` and the base64 of 24 random bytes."""
    return "whsec_" + base64.b64encode(secrets.token_bytes(24)).decode()


def update(
    uow: UnitOfWork, space: str, webhook_id: str, patch: WebhookPatch, allow_private: bool
) -> WebhookRow:
    row = _load(uow, space, webhook_id)
    if patch.url is not None:
        row.url = patch.url
    if patch.events is not None:
        row.events = patch.events
    if patch.include_preexisting is not None:
        row.include_preexisting = patch.include_preexisting
    if patch.ordering is not None:
        row.ordering = patch.ordering
    if patch.batch is not None:
        row.batch_max_events, row.batch_timeout_s = (
            patch.batch.max_events,
            patch.batch.timeout_seconds,
        )
    if patch.enabled is not None:
        _set_enabled(row, patch.enabled)
    _check(row, allow_private)
    uow.save_webhook(space, row)
    return row


def set_enabled(uow: UnitOfWork, space: str, webhook_id: str, enabled: bool) -> WebhookRow:
    """Resume (also re-enables a disabled webhook) or pause; the backlog waits meanwhile."""
    row = _load(uow, space, webhook_id)
    _set_enabled(row, enabled)
    uow.save_webhook(space, row)
    return row


def _set_enabled(row: WebhookRow, enabled: bool) -> None:
    row.state = webhooks.ENABLED if enabled else webhooks.PAUSED
    if enabled:
        row.disabled_reason, row.failing_since = None, None


def rotate(
    uow: UnitOfWork, space: str, webhook_id: str, spec: RotateSpec, now: int
) -> tuple[WebhookRow, bool]:
    row = _load(uow, space, webhook_id)
    generated = spec.secret is None
    row.previous_secret, row.previous_until = row.secret, now + spec.overlap_seconds * 1000
    row.secret = spec.secret or new_secret()
    uow.save_webhook(space, row)
    return row, generated


def delete(uow: UnitOfWork, space: str, webhook_id: str) -> None:
    if not uow.delete_webhook(space, webhook_id):
        raise NotFound(f"no webhook {webhook_id!r}")


def replay(uow: UnitOfWork, space: str, webhook_id: str, spec: ReplaySpec, now: int) -> int:
    _load(uow, space, webhook_id)
    until = spec.until if spec.until is not None else now + 1
    return uow.replay_dead(space, webhook_id, spec.event_ids, spec.since, until, now)


def _load(uow: UnitOfWork, space: str, webhook_id: str) -> WebhookRow:
    row = uow.load_webhook(space, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


def _check(row: WebhookRow, allow_private: bool) -> None:
    try:
        webhooks.check_url(row.url, allow_private)
        row.events = webhooks.check_events(row.events)
        if row.ordering not in webhooks.ORDERING:
            raise WebhookRuleError("ordering: must be profile or none")
        webhooks.check_secret(row.secret)
        if row.batch_max_events is not None:
            webhooks.check_batch(row.batch_max_events, row.batch_timeout_s or 5)
    except WebhookRuleError as exc:
        raise RequestRejected(str(exc)) from exc


# reads --------------------------------------------------------------------------------------
def get(reader: Reader, space: str, webhook_id: str) -> WebhookRow:
    row = reader.webhook(space, webhook_id)
    if row is None:
        raise NotFound(f"no webhook {webhook_id!r}")
    return row


def view(reader: Reader, space: str, row: WebhookRow, secret: str | None = None) -> dict[str, Any]:
    """A subscription with its health; the secret only when just made (shown once)."""
    counts = reader.delivery_counts(space, row.webhook_id)
    out: dict[str, Any] = {
        "id": row.webhook_id,
        "url": row.url,
        "events": row.events,
        "includePreexisting": row.include_preexisting,
        "ordering": row.ordering,
        "batch": (
            {"maxEvents": row.batch_max_events, "timeoutSeconds": row.batch_timeout_s}
            if row.batch_max_events
            else None
        ),
        "state": state_of(row),
        "disabledReason": row.disabled_reason,
        "backlog": counts["pending"] + counts["inflight"],
        "delivered": counts["delivered"],
        "deadLetters": counts["dead"],
        "lastSuccessAt": profiles.iso(row.last_success_at),
        "failingSince": profiles.iso(row.failing_since),
        "createdOn": profiles.iso(row.created_at),
    }
    if secret is not None:
        out["secret"] = secret
    return out


def state_of(row: WebhookRow) -> str:
    """enabled, paused or disabled as stored; failing: enabled, and its last attempts failed."""
    if row.state == webhooks.ENABLED and row.failing_since is not None:
        return "failing"
    return row.state


def attempts(
    reader: Reader, space: str, webhook_id: str, before: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    get(reader, space, webhook_id)
    rows = reader.attempts(space, webhook_id, before, limit + 1)
    items = [
        {
            "id": a.attempt_id,
            "messageId": a.message_id,
            "eventIds": a.event_ids,
            "at": profiles.iso(a.at),
            "status": a.status,
            "latencyMs": round(a.latency_ms, 2),
            "response": a.response,
            "error": a.error,
            "outcome": a.outcome,
        }
        for a in rows[:limit]
    ]
    return items, rows[limit - 1].attempt_id if len(rows) > limit else None


def dead_letters(
    reader: Reader, space: str, webhook_id: str, after: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    get(reader, space, webhook_id)
    rows = reader.dead_letters(space, webhook_id, after, limit + 1)
    for item in rows:
        item["deadAt"] = profiles.iso(item["deadAt"])
    return rows[:limit], rows[limit - 1]["eventId"] if len(rows) > limit else None
