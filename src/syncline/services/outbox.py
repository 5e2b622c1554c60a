"""The transactional outbox: each profile revision becomes a Dotdigital envelope, queued for
every webhook that wants it, in the same unit of work as the change that caused it.

A revision no webhook wants is not queued (its history row is still kept); a webhook added
later receives what happens from then on.
"""

from __future__ import annotations

from typing import Any

import msgspec

from syncline.domain import profiles, webhooks
from syncline.domain.profiles import Change
from syncline.domain.users import UserState
from syncline.ids import uuid7
from syncline.storage.interface import UnitOfWork
from syncline.storage.records import OutboxRow, WebhookRow

_encode = msgspec.json.encode


class Outbox:
    def __init__(self, uow: UnitOfWork, space: str, by: str) -> None:
        self.uow, self.space, self.by = uow, space, by
        self.rows: list[OutboxRow] = []
        self.fanout: list[tuple[str, OutboxRow]] = []
        self._subscribers: list[WebhookRow] | None = None
        self._account: int | None = None

    def announce(self, user: UserState, change: Change, cause: dict[str, Any], now: int) -> None:
        if not self.subscribers():
            return
        name = f"profile.{change.name}"
        preexisting = str(cause.get("type", "")).startswith("preexisting_")
        wanted = [
            w.webhook_id
            for w in self.subscribers()
            if webhooks.wants(w.events, name) and (w.include_preexisting or not preexisting)
        ]
        if not wanted:
            return
        event_id = uuid7(now)
        envelope = webhooks.envelope(
            event_id,
            self.account(),
            self.space,
            name,
            self.payload(user, change, cause, now),
            change.revision,
            change.etag,
            profiles.iso(now) or "",
        )
        row = OutboxRow(
            event_id, user.user_id, change.revision, name, _encode(envelope), preexisting, now
        )
        self.rows.append(row)
        self.fanout.extend((webhook_id, row) for webhook_id in wanted)

    def payload(
        self, user: UserState, change: Change, cause: dict[str, Any], now: int
    ) -> dict[str, Any]:
        if change.name == profiles.DELETE:
            return {"date": profiles.iso(now), "by": cause.get("by", self.by), "id": user.user_id}
        if change.name == profiles.UNDELETE:
            return {"id": user.user_id}
        if change.name == profiles.DEVICES:
            things = user.profile.devices or []
            return {
                "id": user.user_id,
                "profile": {"email": (user.profile.doc or {}).get("email")},
                "devices": {"things": {"count": len(things), "pushEnabled": 0}},
                "things": things,
            }
        doc = dict(user.profile.doc or {})
        doc["_createdOn"] = profiles.iso(profiles.created_on(user))
        doc["_updatedOn"] = profiles.iso(now)
        return doc

    def subscribers(self) -> list[WebhookRow]:
        if self._subscribers is None:
            self._subscribers = self.uow.subscribers(self.space)
        return self._subscribers

    def account(self) -> int:
        if self._account is None:
            self._account = self.uow.account_of(self.space)
        return self._account

    def flush(self) -> None:
        if self.rows:
            self.uow.insert_outbox(self.space, self.rows, self.fanout)
            self.rows, self.fanout = [], []
