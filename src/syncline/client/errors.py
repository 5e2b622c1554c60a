"""The errors `syncline.client` raises.

    ClientError
    ├── CollectError               a request failed for good (after retries, or not retryable)
    │   └── AuthenticationError    401/403: the client_id/client_secret were refused
    └── WebhookVerificationError   a webhook's signature or timestamp does not check out

Invalid *events* are not errors: `Collector.send` lists them in its result, because the server
accepts the valid events of a request whatever the others are.
"""

from __future__ import annotations


class ClientError(Exception):
    """Base of every error `syncline.client` raises."""


class CollectError(ClientError):
    """A Collect request failed: `status` is the last HTTP status (None for a network error)."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class AuthenticationError(CollectError):
    pass


class WebhookVerificationError(ClientError):
    pass
