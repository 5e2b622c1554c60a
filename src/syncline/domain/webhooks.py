"""Webhook subscriptions: which events an endpoint wants, and where it may be sent.

Pure rules: the event-name filter, the URL policy (http(s) only; loopback, private, link-local
and other non-public addresses refused unless allowed), and the Dotdigital envelope.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

EVENT_NAMES = (
    "profile.create",
    "profile.update",
    "profile.delete",
    "profile.undelete",
    "profile.devicesUpdated",
)
WILDCARD = "profile.*"
ORDERING = ("profile", "none")
ENABLED, PAUSED, DISABLED = "enabled", "paused", "disabled"
MIN_SECRET = 16


class WebhookRuleError(ValueError):
    """A subscription that cannot be accepted; the message leads with the field."""


@dataclass(frozen=True, slots=True)
class Batch:
    max_events: int
    timeout_seconds: int


def check_events(events: list[str]) -> list[str]:
    if not events:
        raise WebhookRuleError("events: name at least one event, or profile.*")
    for name in events:
        if name != WILDCARD and name not in EVENT_NAMES:
            raise WebhookRuleError(
                f"events: unknown event {name!r}; available: {', '.join(EVENT_NAMES)} or profile.*"
            )
    return sorted(set(events))


def wants(events: list[str], name: str) -> bool:
    return WILDCARD in events or name in events


def check_batch(max_events: int, timeout_seconds: int) -> Batch:
    if not 1 <= max_events <= 500:
        raise WebhookRuleError("batch.maxEvents: must be from 1 to 500")
    if not 1 <= timeout_seconds <= 60:
        raise WebhookRuleError("batch.timeoutSeconds: must be from 1 to 60")
    return Batch(max_events, timeout_seconds)


def check_secret(secret: str) -> str:
    if len(secret) < MIN_SECRET:
        raise WebhookRuleError(f"secret: must be at least {MIN_SECRET} characters")
    return secret


def check_url(url: str, allow_private: bool) -> str:
    """An absolute http(s) URL; a literal non-public address only when allowed.

    Host names are checked again when they resolve (the sender refuses a name that resolves to
    a non-public address), so DNS cannot be used to slip past this.
    """
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise WebhookRuleError(f"url: not a valid URL ({exc})") from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise WebhookRuleError("url: must be an absolute http:// or https:// URL")
    if parts.username or parts.password:
        raise WebhookRuleError("url: must not carry credentials; sign with the secret instead")
    if port == 0:
        raise WebhookRuleError("url: port 0 is not a destination")
    if not allow_private and not is_public_host(parts.hostname):
        raise WebhookRuleError(
            "url: loopback, private and link-local addresses are refused "
            "(SYNCLINE_WEBHOOKS_ALLOW_PRIVATE=true allows them)"
        )
    return url


def is_public_host(host: str) -> bool:
    """False for a literal non-public address or a name that is local by definition."""
    name = host.strip("[]").rstrip(".").lower()
    if name == "localhost" or name.endswith((".localhost", ".local", ".internal")):
        return False
    try:
        address = ipaddress.ip_address(name)
    except ValueError:
        return True  # a name: checked once resolved
    return is_public_address(address)


def is_public_address(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> bool:
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    return address.is_global and not address.is_multicast


def envelope(
    event_id: str,
    account_id: int,
    space: str,
    name: str,
    payload: dict[str, Any],
    revision: int,
    etag: str,
    timestamp: str,
) -> dict[str, Any]:
    """Dotdigital's envelope, key for key."""
    return {
        "eventId": event_id,
        "accountId": account_id,
        "apiSpaceId": space,
        "name": name,
        "payload": payload,
        "revision": revision,
        "etag": etag,
        "timestamp": timestamp,
    }
