"""Signatures of a webhook request: Dotdigital's and Standard Webhooks'.

    X-Comapi-Signature: hex(HMAC-SHA1(secret, body))
    webhook-id: <stable across retries>
    webhook-timestamp: <unix seconds>
    webhook-signature: v1,<base64(HMAC-SHA256(key, f"{id}.{timestamp}.{body}"))> [v1,... ]

Standard Webhooks keys written `whsec_<base64>` are used decoded; any other secret is used as
its UTF-8 bytes. During a rotation both secrets sign: `webhook-signature` lists both,
space-separated, as that spec allows; `X-Comapi-Signature` (one value by nature) carries the
new secret's and `X-Comapi-Signature-Previous` the old one's, so a receiver can switch at its
own pace.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from functools import lru_cache


def comapi_signature(secret: str, body: bytes) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha1).hexdigest()


@lru_cache(maxsize=1024)  # decoded once per secret, not per delivery
def standard_key(secret: str) -> bytes:
    if secret.startswith("whsec_"):
        try:
            return base64.b64decode(secret.removeprefix("whsec_"), validate=True)
        except binascii.Error:
            pass
    return secret.encode()


def standard_signature(secret: str, message_id: str, timestamp: int, body: bytes) -> str:
    signed = f"{message_id}.{timestamp}.".encode() + body
    digest = hmac.new(standard_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode()


def headers(secrets: list[str], message_id: str, timestamp: int, body: bytes) -> dict[str, str]:
    """Every signature header for `body`; `secrets` newest first (two during a rotation)."""
    out = {
        "X-Comapi-Signature": comapi_signature(secrets[0], body),
        "webhook-id": message_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(
            standard_signature(s, message_id, timestamp, body) for s in secrets
        ),
    }
    if len(secrets) > 1:
        out["X-Comapi-Signature-Previous"] = comapi_signature(secrets[1], body)
    return out
