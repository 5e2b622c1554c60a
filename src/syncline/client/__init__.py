"""The Python client of syncline (and of any Copilot.cx-compatible Collect API).

- `Collector`: send events in batches with retries; the result lists invalid events.
- `syncline.client.events`: a typed constructor for every event type.
- `verify_webhook`: check a webhook's `X-Comapi-Signature` and Standard Webhooks signatures.
- `RevisionFilter`: drop repeated and stale profile webhooks.

Importing it is cheap: no server code, and httpx is loaded when a `Collector` is made.
"""

from syncline.client import events
from syncline.client.collector import Collector, InvalidEvent, SendResult
from syncline.client.errors import (
    AuthenticationError,
    ClientError,
    CollectError,
    WebhookVerificationError,
)
from syncline.client.retry import RetryPolicy
from syncline.client.webhooks import RevisionFilter, verify_webhook

__all__ = [
    "AuthenticationError",
    "ClientError",
    "CollectError",
    "Collector",
    "InvalidEvent",
    "RetryPolicy",
    "RevisionFilter",
    "SendResult",
    "WebhookVerificationError",
    "events",
    "verify_webhook",
]
