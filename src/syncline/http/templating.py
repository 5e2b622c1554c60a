"""The dashboard's Jinja2 templates (autoescaped), their filters, and its error pages."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import structlog
from starlette.requests import Request
from starlette.responses import Response
from starlette.templating import Jinja2Templates

from syncline import errors
from syncline.domain.profiles import iso
from syncline.services.dashboard import capped

HERE = Path(__file__).parent
TEMPLATES = HERE / "templates"
STATIC = HERE / "static"
log = structlog.get_logger("syncline.ui")

_STATUS: list[tuple[type[Exception], int, str]] = [
    (errors.NotFound, 404, "Not found"),
    (errors.PayloadTooLarge, 413, "Too large"),
    (errors.RequestRejected, 400, "Cannot do that"),
    (errors.Conflict, 409, "Conflict"),
    (errors.PreconditionFailed, 412, "Changed meanwhile"),
    (errors.RateLimited, 429, "Too many requests"),
    (errors.StorageUnavailable, 503, "Storage unavailable"),
]


def _pretty(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


def _raw_json(raw: bytes | str) -> str:
    """A raw event as stored, indented when it is JSON, else as it came."""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else raw
    try:
        return _pretty(json.loads(text))
    except ValueError:
        return text


def _percent(rate: float | None) -> str:
    return "–" if rate is None else f"{rate * 100:.1f}%"


def _millis(value: float | None) -> str:
    return "–" if value is None else f"{value:,.1f} ms"


def _when(ms: int | None) -> str:
    return iso(ms) or "–"


def build() -> Jinja2Templates:
    templates = Jinja2Templates(directory=str(TEMPLATES))
    env = templates.env
    env.filters.update(
        when=_when,
        capped=capped,
        percent=_percent,
        millis=_millis,
        pretty=_pretty,
        raw_json=_raw_json,
        number=lambda n: f"{n:,}",
    )
    env.trim_blocks = True
    env.lstrip_blocks = True
    return templates


def error_page(
    templates: Jinja2Templates, request: Request, exc: Exception, base: dict[str, Any]
) -> Response:
    """A SynclineError as a page that says what was wrong; anything else is logged, once."""
    for kind, status, title in _STATUS:
        if isinstance(exc, kind):
            context = {**base, "title": title, "message": str(exc), "status": status}
            return templates.TemplateResponse(request, "error.html", context, status_code=status)
    log.exception("unexpected error in the dashboard", path=request.url.path)
    context = {
        **base,
        "title": "Something went wrong",
        "message": "an unexpected error happened; it has been logged",
        "status": 500,
    }
    return templates.TemplateResponse(request, "error.html", context, status_code=500)
