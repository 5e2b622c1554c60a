"""For webhook receivers: check a request's signatures, then drop what is stale or repeated.

    payload = verify_webhook(body, request.headers, secret)   # raises WebhookVerificationError
    for envelope in revisions.fresh(payload):                 # a RevisionFilter, kept around
        handle(envelope)

syncline signs every request twice (DESIGN.md section 5): `X-Comapi-Signature`, the lowercase
hex HMAC-SHA1 of the raw body (as Dotdigital does), and Standard Webhooks' `webhook-id`,
`webhook-timestamp` and `webhook-signature` (`v1,<base64 HMAC-SHA256 of "id.timestamp.body">`;
a `whsec_<base64>` secret is used decoded). During a secret rotation the sender signs with
both secrets: `webhook-signature` lists two signatures and `X-Comapi-Signature-Previous`
carries the old secret's, so a receiver holding either secret verifies.
"""

from __future__ import annotations

import hmac
import threading
import time
from collections import OrderedDict
from collections.abc import Iterable, Mapping
from typing import Any

import msgspec

from syncline.client.errors import WebhookVerificationError
from syncline.delivery.signing import comapi_signature, standard_signature

DEFAULT_TOLERANCE = 300  # seconds, as the Standard Webhooks libraries default


def verify_webhook(
    body: bytes | str,
    headers: Mapping[str, str],
    secret: str | Iterable[str],
    *,
    tolerance: float = DEFAULT_TOLERANCE,
    require_timestamp: bool = False,
    now: float | None = None,
) -> Any:
    """The decoded JSON body (an envelope, or a list of them) once its signatures check out.

    Every signature scheme present must verify with one of `secret` (several during your own
    rotation), and at least one scheme must be present. The Standard Webhooks timestamp must
    be within `tolerance` seconds of `now`; with `require_timestamp`, a request signed only
    the Dotdigital way (no timestamp, so no replay protection) is refused.
    Pass the raw body bytes as received: a re-serialised body does not verify.
    """
    raw = body.encode() if isinstance(body, str) else bytes(body)
    secrets = [secret] if isinstance(secret, str) else list(secret)
    if not secrets or any(not s for s in secrets):
        raise WebhookVerificationError("no secret to verify with")
    found = {k.lower(): v for k, v in headers.items()}
    has_standard = "webhook-signature" in found
    has_comapi = "x-comapi-signature" in found
    if not has_standard and not has_comapi:
        raise WebhookVerificationError(
            "unsigned request: neither webhook-signature nor X-Comapi-Signature is present"
        )
    if require_timestamp and not has_standard:
        raise WebhookVerificationError("webhook-signature and webhook-timestamp are required")
    if has_standard:
        _check_standard(raw, found, secrets, tolerance, time.time() if now is None else now)
    if has_comapi:
        _check_comapi(raw, found, secrets)
    try:
        return msgspec.json.decode(raw)
    except msgspec.DecodeError as exc:
        raise WebhookVerificationError(f"signed, but the body is not JSON: {exc}") from exc


def _check_standard(
    raw: bytes, headers: dict[str, str], secrets: list[str], tolerance: float, now: float
) -> None:
    message_id = headers.get("webhook-id")
    stamp = headers.get("webhook-timestamp")
    if not message_id or not stamp:
        raise WebhookVerificationError("webhook-signature without webhook-id or webhook-timestamp")
    try:
        timestamp = int(stamp)
    except ValueError:
        raise WebhookVerificationError(f"webhook-timestamp is not an integer: {stamp!r}") from None
    if abs(now - timestamp) > tolerance:
        raise WebhookVerificationError(
            f"webhook-timestamp {timestamp} is {now - timestamp:+.0f} s from now "
            f"(tolerance {tolerance:g} s): too old, or a replay"
        )
    offered = headers["webhook-signature"].split()
    for secret in secrets:
        expected = standard_signature(secret, message_id, timestamp, raw)
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return
    raise WebhookVerificationError("webhook-signature: no signature matches the secret")


def _check_comapi(raw: bytes, headers: dict[str, str], secrets: list[str]) -> None:
    offered = [headers["x-comapi-signature"].strip().lower()]
    if "x-comapi-signature-previous" in headers:
        offered.append(headers["x-comapi-signature-previous"].strip().lower())
    for secret in secrets:
        expected = comapi_signature(secret, raw)
        if any(hmac.compare_digest(expected, sig) for sig in offered):
            return
    raise WebhookVerificationError("X-Comapi-Signature: the signature does not match the secret")


class RevisionFilter:
    """Drops repeated `eventId`s and stale `revision`s of a profile, in bounded memory.

    Webhooks are delivered at least once, and with `ordering=none` (or from the vendor, which
    promises no order) revision 3 may arrive after revision 5. Each profile's newest revision
    seen and the recent event ids are kept in LRU maps of at most `max_profiles` and
    `max_events` entries; a profile evicted from the map is treated as new again. Thread-safe.
    """

    def __init__(self, max_profiles: int = 100_000, max_events: int = 100_000) -> None:
        if max_profiles < 1 or max_events < 1:
            raise ValueError("max_profiles and max_events must be >= 1")
        self.max_profiles, self.max_events = max_profiles, max_events
        self._revisions: OrderedDict[tuple[str, str], int] = OrderedDict()
        self._events: OrderedDict[str, None] = OrderedDict()
        self._lock = threading.Lock()

    def accept(self, envelope: Mapping[str, Any]) -> bool:
        """True if the envelope is new and newer than anything seen for its profile."""
        event_id = envelope.get("eventId")
        with self._lock:
            if isinstance(event_id, str):
                if event_id in self._events:
                    self._events.move_to_end(event_id)
                    return False
                self._remember(self._events, event_id, None, self.max_events)
            key = _profile_key(envelope)
            revision = envelope.get("revision")
            if key is None or not isinstance(revision, int):
                return True
            last = self._revisions.get(key)
            if last is not None and revision <= last:
                self._revisions.move_to_end(key)
                return False
            self._remember(self._revisions, key, revision, self.max_profiles)
            return True

    def fresh(self, payload: Any) -> list[dict[str, Any]]:
        """The envelopes of a delivery (one, or a batch) that `accept` lets through, in order."""
        envelopes = payload if isinstance(payload, list) else [payload]
        return [e for e in envelopes if isinstance(e, dict) and self.accept(e)]

    @staticmethod
    def _remember(table: OrderedDict[Any, Any], key: Any, value: Any, limit: int) -> None:
        table[key] = value
        table.move_to_end(key)
        while len(table) > limit:
            table.popitem(last=False)


def _profile_key(envelope: Mapping[str, Any]) -> tuple[str, str] | None:
    payload = envelope.get("payload")
    profile = payload.get("id") if isinstance(payload, dict) else None
    if not isinstance(profile, str):
        return None
    return str(envelope.get("apiSpaceId", "")), profile
