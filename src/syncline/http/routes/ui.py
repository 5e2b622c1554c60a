"""The operator dashboard at `/ui`: the same services as the JSON APIs, as pages.

Pages read through `uikit.page` (signed in, scoped to what the token may see, bounded reads);
actions go through `uikit.action` (CSRF-checked POSTs) and the group-commit writer, as the API
routes do, then redirect to the page that shows their outcome.
"""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import quote, unquote, urlencode

import msgspec
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from syncline.clock import now_ms
from syncline.domain import query as q
from syncline.errors import AuthError, NotFound, RequestRejected, SynclineError
from syncline.http import chart, forms, templating, uikit
from syncline.http.context import context
from syncline.http.routes.body import read_body
from syncline.http.session import COOKIE, SessionSigner, session_key
from syncline.http.uikit import UI, Visit
from syncline.schemas.collect import EVENT_TYPES, Id
from syncline.schemas.webhooks import ReplaySpec
from syncline.services import dashboard, profiles, replay, syncstatus, things, webhooks
from syncline.settings import Settings
from syncline.storage.interface import Reader
from syncline.storage.pages import decode_cursor, encode_cursor

PAGE = 50
WINDOW = 25_000  # profiles read at most per page of a search no index serves
REJECT_CODES = (
    "field.missing",
    "field.type",
    "field.invalid",
    "field.unknown",
    "field.too_many",
    "type.unknown",
    "timestamp.too_old",
    "timestamp.in_future",
    "event_id.reused",
    "sync.not_open",
    "sync.already_completed",
    "event.malformed",
)
STATUSES = ("pending", "accepted", "duplicate")


def build(settings: Settings) -> UI:
    return UI(templating.build(), SessionSigner(session_key(settings.admin_token)))


def _base(v: Visit) -> str:
    return f"/ui/spaces/{v.space}"


def _hook_id(v: Visit) -> str:
    value = v.param("webhook_id")
    if len(value) > 64:
        raise NotFound(f"no webhook {value[:64]!r}")
    return value


def _profile_id(v: Visit) -> str:
    value = v.param("profile_id")
    try:
        msgspec.convert(value, Id)
    except msgspec.ValidationError:
        raise NotFound(f"no profile {value[:128]!r}") from None
    return value


# login ---------------------------------------------------------------------------------------
async def login_form(request: Request) -> Response:
    if uikit.session_of(request) is not None:
        return RedirectResponse("/ui", status_code=303)
    ui = uikit.ui_of(request)
    return ui.templates.TemplateResponse(request, "login.html", uikit.base_context(None, None, ""))


async def login(request: Request) -> Response:
    ui, ctx = uikit.ui_of(request), context(request)
    base = uikit.base_context(None, None, "")
    try:
        if not uikit.same_origin(request):
            raise RequestRejected("the login form must be sent from this dashboard")
        ctx.limiter.check(f"ui-login:{request.client.host if request.client else ''}")
        token = forms.one(forms.fields(await read_body(request, 16 * 1024)), "token")
        scope, credential = await run_in_threadpool(
            lambda: uikit.authenticate(ctx, ctx.storage.reader(), token)
        )
    except (AuthError, NotFound):
        refused = {**base, "error": "unknown, wrong or revoked token"}
        return ui.templates.TemplateResponse(request, "login.html", refused, status_code=401)
    except SynclineError as exc:
        return uikit.on_error(request, exc)
    _, cookie = ui.signer.issue(scope, credential, int(time.time()))
    response = RedirectResponse("/ui", status_code=303)
    response.set_cookie(
        COOKIE,
        cookie,
        max_age=ui.signer.lifetime,
        path="/ui",
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",
    )
    return response


async def _logout(v: Visit, form: dict[str, list[str]]) -> str:
    return uikit.LOGIN


async def logout(request: Request) -> Response:
    response = await uikit.action(_logout)(request)
    response.delete_cookie(COOKIE, path="/ui")
    return response


def _home(v: Visit, reader: Reader) -> dict[str, Any]:
    return {"spaces": reader.spaces() if v.session.is_admin else []}


async def home(request: Request) -> Response:
    session = uikit.session_of(request)
    if session is not None and not session.is_admin:
        return RedirectResponse(f"/ui/spaces/{session.scope}", status_code=303)
    return await uikit.page("home.html", _home)(request)


# overview and sync ---------------------------------------------------------------------------
def _overview(v: Visit, reader: Reader) -> dict[str, Any]:
    view = dashboard.overview(reader, v.space, now_ms())
    return {"ov": view, "chart": chart.bars(view.minutes)}


def _sync(v: Visit, reader: Reader) -> dict[str, Any]:
    return {"sync": syncstatus.status(reader, v.space)}


async def _reopen(v: Visit, form: dict[str, list[str]]) -> str:
    ctx, space, now = v.ctx, v.space, now_ms()
    await ctx.writer.run(lambda uow: syncstatus.reopen(uow, ctx.storage.reader(), space, now))
    return f"{_base(v)}/sync"


# rejected events -----------------------------------------------------------------------------
def _filters(q: Any) -> tuple[str | None, str | None, str | None]:
    status = q.get("status", "pending")
    if status not in ("", *STATUSES):
        raise RequestRejected(f"status: must be one of {', '.join(STATUSES)} or empty")
    code, kind = q.get("code", "")[:128], q.get("type", "")[:128]
    return status or None, code or None, kind or None


def _rejected(v: Visit, reader: Reader) -> dict[str, Any]:
    status, code, kind = _filters(v.query)
    cursor = v.query.get("cursor") or None
    found = reader.rejected(v.space, status=status, code=code, type=kind, cursor=cursor, limit=PAGE)
    filters = {"status": status or "", "code": code or "", "type": kind or ""}
    return {
        "items": found.items,
        "next": f"?{urlencode({**filters, 'cursor': found.next_cursor})}"
        if found.next_cursor
        else None,
        "filters": filters,
        "count": reader.rejected_count(v.space, status, code, kind, dashboard.CAP),
        "codes": REJECT_CODES,
        "types": EVENT_TYPES,
        "statuses": STATUSES,
        "replayed": forms.counts_note(v.query.get("replayed"), 3),
        "first_page": cursor is None,
    }


def _rejected_one(v: Visit, reader: Reader) -> dict[str, Any]:
    rejected_id = v.param("rejected_id")
    row = reader.rejected_event(v.space, rejected_id) if len(rejected_id) <= 64 else None
    if row is None:
        raise NotFound(f"no rejected event {rejected_id[:64]!r}")
    return {"row": row, "replayed": forms.counts_note(v.query.get("replayed"), 3)}


async def _replay_rejected(v: Visit, form: dict[str, list[str]]) -> str:
    ctx, space, now = v.ctx, v.space, now_ms()
    ids = [i for i in form.get("ids", []) if i][:1000]
    every = forms.one(form, "all") == "1"
    code, kind = forms.one(form, "code") or None, forms.one(form, "type") or None
    if not ids and not every:
        raise RequestRejected("select at least one rejected event, or replay all that match")
    result = await ctx.writer.run(
        lambda uow: replay.replay(
            uow,
            space,
            now,
            ctx.limits,
            ids=None if every else ids,
            code=code if every else None,
            type=kind if every else None,
            limit=10_000 if every else len(ids),
        )
    )
    note = f"{result.accepted}.{result.duplicates}.{result.still_rejected}"
    if forms.one(form, "back") == "detail" and len(ids) == 1:
        return f"{_base(v)}/rejected/{quote(ids[0], safe='')}?replayed={note}"
    kept = {"status": "pending", "code": code or "", "type": kind or "", "replayed": note}
    return f"{_base(v)}/rejected?{urlencode(kept)}"


# profiles ------------------------------------------------------------------------------------
def _indexed(query: q.Query) -> bool:
    """Terms the storage answers from an index: ids or emails, equal to one or in a list."""
    return any(t.field in ("id", "email") and t.op in (q.EQ, q.IN) for t in query.terms)


def _profiles(v: Visit, reader: Reader) -> dict[str, Any]:
    """A page of matches; terms no index serves read at most WINDOW profiles a page."""
    typed = v.query.get("q", "")[:2000]
    raw = forms.typed_query(typed)
    cursor = v.query.get("cursor") or None
    after = decode_cursor(cursor)[0] if cursor else None
    try:
        query = q.parse(raw)
    except q.QuerySyntaxError as exc:  # name the term as it was typed, not as it was encoded
        raise RequestRejected(unquote(str(exc))) from exc
    bound = None
    if query.terms and not _indexed(query):
        bound = reader.profile_window_end(v.space, after, WINDOW)
    paged = "&".join(filter(None, [raw, f"limit={PAGE}", cursor and f"cursor={quote(cursor)}"]))
    rows, _, _, following = profiles.find(reader, v.space, paged, upto=bound)
    searched_to = None
    if following is None and bound is not None:
        following, searched_to = encode_cursor(bound), bound
    return {
        "typed": typed,
        "rows": [profiles.served(r) for r in rows],
        "next": f"?{urlencode({'q': typed, 'cursor': following})}" if following else None,
        "first_page": not cursor,
        "searched_to": searched_to,
        "window": WINDOW,
    }


def _profile(v: Visit, reader: Reader) -> dict[str, Any]:
    pid = _profile_id(v)
    try:
        doc: dict[str, Any] | None = profiles.served(profiles.get(reader, v.space, pid))
    except NotFound:
        doc = None
    after = v.query.get("after")
    history, more = profiles.history(reader, v.space, pid, after, 25)
    return {
        "pid": pid,
        "doc": doc,
        "things": things.of_profile(reader, v.space, pid) if doc is not None else [],
        "history": history,
        "next": f"?{urlencode({'after': more})}" if more else None,
        "first_page": not after,
    }


# webhooks ------------------------------------------------------------------------------------
def _webhooks(v: Visit, reader: Reader) -> dict[str, Any]:
    rows = reader.webhooks(v.space)
    return {"hooks": [dashboard.hook_summary(reader, v.space, row) for row in rows]}


def _hook_live(v: Visit, reader: Reader) -> dict[str, Any]:
    row = webhooks.get(reader, v.space, _hook_id(v))
    return {"hook": dashboard.hook_summary(reader, v.space, row), "row": row}


def _webhook(v: Visit, reader: Reader) -> dict[str, Any]:
    out = _hook_live(v, reader)
    hook, q = out["hook"].id, v.query
    attempts, next_attempt = webhooks.attempts(reader, v.space, hook, q.get("attempts"), 25)
    dead, next_dead = webhooks.dead_letters(reader, v.space, hook, q.get("dead"), 25)
    return {
        **out,
        "attempts": attempts,
        "dead": dead,
        "next_attempts": f"?{urlencode({'attempts': next_attempt})}" if next_attempt else None,
        "next_dead": f"?{urlencode({'dead': next_dead})}#dead" if next_dead else None,
        "replayed": forms.counts_note(q.get("replayed"), 1),
    }


async def _set_enabled(v: Visit, enabled: bool) -> str:
    ctx, space, hook = v.ctx, v.space, _hook_id(v)
    await ctx.writer.run(lambda uow: webhooks.set_enabled(uow, space, hook, enabled))
    if ctx.worker is not None:
        ctx.worker.wake()
    return f"{_base(v)}/webhooks/{quote(hook, safe='')}"


async def _pause(v: Visit, form: dict[str, list[str]]) -> str:
    return await _set_enabled(v, False)


async def _resume(v: Visit, form: dict[str, list[str]]) -> str:
    return await _set_enabled(v, True)


async def _replay_dead(v: Visit, form: dict[str, list[str]]) -> str:
    ctx, space, hook, now = v.ctx, v.space, _hook_id(v), now_ms()
    event_id = forms.one(form, "event_id")
    if event_id:
        spec = ReplaySpec(event_ids=[event_id])
    else:
        since = forms.utc_ms(forms.one(form, "since"), "since") or 0
        spec = ReplaySpec(since=since, until=forms.utc_ms(forms.one(form, "until"), "until"))
    count = await ctx.writer.run(lambda uow: webhooks.replay(uow, space, hook, spec, now))
    if ctx.worker is not None:
        ctx.worker.wake()
    return f"{_base(v)}/webhooks/{quote(hook, safe='')}?replayed={count}"


async def not_found(request: Request) -> Response:
    return uikit.on_error(request, NotFound("no such page in the dashboard"))


_S = "/ui/spaces/{space}"
routes = [
    Mount("/ui/static", StaticFiles(directory=str(templating.STATIC)), name="ui-static"),
    Route("/ui", home, methods=["GET"]),
    Route("/ui/login", login_form, methods=["GET"]),
    Route("/ui/login", login, methods=["POST"]),
    Route("/ui/logout", logout, methods=["POST"]),
    Route(_S, uikit.page("overview.html", _overview, "overview"), methods=["GET"]),
    Route(_S + "/live", uikit.page("_overview_live.html", _overview), methods=["GET"]),
    Route(_S + "/sync", uikit.page("sync.html", _sync, "sync"), methods=["GET"]),
    Route(_S + "/sync/live", uikit.page("_sync_live.html", _sync), methods=["GET"]),
    Route(_S + "/sync/reopen", uikit.action(_reopen), methods=["POST"]),
    Route(_S + "/rejected", uikit.page("rejected.html", _rejected, "rejected"), methods=["GET"]),
    Route(_S + "/rejected/replay", uikit.action(_replay_rejected), methods=["POST"]),
    Route(
        _S + "/rejected/{rejected_id}",
        uikit.page("rejected_one.html", _rejected_one, "rejected"),
        methods=["GET"],
    ),
    Route(_S + "/profiles", uikit.page("profiles.html", _profiles, "profiles"), methods=["GET"]),
    Route(
        _S + "/profiles/{profile_id}",
        uikit.page("profile.html", _profile, "profiles"),
        methods=["GET"],
    ),
    Route(_S + "/webhooks", uikit.page("webhooks.html", _webhooks, "webhooks"), methods=["GET"]),
    Route(
        _S + "/webhooks/{webhook_id}",
        uikit.page("webhook.html", _webhook, "webhooks"),
        methods=["GET"],
    ),
    Route(
        _S + "/webhooks/{webhook_id}/live",
        uikit.page("_webhook_live.html", _hook_live),
        methods=["GET"],
    ),
    Route(_S + "/webhooks/{webhook_id}/pause", uikit.action(_pause), methods=["POST"]),
    Route(_S + "/webhooks/{webhook_id}/resume", uikit.action(_resume), methods=["POST"]),
    Route(_S + "/webhooks/{webhook_id}/replay", uikit.action(_replay_dead), methods=["POST"]),
    Route("/ui/{rest:path}", not_found, methods=["GET", "POST"]),
]
