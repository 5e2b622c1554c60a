"""Identifiers minted on hot paths."""

from __future__ import annotations

import os


def uuid7(millis: int) -> str:
    """A version 7 UUID (RFC 9562): 48 bits of Unix milliseconds, then 74 random bits.

    Ids minted later sort later, so a B-tree keyed by them appends instead of writing a
    random page per row (the outbox's revisions and their deliveries are keyed by this id).
    """
    rand = int.from_bytes(os.urandom(10), "big")
    value = (
        (millis & 0xFFFF_FFFF_FFFF) << 80
        | 0x7 << 76
        | (rand >> 68) << 64  # 12 bits
        | 0b10 << 62  # the RFC's variant
        | rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 bits
    )
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"
