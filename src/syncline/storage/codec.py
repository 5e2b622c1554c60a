"""Domain states <-> the JSON `state` column. One compact document per entity."""

from __future__ import annotations

from typing import Any

import msgspec

from syncline.domain.associations import AssociationState
from syncline.domain.sync import SyncRun
from syncline.domain.things import ThingState
from syncline.domain.users import ProfileMark, UserState

encode = msgspec.json.Encoder().encode
_encode_sorted = msgspec.json.Encoder(order="sorted").encode
_decode = msgspec.json.Decoder(dict[str, Any]).decode
_decode_list = msgspec.json.Decoder(list[Any]).decode


def user_state(user: UserState) -> bytes:
    return encode({"f": user.fields, "c": user.custom, "d": user.deleted, "o": user.created_on})


USER_COLUMNS = (
    "user_id, state, created, first_seen, unsubscribed, deleted, revision, etag, profile, "
    "updated_on, devices"
)


def user_from(
    user_id: str,
    state: str | bytes,
    created: int,
    first_seen: int,
    unsubscribed: int,
    deleted: int,
    revision: int,
    etag: str | None,
    profile: str | bytes | None,
    updated_on: int | None,
    devices: str | bytes | None,
) -> UserState:
    doc = _decode(state)
    mark = ProfileMark(
        revision,
        _decode(profile) if profile else None,
        etag,
        bool(deleted),
        updated_on,
        _decode_list(devices) if devices else None,
    )
    return UserState(
        user_id,
        doc["f"],
        doc["c"],
        doc["d"],
        doc["o"],
        bool(created),
        first_seen,
        bool(unsubscribed),
        profile=mark,
    )


def devices_doc(user: UserState) -> bytes | None:
    devices = user.profile.devices
    return encode(devices) if devices is not None else None


def profile_doc(user: UserState) -> bytes | None:
    doc = user.profile.doc
    return _encode_sorted(doc) if doc is not None else None


def thing_state(thing: ThingState) -> bytes:
    return encode(
        {
            "f": thing.fields,
            "c": thing.custom,
            "o": thing.created_on,
            "s": thing.status,
            "l": thing.last_connected,
            "u": thing.firmware_upgrade,
            "n": thing.counters,
        }
    )


def thing_from(thing_id: str, state: str | bytes, created: int, first_seen: int) -> ThingState:
    doc = _decode(state)
    return ThingState(
        thing_id,
        doc["f"],
        doc["c"],
        doc["o"],
        bool(created),
        first_seen,
        doc["s"],
        doc["l"],
        doc["u"],
        doc["n"],
    )


def link_state(link: AssociationState) -> bytes:
    return encode(link.register)


def link_from(user_id: str, thing_id: str, state: str | bytes) -> AssociationState:
    return AssociationState(user_id, thing_id, _decode_list(state))


def sync_from(row: tuple[Any, ...]) -> SyncRun:
    run, status, opened_at, started_event_id, completed_at, counts, report = row
    return SyncRun(
        run,
        status,
        opened_at,
        started_event_id,
        completed_at,
        _decode(counts),
        _decode(report) if report else None,
    )


def decode_json(raw: str | bytes) -> Any:
    return msgspec.json.decode(raw)
