"""A thing: LWW attributes plus the summary of its device events.

Summaries are order-independent too: the last status per key and the firmware upgrade are
registers; the last connection is a maximum; counters are sums over distinct events.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from syncline.domain.ordering import Clock, Register, merge, wins

THING_FIELDS = ("user_id", "firmware_version", "model")


@dataclass
class ThingState:
    thing_id: str
    fields: dict[str, Register] = field(default_factory=dict)
    custom: dict[str, Register] = field(default_factory=dict)
    created_on: Register | None = None
    created: bool = False
    first_seen: int | None = None
    status: dict[str, Register] = field(default_factory=dict)
    last_connected: list[Any] | None = None  # [timestamp, event_id]
    firmware_upgrade: Register | None = None  # value: {"state", "version"}
    counters: dict[str, int] = field(default_factory=dict)
    changed: bool = False

    def see(self, timestamp: int) -> None:
        if self.first_seen is None or timestamp < self.first_seen:
            self.first_seen = timestamp
            self.changed = True

    def assign(self, values: dict[str, Any], clock: Clock) -> None:
        if not self.created:
            self.created = True
            self.changed = True
        for name, value in values.items():
            # A winning write moves the register's clock even when the value is equal, so the
            # state must be saved: else an older write arriving later beats the stale clock.
            if value is not None and wins(clock, self.fields.get(name)):
                merge(self.fields, name, value, clock)
                self.changed = True

    def assign_custom(self, values: dict[str, Any], clock: Clock) -> None:
        for key, value in values.items():
            if wins(clock, self.custom.get(key)):
                merge(self.custom, key, value, clock)
                self.changed = True

    def set_created_on(self, millis: int, clock: Clock) -> None:
        if wins(clock, self.created_on):
            self.created_on = [millis, *clock]
            self.changed = True

    def record_status(self, key: str, value: Any, date: int, clock: Clock) -> None:
        # The status's own date orders it; the event's clock breaks ties.
        if merge(self.status, key, {"value": value, "date": date}, (clock[0], date, clock[2])):
            self.changed = True
        self.count("status_changes")

    def record_connection(self, timestamp: int, event_id: str) -> None:
        mark = [timestamp, event_id]
        if self.last_connected is None or mark > self.last_connected:
            self.last_connected = mark
        self.count("connections")

    def record_firmware(self, state: str, version: str | None, clock: Clock) -> None:
        if wins(clock, self.firmware_upgrade):
            self.firmware_upgrade = [{"state": state, "version": version}, *clock]
        if state == "completed" and version is not None:
            merge(self.fields, "firmware_version", version, clock)
        self.count(f"firmware_upgrades_{state}")

    def count(self, name: str) -> None:
        self.counters[name] = self.counters.get(name, 0) + 1
        self.changed = True

    def view(self) -> dict[str, Any]:
        out: dict[str, Any] = {"thing_id": self.thing_id}
        out.update({name: reg[0] for name, reg in sorted(self.fields.items())})
        if self.custom:
            out["custom_properties"] = {k: reg[0] for k, reg in sorted(self.custom.items())}
        out["created"] = self.created
        if self.created_on is not None:
            out["original_creation_date"] = self.created_on[0]
        if self.status:
            out["status"] = {k: reg[0] for k, reg in sorted(self.status.items())}
        if self.last_connected is not None:
            out["last_connected_at"] = self.last_connected[0]
        if self.firmware_upgrade is not None:
            out["firmware_upgrade"] = self.firmware_upgrade[0]
        if self.counters:
            out["counters"] = dict(sorted(self.counters.items()))
        return out
