"""The dashboard's plumbing: who is signed in, what they may see, pages and actions.

A page is a function of a `Visit` and a reader, run in the thread pool, whose dict fills a
template. An action is a POST that must come from a signed-in session with its CSRF token and
answers with a redirect (post/redirect/get). Any `SynclineError` becomes a page saying what
was wrong with the status it maps to; an expired or revoked session goes back to the login.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

from starlette.concurrency import run_in_threadpool
from starlette.datastructures import QueryParams
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.templating import Jinja2Templates

from syncline.errors import AuthError, NotFound, SynclineError
from syncline.http import forms
from syncline.http.context import Context, context
from syncline.http.routes.body import read_body
from syncline.http.session import COOKIE, CSRF_FIELD, CSRF_HEADER, Session, SessionSigner
from syncline.http.templating import error_page
from syncline.services import spaces
from syncline.storage.interface import Reader

LOGIN = "/ui/login"
FORM_LIMIT = 256 * 1024


@dataclass
class UI:
    templates: Jinja2Templates
    signer: SessionSigner


@dataclass
class Visit:
    ctx: Context
    session: Session
    space: str
    request: Request

    @property
    def query(self) -> QueryParams:
        return self.request.query_params

    def param(self, name: str) -> str:
        value: str = self.request.path_params[name]
        return value


Reads = Callable[[Visit, Reader], dict[str, Any]]
Act = Callable[[Visit, dict[str, list[str]]], Awaitable[str]]
Endpoint = Callable[[Request], Awaitable[Response]]


def ui_of(request: Request) -> UI:
    ui: UI = request.app.state.ui
    return ui


def session_of(request: Request) -> Session | None:
    return ui_of(request).signer.read(request.cookies.get(COOKIE), int(time.time()))


def still_valid(ctx: Context, reader: Reader, session: Session) -> bool:
    """An admin session needs an admin token still set; a token's, the token unrevoked."""
    if session.is_admin:
        return ctx.settings.admin_token is not None
    credential = reader.credential(session.credential_id)
    return (
        credential is not None
        and credential.kind == spaces.API_TOKEN
        and credential.revoked_at is None
        and credential.api_space_id == session.scope
    )


def authenticate(ctx: Context, reader: Reader, token: str) -> tuple[str, str]:
    """The scope and credential id of a token typed at the login."""
    admin = ctx.settings.admin_token
    if admin is not None and hmac.compare_digest(token.encode(), admin.encode()):
        return "*", "admin"
    parts = token.split(".")
    credential = reader.credential(parts[1]) if len(parts) == 3 else None
    if credential is None:
        raise AuthError("unknown API token")
    spaces.authenticate_token(reader, credential.api_space_id, token)
    return credential.api_space_id, credential.credential_id


def to_login(request: Request) -> Response:
    if request.headers.get("hx-request"):
        response: Response = Response(status_code=204, headers={"HX-Redirect": LOGIN})
    else:
        response = RedirectResponse(LOGIN, status_code=303)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def same_origin(request: Request) -> bool:
    """A POST's Origin, when the browser sends one, is this server."""
    origin = request.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == request.headers.get("host")


def base_context(session: Session | None, space: str | None, section: str) -> dict[str, Any]:
    return {
        "session": session,
        "space": space,
        "csrf": session.csrf if session else "",
        "section": section,
    }


def _visible(reader: Reader, session: Session, space: str) -> None:
    """Another space, or one that does not exist, is simply not found."""
    if len(space) > 64 or not session.may_see(space) or reader.space(space) is None:
        raise NotFound(f"no API space {space[:64]}")


def page(template: str, reads: Reads, section: str = "") -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ui = ui_of(request)
        session = session_of(request)
        space = request.path_params.get("space")
        base = base_context(session, space, section)
        if session is None:
            return to_login(request)
        ctx = context(request)

        def read() -> dict[str, Any]:
            reader = ctx.storage.reader()
            if not still_valid(ctx, reader, session):
                raise AuthError("session no longer valid")
            if space is None:
                return reads(Visit(ctx, session, "", request), reader)
            _visible(reader, session, space)
            return reads(Visit(ctx, session, space, request), reader)

        try:
            data = await run_in_threadpool(read)
        except AuthError:
            return to_login(request)
        except Exception as exc:
            return error_page(ui.templates, request, exc, base)
        return ui.templates.TemplateResponse(request, template, {**base, **data})

    return endpoint


def action(act: Act) -> Endpoint:
    async def endpoint(request: Request) -> Response:
        ui = ui_of(request)
        session = session_of(request)
        space = request.path_params.get("space", "")
        base = base_context(session, space, "")
        if session is None:
            return to_login(request)
        ctx = context(request)
        try:
            form = forms.fields(await read_body(request, FORM_LIMIT))
            sent = request.headers.get(CSRF_HEADER) or forms.one(form, CSRF_FIELD)
            if not same_origin(request) or not session.csrf_ok(sent):
                return _forbidden(ui, request, base)

            def check() -> bool:
                reader = ctx.storage.reader()
                if not still_valid(ctx, reader, session):
                    return False
                if space:
                    _visible(reader, session, space)
                return True

            if not await run_in_threadpool(check):
                return to_login(request)
            target = await act(Visit(ctx, session, space, request), form)
        except SynclineError as exc:
            return error_page(ui.templates, request, exc, base)
        return RedirectResponse(target, status_code=303)

    return endpoint


def _forbidden(ui: UI, request: Request, base: dict[str, Any]) -> Response:
    context = {
        **base,
        "title": "Forbidden",
        "message": "this form is stale or did not come from this dashboard; reload and retry",
        "status": 403,
    }
    return ui.templates.TemplateResponse(request, "error.html", context, status_code=403)


def on_error(request: Request, exc: Exception, section: str = "") -> Response:
    """For handlers outside `page` and `action`."""
    base = base_context(session_of(request), request.path_params.get("space"), section)
    return error_page(ui_of(request).templates, request, exc, base)
