"""Last-writer-wins registers ordered by (precedence, timestamp, event_id).

A register is a list `[value, precedence, timestamp, event_id]` (JSON-friendly). Because the
order is total and merging keeps the maximum, the final value of every register depends only on
the set of writes it saw, never on their arrival order. Live events have precedence over
preexisting (backfilled) ones whatever their timestamps.
"""

from __future__ import annotations

from typing import Any

PREEXISTING = 0
LIVE = 1

Clock = tuple[int, int, str]
Register = list[Any]  # [value, precedence, timestamp, event_id]


def clock_of(register: Register) -> Clock:
    return (register[1], register[2], register[3])


def wins(clock: Clock, register: Register | None) -> bool:
    """True when a write at `clock` replaces the register's current value."""
    return register is None or clock > (register[1], register[2], register[3])


def make(value: Any, clock: Clock) -> Register:
    return [value, clock[0], clock[1], clock[2]]


def merge(registers: dict[str, Register], name: str, value: Any, clock: Clock) -> bool:
    """Write `value` into `registers[name]` if `clock` wins; True when the value changed."""
    current = registers.get(name)
    if not wins(clock, current):
        return False
    registers[name] = make(value, clock)
    return current is None or current[0] != value
