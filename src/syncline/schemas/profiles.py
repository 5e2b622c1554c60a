"""The Profiles API's wire: a profile body for PUT (replace) and PATCH (merge).

A body is a JSON object of profile fields. Standard fields keep their types (`email` a valid
address, `utcOffset` as Copilot.cx writes it, `analysisConsent` a boolean); any other key is a
custom property holding a scalar. `null` removes a field. `id` may repeat the path's id. So
that a client can PUT what it read, the read-only fields are accepted back: the system fields
(`_createdOn`, `_updatedOn`, `_revision`) are ignored, and `unsubscribed` only unchanged (it
follows unsubscribe events, 400 otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated, Any

import msgspec
from msgspec import Meta

from syncline.domain.profiles import FIELD_OF, SYSTEM_FIELDS
from syncline.errors import RequestRejected
from syncline.schemas.collect import (
    EMAIL_PATTERN,
    NO_NUL,
    UTC_OFFSET_PATTERN,
    PropertyKey,
    Scalar,
)

MAX_FIELDS = 100
_Name = Annotated[str, Meta(max_length=256, pattern=NO_NUL)]
_TYPES: dict[str, Any] = {
    "firstName": _Name | None,
    "lastName": _Name | None,
    "email": Annotated[str, Meta(max_length=254, pattern=EMAIL_PATTERN)] | None,
    "utcOffset": Annotated[str, Meta(pattern=UTC_OFFSET_PATTERN)] | None,
    "analysisConsent": bool | None,
}
_DESCRIBE = {
    "firstName": "a string of at most 256 characters, without U+0000",
    "lastName": "a string of at most 256 characters, without U+0000",
    "email": "a valid email address",
    "utcOffset": "[+-]HHMM from -1200 to +1459, Z or 0000",
    "analysisConsent": "a boolean",
}
_decode_object = msgspec.json.Decoder(dict[str, Any]).decode


@dataclass(frozen=True, slots=True)
class ProfileWrite:
    """A validated write: standard fields by their Copilot.cx names, and custom properties."""

    fields: dict[str, Any]
    custom: dict[str, Any]
    unsubscribed: bool | None
    body: dict[str, Any]


def decode_write(raw: bytes, profile_id: str) -> ProfileWrite:
    try:
        body = _decode_object(raw)
    except msgspec.ValidationError as exc:
        raise RequestRejected("body: must be a JSON object of profile fields") from exc
    except (msgspec.DecodeError, UnicodeDecodeError) as exc:
        raise RequestRejected(f"body is not valid JSON: {exc}") from exc
    except RecursionError as exc:
        raise RequestRejected("body is not valid JSON: nested too deeply") from exc
    if len(body) > MAX_FIELDS:
        raise RequestRejected(f"body: at most {MAX_FIELDS} fields")
    fields: dict[str, Any] = {}
    custom: dict[str, Any] = {}
    unsubscribed: bool | None = None
    for key, value in body.items():
        if key == "id":
            if value != profile_id:
                raise RequestRejected("id: must equal the profile id of the path")
        elif key in SYSTEM_FIELDS:
            continue  # read-only metadata, accepted back so that a GET can be PUT again
        elif key.startswith("_"):
            raise RequestRejected(f"{key}: fields starting with _ are reserved for the system")
        elif key == "unsubscribed":
            if not isinstance(value, bool):
                raise RequestRejected("unsubscribed: must be a boolean")
            unsubscribed = value
        elif key in _TYPES:
            fields[FIELD_OF[key]] = _convert(key, value, _TYPES[key], _DESCRIBE[key])
        else:
            _convert(key, key, PropertyKey, "a name of 1 to 128 characters")
            custom[key] = _convert(key, value, Scalar | None, "a string, number or boolean")
    return ProfileWrite(fields, custom, unsubscribed, body)


def _convert(key: str, value: Any, kind: Any, describe: str) -> Any:
    try:
        return msgspec.convert(value, kind)
    except msgspec.ValidationError:
        raise RequestRejected(f"{key}: must be {describe}") from None
