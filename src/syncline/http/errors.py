"""Exceptions -> HTTP statuses and `{"reason", "error_message"}` bodies. Never a bare 500."""

from __future__ import annotations

import structlog
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from syncline import errors
from syncline.http.auth import challenge
from syncline.http.responses import error

log = structlog.get_logger("syncline.http")

_STATUS: list[tuple[type[Exception], int, str]] = [
    (errors.PayloadTooLarge, 413, "COMMON.PAYLOAD_TOO_LARGE"),
    (errors.BodyTimedOut, 408, "COMMON.REQUEST_TIMEOUT"),
    (errors.RequestRejected, 400, "COMMON.REQUEST_VALIDATION"),
    (errors.AuthError, 401, "AUTH.UNAUTHORIZED"),
    (errors.NotFound, 404, "COMMON.NOT_FOUND"),
    (errors.Conflict, 409, "COMMON.CONFLICT"),
    (errors.PreconditionFailed, 412, "COMMON.PRECONDITION_FAILED"),
    (errors.RateLimited, 429, "COMMON.TOO_MANY_REQUESTS"),
    (errors.StorageUnavailable, 503, "COMMON.SERVICE_UNAVAILABLE"),
]


async def on_syncline_error(request: Request, exc: Exception) -> Response:
    for kind, status, reason in _STATUS:
        if isinstance(exc, kind):
            headers = {"WWW-Authenticate": challenge(request)} if status == 401 else {}
            if isinstance(exc, errors.RateLimited):
                headers["Retry-After"] = str(exc.retry_after)
            if status == 408:
                headers["Connection"] = "close"  # the rest of that body is not waited for
            if status == 503:
                headers["Retry-After"] = "1"
                log.warning("storage unavailable", error=str(exc), path=request.url.path)
            message = "authentication failed" if status == 401 else str(exc)
            return error(status, reason, message, **headers)
    return await on_unexpected(request, exc)


async def on_http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    reasons = {404: "COMMON.NOT_FOUND", 405: "COMMON.METHOD_NOT_ALLOWED"}
    reason = reasons.get(exc.status_code, "COMMON.ERROR")
    headers = dict(exc.headers or {})
    if exc.status_code == 405:
        headers["Allow"] = ", ".join(allowed_methods(request))
    return error(exc.status_code, reason, exc.detail, **headers)


def allowed_methods(request: Request) -> list[str]:
    """The methods of the resource at this path: of the matching routes with the fewest path
    parameters (`.../webhooks/availableevents` is not a webhook id)."""
    path = request.url.path
    matching = [r for r in request.app.routes if isinstance(r, Route) and r.path_regex.match(path)]
    fewest = min((len(r.param_convertors) for r in matching), default=0)
    specific = [r for r in matching if len(r.param_convertors) == fewest]
    return sorted({m for r in specific for m in r.methods or ()})


async def on_unexpected(request: Request, exc: Exception) -> Response:
    log.exception("unexpected error", path=request.url.path)
    return error(500, "COMMON.INTERNAL", "internal error; it has been logged")
