"""A profile document's canonical JSON (compact, key-sorted, UTF-8) and its ETag.

The domain decides when a document is a new revision; these bytes are what it compares and
what the ETag is computed over (msgspec: about 9x faster than `json.dumps(sort_keys=True)`).
"""

from __future__ import annotations

from typing import Any

import msgspec

from syncline.domain.profiles import etag_of_bytes

_encode = msgspec.json.Encoder(order="sorted").encode


def canonical(doc: dict[str, Any]) -> bytes:
    return _encode(doc)


def etag(doc: dict[str, Any]) -> str:
    """The ETag of a document: over its canonical JSON."""
    return etag_of_bytes(canonical(doc))
