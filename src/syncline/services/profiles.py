"""The Profiles API's use cases: read, query, history, and live writes with If-Match.

Writes run inside the writer's unit of work: the If-Match check, the change, its revision and
its event-log row commit together, so a stale ETag can never slip between check and write.
A write is a live change at the time it is made, ordered with collected events by the same
(precedence, timestamp, event_id) rule.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import msgspec

from syncline.domain import profiles
from syncline.domain import query as q
from syncline.domain.ordering import LIVE, Clock
from syncline.domain.users import USER_FIELDS, UserState
from syncline.errors import Conflict, NotFound, PreconditionFailed, RequestRejected
from syncline.schemas.profiles import ProfileWrite
from syncline.services.apply import Applier, digest
from syncline.storage.interface import Reader, UnitOfWork
from syncline.storage.pages import decode_cursor, encode_cursor
from syncline.storage.records import EventRow, ProfileRow

DEFAULT_LIMIT, MAX_LIMIT = 100, 1000
_encode = msgspec.json.Encoder(order="sorted").encode


@dataclass(frozen=True, slots=True)
class Written:
    """The outcome of a write: the profile now (None once deleted) and whether it is new."""

    profile: ProfileRow | None
    created: bool


# reads --------------------------------------------------------------------------------------
def get(reader: Reader, space: str, profile_id: str) -> ProfileRow:
    found = reader.profile(space, profile_id)
    if found is None:
        raise NotFound(f"no profile {profile_id!r}")
    return found


def served(row: ProfileRow) -> dict[str, Any]:
    return profiles.served(row.doc, row.created_on, row.updated_on, row.revision)


def find(
    reader: Reader, space: str, query_string: str, upto: str | None = None
) -> tuple[list[ProfileRow], q.Query, int, str | None]:
    """One page of matching profiles, in id order, and the cursor of the next page.

    `upto` stops the search at that id (the dashboard reads a bounded window of ids a page).
    """
    try:
        query = q.parse(query_string)
    except q.QuerySyntaxError as exc:
        raise RequestRejected(str(exc)) from exc
    if upto is not None:
        query = q.Query((*query.terms, q.Term("id", q.LTE, (upto,))), query.params)
    limit = _limit(query.params.get("limit"))
    cursor = query.params.get("cursor")
    after = decode_cursor(cursor)[0] if cursor else None
    rows = reader.profiles(space, query, after, limit + 1)
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, query, limit, encode_cursor(rows[-1].user_id) if more else None


def history(
    reader: Reader, space: str, profile_id: str, cursor: str | None, limit: int
) -> tuple[list[dict[str, Any]], str | None]:
    if reader.user(space, profile_id) is None:
        raise NotFound(f"no profile {profile_id!r}")
    try:
        after = int(decode_cursor(cursor)[0]) if cursor else None
    except ValueError:
        raise RequestRejected("cursor: not a cursor this server issued") from None
    rows = reader.history(space, profile_id, after, limit + 1)
    items = [
        {
            "revision": r.revision,
            "name": r.name,
            "at": profiles.iso(r.at),
            "etag": r.etag,
            "changes": msgspec.json.decode(r.changes),
            "cause": msgspec.json.decode(r.cause),
        }
        for r in rows[:limit]
    ]
    more = len(rows) > limit
    return items, encode_cursor(str(rows[limit - 1].revision)) if more else None


def _limit(raw: str | None) -> int:
    if raw is None:
        return DEFAULT_LIMIT
    if not raw.isdigit() or not 1 <= int(raw) <= MAX_LIMIT:
        raise RequestRejected(f"limit: must be an integer from 1 to {MAX_LIMIT}")
    return int(raw)


# preconditions ------------------------------------------------------------------------------
def if_match(header: str | None, current: str | None) -> bool:
    """RFC 9110: `*` needs a current representation; listed tags compare strongly."""
    if header is None:
        return True
    if header.strip() == "*":
        return current is not None
    return current is not None and current in (t.strip() for t in header.split(","))


def if_none_match(header: str | None, current: str) -> bool:
    """True when the client's copy is current (weak comparison, as GET allows)."""
    if header is None:
        return False
    if header.strip() == "*":
        return True
    return any(t.strip().removeprefix("W/") == current for t in header.split(","))


# writes -------------------------------------------------------------------------------------
def replace(
    uow: UnitOfWork, space: str, pid: str, write: ProfileWrite, match: str | None, by: str, now: int
) -> Written:
    def change(user: UserState, clock: Clock) -> None:
        custom = {k: None for k in user.custom} | write.custom
        user.write({name: write.fields.get(name) for name in USER_FIELDS}, custom, clock)
        user.set_deleted(False, clock)

    return _write(uow, space, pid, match, by, now, "profile.replace", write, change, create=True)


def merge(
    uow: UnitOfWork, space: str, pid: str, write: ProfileWrite, match: str | None, by: str, now: int
) -> Written:
    def change(user: UserState, clock: Clock) -> None:
        user.write(write.fields, write.custom, clock)

    return _write(uow, space, pid, match, by, now, "profile.merge", write, change, create=False)


def delete(uow: UnitOfWork, space: str, pid: str, match: str | None, by: str, now: int) -> Written:
    def change(user: UserState, clock: Clock) -> None:
        user.set_deleted(True, clock)
        if not user.is_deleted:
            raise Conflict("a newer change keeps this profile; it was not deleted")

    return _write(uow, space, pid, match, by, now, "profile.delete", None, change, create=False)


def undelete(
    uow: UnitOfWork, space: str, pid: str, match: str | None, by: str, now: int
) -> Written:
    def change(user: UserState, clock: Clock) -> None:
        user.set_deleted(False, clock)
        if user.is_deleted:
            raise Conflict("a newer deletion keeps this profile deleted")

    return _write(
        uow, space, pid, match, by, now, "profile.undelete", None, change, create=False, gone=True
    )


_last_ns = 0


def _api_event_id() -> str:
    """Rising within the process, so two writes in one millisecond keep their order (the
    event_id breaks timestamp ties); a random tail keeps ids of several processes distinct."""
    global _last_ns
    _last_ns = max(time.time_ns(), _last_ns + 1)
    return f"api-{_last_ns:020d}-{uuid.uuid4().hex[:8]}"


def _write(
    uow: UnitOfWork,
    space: str,
    pid: str,
    match: str | None,
    by: str,
    now: int,
    kind: str,
    write: ProfileWrite | None,
    change: Callable[[UserState, Clock], None],
    *,
    create: bool,
    gone: bool = False,
) -> Written:
    applier = Applier(uow, space, now)
    applier.users.update(uow.load_users(space, [pid]))
    existing = applier.users.get(pid)
    mark = existing.profile if existing is not None else None
    visible = mark is not None and mark.visible
    reachable = visible or (gone and mark is not None and mark.revision >= 0)
    if not reachable and not create:
        raise NotFound(f"no profile {pid!r}")
    if not if_match(match, mark.etag if visible and mark is not None else None):
        raise PreconditionFailed("If-Match does not match the profile's current ETag")
    if write is not None and write.unsubscribed is not None:
        current = existing is not None and applier.is_unsubscribed(existing.email)
        if write.unsubscribed != current:
            raise RequestRejected(
                "unsubscribed: follows unsubscribe events by email and cannot be written"
            )
    event_id = _api_event_id()
    user = applier.user(pid, now)
    change(user, (LIVE, now, event_id))
    applier.observe({"eventId": event_id, "type": kind, "by": by})
    payload = _encode(write.body if write is not None else {})
    applier.rows.append(
        EventRow(event_id, kind, now, now, LIVE, pid, None, payload, digest(kind, now, payload))
    )
    applier.flush()
    profile = None
    if user.profile.visible and user.profile.doc is not None and user.profile.etag is not None:
        profile = ProfileRow(
            pid,
            user.profile.doc,
            user.profile.etag,
            user.profile.revision,
            profiles.created_on(user),
            user.profile.updated_on,
        )
    return Written(profile, created=not visible and kind == "profile.replace")
