"""The Profiles and Things API's answers (and the PUT/PATCH body) as Structs, for the OpenAPI
document only.

Requests are decoded by `schemas.profiles` and answers built as plain dicts by the services;
these Structs describe the same shapes for `/openapi.json`. Profiles hold custom properties as
more top-level keys, which a Struct cannot say: `OPEN` lists the `additionalProperties` that
`http.routes.docs` adds to those components.
"""

from __future__ import annotations

from typing import Annotated, Any, TypeVar

import msgspec
from msgspec import UNSET, Meta, UnsetType

from syncline.schemas.collect import Email, Id, Scalar, Text, UtcOffset

T = TypeVar("T")
ReadOnly = Annotated[T, Meta(extra_json_schema={"readOnly": True})]
# A custom field's name: no NUL, and no leading `_` but for the system fields.
FIELD_NAME = r"^(?:_(?:createdOn|updatedOn|revision)|[^_\x00][^\x00]*)$"
Iso = Annotated[
    str, Meta(description="ISO 8601 UTC with milliseconds", examples=["2026-11-22T09:30:00.000Z"])
]
ETag = Annotated[
    str,
    Meta(
        description='`"` + hex byte length + `-` + 27 characters of base64(SHA-1) + `"`, over '
        "the compact key-sorted JSON of the non-system fields",
        examples=['"95-0DRnKxTBrzElUNe8PdLCD0RGVxU"'],
    ),
]


class Profile(msgspec.Struct, kw_only=True):
    """A profile: a user's attributes (`first_name` -> `firstName`, `last_name` -> `lastName`,
    `email`, `utc_offset` -> `utcOffset`, `copilot_analysis_consent` -> `analysisConsent`), its
    custom properties as more top-level fields (never over a standard one), `unsubscribed`, and
    the system fields `_createdOn`, `_updatedOn`, `_revision` (outside the ETag)."""

    id: Id
    firstName: str | UnsetType = UNSET
    lastName: str | UnsetType = UNSET
    email: str | UnsetType = UNSET
    utcOffset: str | UnsetType = UNSET
    analysisConsent: bool | UnsetType = UNSET
    unsubscribed: Annotated[
        bool, Meta(description="true once an `unsubscribe` event named the profile's email")
    ]
    created_on: Iso | None = msgspec.field(name="_createdOn")
    updated_on: Iso | None = msgspec.field(name="_updatedOn")
    revision: Annotated[
        int, Meta(ge=0, description="0 when created, +1 for every change that alters it")
    ] = msgspec.field(name="_revision")


class ProfileBody(msgspec.Struct, kw_only=True):
    """A PUT (replace) or PATCH (merge) body: profile fields; any other key is a custom property
    holding a scalar, and `null` removes a field. `id` may repeat the path's id; `unsubscribed`
    and the system fields are read-only and accepted back only unchanged (`unsubscribed`) or
    ignored (`_createdOn`, `_updatedOn`, `_revision`), so what a GET returned can be PUT again.
    Other keys starting with `_` are refused. At most 100 fields."""

    id: Id | UnsetType = UNSET
    firstName: Text | UnsetType | None = UNSET
    lastName: Text | UnsetType | None = UNSET
    email: Email | UnsetType | None = UNSET
    utcOffset: UtcOffset | UnsetType | None = UNSET
    analysisConsent: bool | UnsetType | None = UNSET
    unsubscribed: ReadOnly[bool] | UnsetType = UNSET
    created_on: ReadOnly[Any] = msgspec.field(name="_createdOn", default=UNSET)
    updated_on: ReadOnly[Any] = msgspec.field(name="_updatedOn", default=UNSET)
    revision: ReadOnly[Any] = msgspec.field(name="_revision", default=UNSET)


class HistoryEntry(msgspec.Struct):
    """One revision of a profile."""

    revision: int
    name: Annotated[
        str,
        Meta(
            description="`create`, `update`, `delete`, `undelete` or `devicesUpdated`",
            examples=["update"],
        ),
    ]
    at: Iso
    etag: ETag
    changes: Annotated[
        dict[str, list[Any]],
        Meta(
            description="each changed field as `[before, after]` (`null` when absent); "
            "`devicesUpdated` lists `things` as `[before, after]`"
        ),
    ]
    cause: Annotated[
        dict[str, Any],
        Meta(
            description="what made it: `eventId` and `type` of the event or API write (`by`: "
            "who, for API writes), or `{type: devices}` when linked things changed"
        ),
    ]


class History(msgspec.Struct):
    """A page of revisions, oldest first; `next_cursor` fetches the next page (`?cursor=`)."""

    items: list[HistoryEntry]
    next_cursor: str | None


class ThingStatus(msgspec.Struct):
    value: Any
    date: Iso


class FirmwareUpgrade(msgspec.Struct):
    state: Annotated[str, Meta(description="`started` or `completed`")]
    version: str | None


class Owner(msgspec.Struct):
    profileId: Id
    since: Iso | None


class ThingBase(msgspec.Struct, kw_only=True):
    id: Id
    model: str | UnsetType = UNSET
    firmwareVersion: str | UnsetType = UNSET
    userId: str | UnsetType = UNSET
    properties: Annotated[dict[str, Scalar], Meta(description="the thing's custom properties")]
    status: Annotated[dict[str, ThingStatus], Meta(description="the last status per key")]
    lastConnectedAt: Iso | None
    firmwareUpgrade: FirmwareUpgrade | None
    counters: Annotated[
        dict[str, int],
        Meta(description="e.g. `connections`, `status_changes`, `firmware_upgrades_completed`"),
    ]
    created_on: Iso | None = msgspec.field(name="_createdOn")


class Thing(ThingBase, kw_only=True):
    """A thing: its attributes, device summary, and the visible profiles linked to it (the most
    recently associated first; `owner` is the first of them)."""

    owners: list[Owner]
    owner: Id | None


class ProfileThing(ThingBase, kw_only=True):
    """A thing linked to the profile, with when the link was made."""

    associatedSince: Iso | None


class ThingStatusRaw(msgspec.Struct):
    value: Any
    date: int


class RawOwner(msgspec.Struct):
    user_id: Id
    since: int | None


class RawThingState(msgspec.Struct, kw_only=True):
    """A thing as the event log left it, in Copilot.cx's names and epoch milliseconds (what
    `GET /things/{thing_id}` served before the Things API), for operators."""

    thing_id: Id
    model: str | UnsetType = UNSET
    firmware_version: str | UnsetType = UNSET
    user_id: str | UnsetType = UNSET
    custom_properties: dict[str, Scalar] | UnsetType = UNSET
    created: Annotated[bool, Meta(description="a thing_created event was seen")]
    original_creation_date: int | UnsetType = UNSET
    status: dict[str, ThingStatusRaw] | UnsetType = UNSET
    last_connected_at: int | UnsetType = UNSET
    firmware_upgrade: FirmwareUpgrade | UnsetType = UNSET
    counters: dict[str, int] | UnsetType = UNSET
    first_seen: int | None
    owners: list[RawOwner]


OPEN: dict[type, dict[str, Any]] = {
    Profile: {"additionalProperties": msgspec.json.schema(Scalar)},
    ProfileBody: {
        "additionalProperties": msgspec.json.schema(Scalar | None),
        "propertyNames": {"minLength": 1, "maxLength": 128, "pattern": FIELD_NAME},
        "maxProperties": 100,
    },
}
