"""A user: LWW registers per attribute and per custom property, and a deleted-ness register.

Deletion is itself a register: `user_deleted` writes True, a live `user_created`/`user_updated`
writes False. Attributes keep merging while deleted (so the outcome is order-independent) but a
deleted user is hidden. A preexisting write can never undo a live deletion, because live writes
outrank preexisting ones.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncline.domain.ordering import Clock, Register, merge, wins

NEVER_VISIBLE = -1


@dataclass(slots=True)
class ProfileMark:
    """What was last observed of a profile: the basis for the next revision."""

    revision: int = NEVER_VISIBLE
    doc: dict[str, Any] | None = None
    etag: str | None = None
    deleted: bool = False
    updated_on: int | None = None
    devices: list[dict[str, Any]] | None = None  # the things shown in devicesUpdated
    canon: bytes | None = None  # canonical(doc), once computed (not stored)

    @property
    def visible(self) -> bool:
        return self.revision >= 0 and not self.deleted


USER_FIELDS = (
    "first_name",
    "last_name",
    "email",
    "copilot_analysis_consent",
    "utc_offset",
)


@dataclass
class UserState:
    user_id: str
    fields: dict[str, Register] = field(default_factory=dict)
    custom: dict[str, Register] = field(default_factory=dict)
    deleted: Register | None = None
    created_on: Register | None = None
    created: bool = False
    first_seen: int | None = None
    unsubscribed: bool = False
    changed: bool = False
    profile: ProfileMark = field(default_factory=lambda: ProfileMark())

    def see(self, timestamp: int) -> None:
        """Every event naming the user: it exists from its earliest event on."""
        if self.first_seen is None or timestamp < self.first_seen:
            self.first_seen = timestamp
            self.changed = True

    def assign(self, values: dict[str, Any], clock: Clock) -> None:
        self.created_flag()
        for name, value in values.items():
            # A winning write moves the register's clock even when the value is equal, so the
            # state must be saved: else an older write arriving later beats the stale clock.
            if value is not None and wins(clock, self.fields.get(name)):
                merge(self.fields, name, value, clock)
                self.changed = True

    def write(self, values: dict[str, Any], custom: dict[str, Any], clock: Clock) -> None:
        """A live profile write: None clears a field (a register holding None is absent)."""
        self.created_flag()
        for name, value in values.items():
            if wins(clock, self.fields.get(name)):
                merge(self.fields, name, value, clock)
                self.changed = True
        self.assign_custom(custom, clock)

    def assign_custom(self, values: dict[str, Any], clock: Clock) -> None:
        for key, value in values.items():
            if wins(clock, self.custom.get(key)):
                merge(self.custom, key, value, clock)
                self.changed = True

    def set_created_on(self, millis: int, clock: Clock) -> None:
        if wins(clock, self.created_on):
            self.created_on = [millis, *clock]
            self.changed = True

    def set_deleted(self, deleted: bool, clock: Clock) -> None:
        if wins(clock, self.deleted):
            self.deleted = [deleted, *clock]
            self.changed = True

    def created_flag(self) -> None:
        if not self.created:
            self.created = True
            self.changed = True

    @property
    def is_deleted(self) -> bool:
        return bool(self.deleted and self.deleted[0])

    @property
    def email(self) -> str | None:
        register = self.fields.get("email")
        return str(register[0]).lower() if register and register[0] is not None else None

    def view(self) -> dict[str, Any]:
        """What the user is now, without the bookkeeping of how it got there."""
        out: dict[str, Any] = {"user_id": self.user_id}
        out.update({k: reg[0] for k, reg in sorted(self.fields.items()) if reg[0] is not None})
        custom = {k: reg[0] for k, reg in sorted(self.custom.items()) if reg[0] is not None}
        if custom:
            out["custom_properties"] = custom
        out["deleted"] = self.is_deleted
        out["unsubscribed"] = self.unsubscribed
        out["created"] = self.created
        if self.created_on is not None:
            out["original_creation_date"] = self.created_on[0]
        return out
