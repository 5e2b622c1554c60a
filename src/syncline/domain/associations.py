"""A user-thing link: one LWW register whose value is `[associated, since]`."""

from __future__ import annotations

from dataclasses import dataclass

from syncline.domain.ordering import Clock, Register, wins


@dataclass
class AssociationState:
    user_id: str
    thing_id: str
    register: Register | None = None
    changed: bool = False

    def set(self, associated: bool, since: int, clock: Clock) -> None:
        if wins(clock, self.register):
            self.register = [[associated, since if associated else None], *clock]
            self.changed = True

    @property
    def associated(self) -> bool:
        return bool(self.register and self.register[0][0])

    @property
    def since(self) -> int | None:
        return self.register[0][1] if self.register else None
