"""A record -> a preexisting event, validated by the server's own schemas, with a stable id.

Columns are named as the Copilot.cx payload fields (`user_id`, `email`, ...). Text cells are
converted: `copilot_analysis_consent` from true/false/1/0/yes/no, dates (`original_*_date`)
from epoch milliseconds or an ISO 8601 date/time (UTC unless it says otherwise).

The event id is the run's timestamp, the file's kind and the row's line, then a hash of the
run's timestamp, the event type and the encoded payload: the same row sent twice in one run
(after a crash, a retry) is the same event, a duplicate for the server, never applied twice; a
new run (new timestamp) sends new events. Ids grow with the line, so the server's event-id
index is appended to rather than written at a random page per event.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import msgspec

from syncline.schemas import collect as c

USERS, THINGS, ASSOCIATIONS = "users", "things", "associations"
_TRUE = {"true", "1", "yes", "y", "t"}
_FALSE = {"false", "0", "no", "n", "f"}


class BadValue(ValueError):
    pass


def _boolean(value: Any) -> Any:
    if isinstance(value, str):
        low = value.strip().lower()
        if low in _TRUE:
            return True
        if low in _FALSE:
            return False
        raise BadValue("must be true or false")
    return value


def _millis(value: Any) -> Any:
    if not isinstance(value, str):
        return value
    text = value.strip()
    if text.isdigit():
        return int(text)
    try:
        when = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise BadValue("must be epoch milliseconds or an ISO 8601 date") from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=UTC)
    return int(when.timestamp() * 1000)


Converter = Callable[[Any], Any]


@dataclass(frozen=True)
class Kind:
    """One input file's kind: its event type, payload schema and cell converters."""

    name: str
    event_type: str
    payload: type[msgspec.Struct]
    converters: dict[str, Converter]

    @property
    def fields(self) -> tuple[str, ...]:
        return self.payload.__struct_fields__

    @property
    def required(self) -> tuple[str, ...]:
        defaults = len(self.payload.__struct_defaults__)
        return self.fields[: len(self.fields) - defaults]


KINDS = {
    USERS: Kind(
        USERS,
        "preexisting_user_created",
        c.PreexistingUserPayload,
        {"copilot_analysis_consent": _boolean, "original_creation_date": _millis},
    ),
    THINGS: Kind(
        THINGS,
        "preexisting_thing_created",
        c.PreexistingThingPayload,
        {"original_creation_date": _millis},
    ),
    ASSOCIATIONS: Kind(
        ASSOCIATIONS,
        "preexisting_user_thing_associated",
        c.PreexistingAssociationPayload,
        {"original_association_date": _millis},
    ),
}


@dataclass(frozen=True, slots=True)
class Problem:
    code: str
    field: str
    message: str

    def __str__(self) -> str:
        return f"{self.field}: {self.message}" if self.field else self.message


class Encoder:
    """Turns records of one kind into encoded events for one run (one timestamp)."""

    def __init__(self, kind: Kind, timestamp: int) -> None:
        self.kind, self.timestamp = kind, timestamp
        self._head = b'{"type":"%s","event_id":"' % kind.event_type.encode()
        self._stamp = b'","timestamp":%d,"payload":' % timestamp
        self._salt = b"%d\x00%s\x00" % (timestamp, kind.event_type.encode())
        self._prefix = f"sync-{timestamp:x}-{kind.name[0]}"
        self._convert = kind.converters
        self._encode = msgspec.json.encode

    def encode(self, values: dict[str, Any], line: int = 0) -> tuple[str, bytes] | Problem:
        """(event_id, the event's JSON) or what is wrong with the row on `line` of its file."""
        for name in self.kind.required:
            if values.get(name) is None:
                return Problem("field.missing", name, "is required")
        try:
            for name, convert in self._convert.items():
                if name in values:
                    values[name] = convert(values[name])
        except BadValue as exc:
            return Problem("field.invalid", name, str(exc))
        if None in values.values():
            values = {k: v for k, v in values.items() if v is not None}
        try:
            payload = msgspec.convert(values, self.kind.payload)
        except msgspec.ValidationError as exc:
            error = c.translate_error(str(exc))
            field = "" if error.field == "event" else error.field
            return Problem(error.code, field, error.message)
        data = self._encode(payload)
        digest = hashlib.blake2b(self._salt + data, digest_size=10).hexdigest()
        event_id = f"{self._prefix}{line:010x}-{digest}"
        return event_id, self._head + event_id.encode() + self._stamp + data + b"}"


def sync_event(event_type: str, timestamp: int) -> tuple[str, bytes]:
    """`preexisting_sync_started` or `_completed` of the run started at `timestamp`."""
    event_id = f"sync-{event_type.removeprefix('preexisting_sync_')}-{timestamp}"
    data = b'{"type":"%s","event_id":"%s","timestamp":%d,"payload":{}}' % (
        event_type.encode(),
        event_id.encode(),
        timestamp,
    )
    return event_id, data
