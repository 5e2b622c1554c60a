"""Typed constructors for every Collect event type.

Each returns the server's own wire schema (`syncline.schemas.collect`), so a client and the
server cannot disagree on field names. `event_id` defaults to a new UUID and `timestamp` to now
(epoch milliseconds). Values are checked by the server (or by `validate` here, before sending):
construction itself never raises for a bad email or offset, as the rest of a batch must still go.
"""

from __future__ import annotations

import time
import uuid

import msgspec

from syncline.schemas import collect as c
from syncline.schemas.collect import Event, EventError

Scalar = str | int | float | bool
Properties = dict[str, Scalar]
FreeFormValue = Scalar | None


def _id(event_id: str | None) -> str:
    return event_id if event_id is not None else str(uuid.uuid4())


def _ts(timestamp: int | None) -> int:
    return timestamp if timestamp is not None else time.time_ns() // 1_000_000


def _user(
    user_id: str,
    first_name: str | None,
    last_name: str | None,
    email: str | None,
    copilot_analysis_consent: bool | None,
    utc_offset: str | None,
    custom_properties: Properties | None,
) -> c.UserPayload:
    return c.UserPayload(
        user_id=user_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        copilot_analysis_consent=copilot_analysis_consent,
        utc_offset=utc_offset,
        custom_properties=custom_properties,
    )


def user_created(
    user_id: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    copilot_analysis_consent: bool | None = None,
    utc_offset: str | None = None,
    custom_properties: Properties | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.UserCreated:
    payload = _user(
        user_id, first_name, last_name, email, copilot_analysis_consent, utc_offset,
        custom_properties,
    )  # fmt: skip
    return c.UserCreated(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def user_updated(
    user_id: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    copilot_analysis_consent: bool | None = None,
    utc_offset: str | None = None,
    custom_properties: Properties | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.UserUpdated:
    payload = _user(
        user_id, first_name, last_name, email, copilot_analysis_consent, utc_offset,
        custom_properties,
    )  # fmt: skip
    return c.UserUpdated(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def user_deleted(
    user_id: str, *, event_id: str | None = None, timestamp: int | None = None
) -> c.UserDeleted:
    return c.UserDeleted(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=c.UserRef(user_id=user_id)
    )


def thing_created(
    thing_id: str,
    *,
    user_id: str | None = None,
    firmware_version: str | None = None,
    model: str | None = None,
    custom_properties: Properties | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.ThingCreated:
    payload = c.ThingPayload(
        thing_id=thing_id,
        user_id=user_id,
        firmware_version=firmware_version,
        model=model,
        custom_properties=custom_properties,
    )
    return c.ThingCreated(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def thing_updated(
    thing_id: str,
    *,
    user_id: str | None = None,
    firmware_version: str | None = None,
    model: str | None = None,
    custom_properties: Properties | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.ThingUpdated:
    payload = c.ThingPayload(
        thing_id=thing_id,
        user_id=user_id,
        firmware_version=firmware_version,
        model=model,
        custom_properties=custom_properties,
    )
    return c.ThingUpdated(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def user_thing_associated(
    user_id: str, thing_id: str, *, event_id: str | None = None, timestamp: int | None = None
) -> c.UserThingAssociated:
    payload = c.AssociationPayload(user_id=user_id, thing_id=thing_id)
    return c.UserThingAssociated(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def user_thing_disassociated(
    user_id: str, thing_id: str, *, event_id: str | None = None, timestamp: int | None = None
) -> c.UserThingDisassociated:
    payload = c.AssociationPayload(user_id=user_id, thing_id=thing_id)
    return c.UserThingDisassociated(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


def thing_status_changed(
    thing_id: str,
    status_key: str,
    status_value: Scalar,
    *,
    status_date: int | None = None,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.ThingStatusChanged:
    payload = c.StatusPayload(
        thing_id=thing_id,
        status_key=status_key,
        status_value=status_value,
        status_date=status_date,
        user_id=user_id,
    )
    return c.ThingStatusChanged(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def thing_connected(
    thing_id: str,
    *,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.ThingConnected:
    payload = c.ThingRef(thing_id=thing_id, user_id=user_id)
    return c.ThingConnected(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def thing_interaction(
    thing_id: str,
    *,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
    **fields: FreeFormValue,
) -> c.ThingInteraction:
    """Free-form: any flat fields besides thing_id (and user_id), 20 in all."""
    payload: dict[str, FreeFormValue] = {"thing_id": thing_id, **fields}
    if user_id is not None:
        payload["user_id"] = user_id
    return c.ThingInteraction(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def consumable_usage(
    thing_id: str,
    consumable_type: str,
    *,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.ConsumableUsage:
    payload = c.ConsumablePayload(
        thing_id=thing_id, consumable_type=consumable_type, user_id=user_id
    )
    return c.ConsumableUsage(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def firmware_upgrade_started(
    thing_id: str,
    *,
    firmware_version: str | None = None,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.FirmwareUpgradeStarted:
    payload = c.FirmwarePayload(
        thing_id=thing_id, firmware_version=firmware_version, user_id=user_id
    )
    return c.FirmwareUpgradeStarted(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


def firmware_upgrade_completed(
    thing_id: str,
    *,
    firmware_version: str | None = None,
    user_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.FirmwareUpgradeCompleted:
    payload = c.FirmwarePayload(
        thing_id=thing_id, firmware_version=firmware_version, user_id=user_id
    )
    return c.FirmwareUpgradeCompleted(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


def custom_event(
    subtype: str,
    *,
    user_id: str | None = None,
    thing_id: str | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
    **fields: FreeFormValue,
) -> c.CustomEvent:
    """Free-form: `subtype`, a user_id or thing_id (one at least) and any flat fields."""
    payload: dict[str, FreeFormValue] = {"subtype": subtype, **fields}
    if user_id is not None:
        payload["user_id"] = user_id
    if thing_id is not None:
        payload["thing_id"] = thing_id
    return c.CustomEvent(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def unsubscribe(
    email: str, *, event_id: str | None = None, timestamp: int | None = None
) -> c.Unsubscribe:
    payload = c.UnsubscribePayload(email=email)
    return c.Unsubscribe(event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload)


def preexisting_sync_started(
    *, event_id: str | None = None, timestamp: int | None = None
) -> c.PreexistingSyncStarted:
    return c.PreexistingSyncStarted(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=c.EmptyPayload()
    )


def preexisting_sync_completed(
    *, event_id: str | None = None, timestamp: int | None = None
) -> c.PreexistingSyncCompleted:
    return c.PreexistingSyncCompleted(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=c.EmptyPayload()
    )


def preexisting_user_created(
    user_id: str,
    *,
    first_name: str | None = None,
    last_name: str | None = None,
    email: str | None = None,
    copilot_analysis_consent: bool | None = None,
    utc_offset: str | None = None,
    original_creation_date: int | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.PreexistingUserCreated:
    payload = c.PreexistingUserPayload(
        user_id=user_id,
        first_name=first_name,
        last_name=last_name,
        email=email,
        copilot_analysis_consent=copilot_analysis_consent,
        utc_offset=utc_offset,
        original_creation_date=original_creation_date,
    )
    return c.PreexistingUserCreated(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


def preexisting_thing_created(
    thing_id: str,
    *,
    user_id: str | None = None,
    firmware_version: str | None = None,
    model: str | None = None,
    original_creation_date: int | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.PreexistingThingCreated:
    payload = c.PreexistingThingPayload(
        thing_id=thing_id,
        user_id=user_id,
        firmware_version=firmware_version,
        model=model,
        original_creation_date=original_creation_date,
    )
    return c.PreexistingThingCreated(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


def preexisting_user_thing_associated(
    user_id: str,
    thing_id: str,
    *,
    original_association_date: int | None = None,
    event_id: str | None = None,
    timestamp: int | None = None,
) -> c.PreexistingUserThingAssociated:
    payload = c.PreexistingAssociationPayload(
        user_id=user_id, thing_id=thing_id, original_association_date=original_association_date
    )
    return c.PreexistingUserThingAssociated(
        event_id=_id(event_id), timestamp=_ts(timestamp), payload=payload
    )


_encode = msgspec.json.encode


def validate(event: Event) -> EventError | None:
    """The server's own stateless checks (schema, patterns, limits; not the time window)."""
    result = c.decode_event(_encode(event))
    return result if isinstance(result, EventError) else None
