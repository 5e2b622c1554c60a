"""Opaque pagination cursors: url-safe base64 of the sort key's parts."""

from __future__ import annotations

import base64
import binascii

from syncline.errors import RequestRejected


def encode_cursor(*parts: str) -> str:
    raw = "\x1f".join(parts).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_cursor(cursor: str) -> list[str]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4))
        return raw.decode().split("\x1f")
    except (binascii.Error, UnicodeDecodeError, ValueError) as exc:
        raise RequestRejected("cursor: not a cursor this server issued") from exc
