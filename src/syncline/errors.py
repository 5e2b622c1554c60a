"""The one error hierarchy of syncline.

    SynclineError
    ├── ConfigError            a setting is missing or invalid (names the setting)
    ├── AuthError              credentials missing, wrong or revoked
    ├── NotFound               the resource does not exist in this API space
    ├── RequestRejected        the request as a whole is unacceptable (400)
    │   └── PayloadTooLarge    over the body-size or event-count limits (413)
    ├── Conflict               the state forbids the operation (409)
    ├── PreconditionFailed     an If-Match did not match the current ETag (412)
    ├── RateLimited            over the credential's request rate (429, Retry-After)
    └── StorageUnavailable     the database cannot be reached or written (503)

Per-event problems are not exceptions: they are `EventError` values returned with the event
(see `schemas.collect`), because one bad event must not fail its batch.
Only `http/` maps these to status codes and vendor error bodies.
"""


class SynclineError(Exception):
    """Base of every error syncline raises on purpose."""


class ConfigError(SynclineError):
    def __init__(self, setting: str, message: str) -> None:
        super().__init__(f"{setting}: {message}")
        self.setting = setting


class AuthError(SynclineError):
    pass


class NotFound(SynclineError):
    pass


class RequestRejected(SynclineError):
    pass


class PayloadTooLarge(RequestRejected):
    pass


class BodyTimedOut(RequestRejected):
    pass


class Conflict(SynclineError):
    pass


class PreconditionFailed(SynclineError):
    pass


class RateLimited(SynclineError):
    def __init__(self, retry_after: int) -> None:
        super().__init__(f"rate limit exceeded; retry after {retry_after} s")
        self.retry_after = retry_after


class StorageUnavailable(SynclineError):
    pass


class ConcurrentChange(StorageUnavailable):
    """Another process changed what this unit of work read (or they deadlocked): running the
    same work again, from a fresh read, succeeds. The writer retries it; a client seeing it
    gets a 503 to retry."""


STATE_CODES = ("event_id.", "sync.")


def error_text(code: str, field: str, message: str) -> str:
    """An event error for people: led by the field, or by the code for state errors."""
    lead = code if code.startswith(STATE_CODES) else field
    return f"{lead}: {message}"
