"""The Collect API's inbound events (Copilot.cx-compatible), one Struct per `type`.

Decoding is strict: unknown keys are refused (except in the free-form `custom_event` and
`thing_interaction`), ids and offsets must match their patterns, and every failure is turned into
an `EventError` naming the JSON path of the offending field.
"""

from __future__ import annotations

import json
import re
from typing import Annotated, ClassVar, Literal

import msgspec
from msgspec import Meta, Struct

from syncline.errors import error_text

ID_PATTERN = r"^[A-Za-z0-9:\-._+@]+(?!\n)$"  # (?!\n): Python's $ also matches before a final \n
EMAIL_PATTERN = (
    r"^[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+(?:\.[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}(?!\n)$"
)
UTC_OFFSET_PATTERN = (
    r"^(?:Z|0000|-(?:(?:0\d|1[01])[0-5]\d|1200)|\+(?:(?:0\d|1[0-3])[0-5]\d|14[0-5]\d))(?!\n)$"
)
MAX_MILLIS = 253_402_300_799_999  # 9999-12-31T23:59:59.999Z

Id = Annotated[str, Meta(min_length=1, max_length=128, pattern=ID_PATTERN)]
EventId = Annotated[str, Meta(min_length=1, max_length=128)]
NO_NUL = r"^[^\x00]*$"  # U+0000 cannot be stored in or queried from a JSON text column
Text = Annotated[str, Meta(max_length=256, pattern=NO_NUL)]
Email = Annotated[str, Meta(max_length=254, pattern=EMAIL_PATTERN)]
UtcOffset = Annotated[str, Meta(pattern=UTC_OFFSET_PATTERN)]
Millis = Annotated[int, Meta(ge=0, le=MAX_MILLIS)]
PropertyKey = Annotated[str, Meta(min_length=1, max_length=128, pattern=NO_NUL)]
Scalar = Annotated[str, Meta(max_length=1024, pattern=NO_NUL)] | int | float | bool
CustomProperties = Annotated[dict[PropertyKey, Scalar], Meta(max_length=20)]
FreeForm = Annotated[dict[PropertyKey, Scalar | None], Meta(max_length=20)]

MAX_PROPERTIES = 20


class _Payload(Struct, forbid_unknown_fields=True, kw_only=True, omit_defaults=True):
    pass


class UserPayload(_Payload):
    user_id: Id
    first_name: Text | None = None
    last_name: Text | None = None
    email: Email | None = None
    copilot_analysis_consent: bool | None = None
    utc_offset: UtcOffset | None = None
    custom_properties: CustomProperties | None = None


class PreexistingUserPayload(_Payload):
    user_id: Id
    first_name: Text | None = None
    last_name: Text | None = None
    email: Email | None = None
    copilot_analysis_consent: bool | None = None
    utc_offset: UtcOffset | None = None
    original_creation_date: Millis | None = None


class UserRef(_Payload):
    user_id: Id


class ThingPayload(_Payload):
    thing_id: Id
    user_id: Id | None = None
    firmware_version: Text | None = None
    model: Text | None = None
    custom_properties: CustomProperties | None = None


class PreexistingThingPayload(_Payload):
    thing_id: Id
    user_id: Id | None = None
    firmware_version: Text | None = None
    model: Text | None = None
    original_creation_date: Millis | None = None


class AssociationPayload(_Payload):
    user_id: Id
    thing_id: Id


class PreexistingAssociationPayload(_Payload):
    user_id: Id
    thing_id: Id
    original_association_date: Millis | None = None


class StatusPayload(_Payload):
    thing_id: Id
    status_key: Annotated[str, Meta(min_length=1, max_length=128)]
    status_value: Scalar
    status_date: Millis | None = None
    user_id: Id | None = None


class ThingRef(_Payload):
    thing_id: Id
    user_id: Id | None = None


class ConsumablePayload(_Payload):
    thing_id: Id
    consumable_type: Annotated[str, Meta(min_length=1, max_length=128)]
    user_id: Id | None = None


class FirmwarePayload(_Payload):
    thing_id: Id
    firmware_version: Text | None = None
    user_id: Id | None = None


class UnsubscribePayload(_Payload):
    email: Email


class EmptyPayload(_Payload):
    pass


class _Event(Struct, tag_field="type", forbid_unknown_fields=True, kw_only=True):
    preexisting: ClassVar[bool] = False
    kind: ClassVar[str] = ""  # the `type` tag, set below for every event class
    event_id: EventId
    timestamp: Millis


class UserCreated(_Event, tag="user_created"):
    payload: UserPayload


class UserUpdated(_Event, tag="user_updated"):
    payload: UserPayload


class UserDeleted(_Event, tag="user_deleted"):
    payload: UserRef


class ThingCreated(_Event, tag="thing_created"):
    payload: ThingPayload


class ThingUpdated(_Event, tag="thing_updated"):
    payload: ThingPayload


class UserThingAssociated(_Event, tag="user_thing_associated"):
    payload: AssociationPayload


class UserThingDisassociated(_Event, tag="user_thing_disassociated"):
    payload: AssociationPayload


class ThingStatusChanged(_Event, tag="thing_status_changed"):
    payload: StatusPayload


class ThingConnected(_Event, tag="thing_connected"):
    payload: ThingRef


class ThingInteraction(_Event, tag="thing_interaction"):
    payload: FreeForm


class ConsumableUsage(_Event, tag="consumable_usage"):
    payload: ConsumablePayload


class FirmwareUpgradeStarted(_Event, tag="firmware_upgrade_started"):
    payload: FirmwarePayload


class FirmwareUpgradeCompleted(_Event, tag="firmware_upgrade_completed"):
    payload: FirmwarePayload


class CustomEvent(_Event, tag="custom_event"):
    payload: FreeForm


class Unsubscribe(_Event, tag="unsubscribe"):
    payload: UnsubscribePayload


class PreexistingSyncStarted(_Event, tag="preexisting_sync_started"):
    payload: EmptyPayload


class PreexistingSyncCompleted(_Event, tag="preexisting_sync_completed"):
    payload: EmptyPayload


class PreexistingUserCreated(_Event, tag="preexisting_user_created"):
    preexisting: ClassVar[bool] = True
    payload: PreexistingUserPayload


class PreexistingThingCreated(_Event, tag="preexisting_thing_created"):
    preexisting: ClassVar[bool] = True
    payload: PreexistingThingPayload


class PreexistingUserThingAssociated(_Event, tag="preexisting_user_thing_associated"):
    preexisting: ClassVar[bool] = True
    payload: PreexistingAssociationPayload


Event = (
    UserCreated
    | UserUpdated
    | UserDeleted
    | ThingCreated
    | ThingUpdated
    | UserThingAssociated
    | UserThingDisassociated
    | ThingStatusChanged
    | ThingConnected
    | ThingInteraction
    | ConsumableUsage
    | FirmwareUpgradeStarted
    | FirmwareUpgradeCompleted
    | CustomEvent
    | Unsubscribe
    | PreexistingSyncStarted
    | PreexistingSyncCompleted
    | PreexistingUserCreated
    | PreexistingThingCreated
    | PreexistingUserThingAssociated
)

for _cls in Event.__args__:
    _cls.kind = str(_cls.__struct_config__.tag)

EVENT_TYPES: tuple[str, ...] = tuple(str(cls.__struct_config__.tag) for cls in Event.__args__)
PREEXISTING_ENTITY_TYPES = frozenset(
    {"preexisting_user_created", "preexisting_thing_created", "preexisting_user_thing_associated"}
)


class CollectRequest(Struct):
    """The envelope only: events are decoded one by one so one bad event fails alone."""

    events: list[msgspec.Raw]


class ConsentRequest(Struct, forbid_unknown_fields=True):
    user_id: Id
    consent_value: bool


class EventError(Struct, omit_defaults=True):
    """Why one event of a batch was refused: a stable `code`, the JSON `field` and a message."""

    code: str
    field: str
    message: str
    event_id: str | None = None
    type: str | None = None

    @property
    def error(self) -> str:
        """`payload.utc_offset: must be ...`; state errors lead with their code instead."""
        return error_text(self.code, self.field, self.message)


class InvalidEvent(Struct):
    event_id: str | None
    index: int
    error: str
    code: str
    field: str


class CollectResponse(Struct):
    invalid_events: list[InvalidEvent]
    accepted: int
    duplicates: int


class ErrorBody(Struct):
    reason: str
    error_message: str


class _Probe(Struct):
    event_id: object = None
    type: object = None


_FRIENDLY_PATTERN = {
    "user_id": "must be 1..128 characters of [A-Za-z0-9:-._+@]",
    "thing_id": "must be 1..128 characters of [A-Za-z0-9:-._+@]",
    "email": "must be a valid email address",
    "utc_offset": "must be Z, 0000 or [+-]HHMM between -1200 and +1459 (minutes < 60)",
}
_MSG = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<name>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<name>[^`]+)`$")
_TYPE = re.compile(r"^Expected `(?P<want>[^`]+)`, got `(?P<got>[^`]+)`$")
_DECODER = msgspec.json.Decoder(Event)
_PROBE = msgspec.json.Decoder(_Probe)


def decode_event(raw: bytes) -> Event | EventError:
    """One event from its raw JSON bytes, or the reason it is not a valid event."""
    try:
        event: Event = _DECODER.decode(raw)
    except msgspec.ValidationError as exc:
        deduplicated = _last_key_wins(raw)
        if deduplicated is not None:  # an earlier value of a repeated key must not count
            return decode_event(deduplicated)
        return _probe(raw, translate_error(str(exc)))
    except msgspec.DecodeError as exc:  # cannot happen for a Raw taken from valid JSON
        return EventError(code="event.malformed", field="", message=str(exc))
    extra = _check_free_form(event)
    if extra is not None:
        extra.event_id, extra.type = event.event_id, _tag(event)
        return extra
    return event


def _last_key_wins(raw: bytes) -> bytes | None:
    """The event re-encoded with the last value of each repeated key; None if none repeats."""
    repeated = False

    def pairs(items: list[tuple[str, object]]) -> dict[str, object]:
        nonlocal repeated
        obj = dict(items)
        repeated = repeated or len(obj) != len(items)
        return obj

    try:
        value = json.loads(raw, object_pairs_hook=pairs)
    except (ValueError, RecursionError):
        return None
    return msgspec.json.encode(value) if repeated else None


def translate_error(text: str) -> EventError:
    """msgspec's message -> an EventError with a stable code and the field's dotted path."""
    match = _MSG.match(text)
    msg = match["msg"] if match else text
    path = _dotted(match["path"] if match and match["path"] else "")
    if found := _MISSING.match(msg):
        return EventError("field.missing", _join(path, found["name"]), "is required")
    if found := _UNKNOWN.match(msg):
        hint = " (free-form data goes in custom_properties)" if path == "payload" else ""
        return EventError("field.unknown", _join(path, found["name"]), f"unknown field{hint}")
    if path == "type" and msg.startswith("Invalid value"):
        return EventError("type.unknown", "type", f"unknown event type{msg[13:]}")
    if found := _TYPE.match(msg):
        return EventError("field.type", path, f"expected {found['want']}, got {found['got']}")
    if "matching regex" in msg:
        leaf = path.rsplit(".", 1)[-1]
        return EventError("field.invalid", path, _FRIENDLY_PATTERN.get(leaf, "has a bad format"))
    if "of length <= 20" in msg and path.endswith(("payload", "custom_properties")):
        return EventError("field.too_many", path, f"at most {MAX_PROPERTIES} properties")
    return EventError("field.invalid", path, msg.replace("`", "").replace("Expected", "expected"))


def _check_free_form(event: Event) -> EventError | None:
    if isinstance(event, ThingInteraction | CustomEvent):
        fields = event.payload
        if isinstance(event, CustomEvent):
            if not isinstance(fields.get("subtype"), str) or not fields["subtype"]:
                return EventError("field.missing", "payload.subtype", "is required (a string)")
            if "user_id" not in fields and "thing_id" not in fields:
                return EventError(
                    "field.missing", "payload.user_id", "user_id or thing_id is required"
                )
        elif "thing_id" not in fields:
            return EventError("field.missing", "payload.thing_id", "is required")
        for key in ("user_id", "thing_id"):
            value = fields.get(key)
            if value is not None and not _valid_id(value):
                return EventError("field.invalid", f"payload.{key}", _FRIENDLY_PATTERN[key])
    return None


_ID_RE = re.compile(ID_PATTERN)


def _valid_id(value: object) -> bool:
    return isinstance(value, str) and 0 < len(value) <= 128 and _ID_RE.match(value) is not None


def _probe(raw: bytes, error: EventError) -> EventError:
    try:
        probe = _PROBE.decode(raw)
    except (msgspec.ValidationError, msgspec.DecodeError):
        return error
    if isinstance(probe.event_id, str):
        error.event_id = probe.event_id[:128]
    if isinstance(probe.type, str):
        error.type = probe.type[:64]
    return error


def _dotted(path: str) -> str:
    """`$.payload.custom_properties[...]` -> `payload.custom_properties`; `[3]` -> `.3`."""
    dotted = path.replace("[...]", "").replace("[", ".").replace("]", "")
    return dotted.lstrip(".") or "event"


def _join(path: str, name: str) -> str:
    return name if path == "event" else f"{path}.{name}"


def _tag(event: Event) -> str:
    return str(event.__struct_config__.tag)


def event_type(event: Event) -> str:
    return event.kind


def subjects(event: Event) -> tuple[str | None, str | None]:
    """The user and thing an event names (free-form payloads may name them too)."""
    p = event.payload
    if type(p) is dict:
        user_id, thing_id = p.get("user_id"), p.get("thing_id")
        return (
            user_id if isinstance(user_id, str) else None,
            thing_id if isinstance(thing_id, str) else None,
        )
    return getattr(p, "user_id", None), getattr(p, "thing_id", None)


def check_time(event: Event, now_ms: int, max_age_ms: int, max_future_ms: int) -> EventError | None:
    if event.timestamp < now_ms - max_age_ms:
        return EventError(
            "timestamp.too_old",
            "timestamp",
            f"older than the accepted window ({max_age_ms // 86_400_000} days)",
        )
    if event.timestamp > now_ms + max_future_ms:
        return EventError(
            "timestamp.in_future",
            "timestamp",
            f"more than {max_future_ms // 1000} seconds ahead of the server clock",
        )
    return None


SyncEventType = Literal["preexisting_sync_started", "preexisting_sync_completed"]
