"""The SQL both backends share: the unit of work and the reader over a DB-API connection.

Statements are written once, with `?` placeholders and SQL that SQLite and PostgreSQL both
accept; a backend supplies the connection (`Conn`), its profile-query dialect and the few
statements that differ (claiming deliveries, hints).
"""

from __future__ import annotations

from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from itertools import chain
from types import ModuleType
from typing import Any

from syncline.domain.associations import AssociationState
from syncline.domain.query import Query
from syncline.domain.sync import SyncRun
from syncline.domain.things import ThingState
from syncline.domain.users import UserState
from syncline.errors import RequestRejected, StorageUnavailable, error_text
from syncline.storage import codec, profile_sql, rejected_sql
from syncline.storage.conn import Blob, Conn, marks
from syncline.storage.dashboard_sql import DashboardReads, DashboardWrites
from syncline.storage.interface import chunks
from syncline.storage.pages import decode_cursor, encode_cursor
from syncline.storage.records import (
    Credential,
    EventRow,
    HistoryRow,
    Page,
    ProfileRow,
    RejectedRow,
    Space,
)
from syncline.storage.webhooks_sql import WebhookReads, WebhookWrites

_CHUNK = 900


_USER_COLUMNS = (
    "space_key",
    "user_id",
    "state",
    "email",
    "created",
    "deleted",
    "unsubscribed",
    "first_seen",
    "updated_at",
    "revision",
    "etag",
    "profile",
    "created_on",
    "updated_on",
    "devices",
)


EVENT_COLUMNS = (
    "space_key, event_id, type, timestamp, received_at, precedence, user_id, thing_id, "
    "payload, digest"
)


def event_values(space: str, rows: Iterable[EventRow]) -> Iterator[tuple[Any, ...]]:
    """Each row's values in the order of EVENT_COLUMNS."""
    for r in rows:
        yield (
            space,
            r.event_id,
            r.type,
            r.timestamp,
            r.received_at,
            r.precedence,
            r.user_id,
            r.thing_id,
            r.payload,
            Blob(r.digest),
        )


@lru_cache(maxsize=64)
def upsert_parts(table: str, columns: tuple[str, ...], key: int) -> tuple[str, str]:
    """The INSERT of `columns` around its VALUES that replaces the row of its key (the first
    `key` columns): (head, tail)."""
    update = ", ".join(f"{c} = excluded.{c}" for c in columns[key:])
    return (
        f"INSERT INTO {table} ({', '.join(columns)})",
        f" ON CONFLICT ({', '.join(columns[:key])}) DO UPDATE SET {update}",
    )


ROWS_PER_STATEMENT = 128


@lru_cache(maxsize=256)
def values_sql(head: str, width: int, rows: int, tail: str) -> str:
    """`head VALUES (?,..), (?,..) tail`: `rows` rows of `width` values."""
    row = f"({marks(width)})"
    return f"{head} VALUES {','.join([row] * rows)}{tail}"


class SpaceKeys:
    """Each space's short key (migration 0008), learnt once a process: a space keeps its key
    and is never deleted. The storage methods take a space's id and store its rows under the
    key. A space with no row has no key: it gets its id behind a "-" (no key starts with one),
    so it reads nothing of another space and nothing it writes mixes with one."""

    def __init__(self) -> None:
        self._known: dict[str, str] = {}

    def of(self, conn: Conn, space: str) -> str:
        key = self._known.get(space)
        if key is None:
            row = conn.execute(
                "SELECT space_key FROM api_spaces WHERE api_space_id = ?", (space,)
            ).fetchone()
            if row is None:
                return "-" + space
            key = self._known[space] = row[0]
        return key


class SqlUnitOfWork(DashboardWrites, WebhookWrites):
    def __init__(self, conn: Conn, keys: SpaceKeys) -> None:
        self.conn = conn
        self.keys = keys
        self._savepoints = 0

    def key(self, space: str) -> str:
        return self.keys.of(self.conn, space)

    @staticmethod
    def among(n: int) -> str:
        """`IN (...)` of `n` values (PostgreSQL: `= ANY(?)` of one array, one plan for all)."""
        return f"IN ({marks(n)})"

    @staticmethod
    def spread(values: Iterable[Any]) -> list[Any]:
        """The parameters that go with `among`."""
        return list(values)

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        self._savepoints += 1
        name = f"sp{self._savepoints}"
        self.conn.execute(f"SAVEPOINT {name}")
        try:
            yield
        except BaseException:
            self.conn.execute(f"ROLLBACK TO {name}")
            self.conn.execute(f"RELEASE {name}")
            raise
        self.conn.execute(f"RELEASE {name}")

    # concurrency -------------------------------------------------------------------------
    def lock_subjects(self, space: str, users: Collection[str], things: Collection[str]) -> None:
        """Before reading these entities to change them. Nothing to do here: one writer at a
        time holds the whole database (PostgreSQL locks just these entities instead)."""

    # event log ---------------------------------------------------------------------------
    def known_digests(self, space: str, event_ids: Sequence[str]) -> dict[str, bytes]:
        key = self.key(space)
        found: dict[str, bytes] = {}
        for part in chunks(event_ids, _CHUNK):
            rows = self.conn.execute(
                f"SELECT event_id, digest FROM events WHERE space_key = ? "
                f"AND event_id {self.among(len(part))}",
                (key, *self.spread(part)),
            )
            found.update(rows)
        return found

    def insert_events(self, space: str, rows: Sequence[EventRow]) -> None:
        key = self.key(space)
        self.write_rows(f"INSERT INTO events ({EVENT_COLUMNS})", list(event_values(key, rows)))

    # entities ----------------------------------------------------------------------------
    def load_users(self, space: str, ids: Iterable[str]) -> dict[str, UserState]:
        key = self.key(space)
        out: dict[str, UserState] = {}
        for part in chunks(list(ids), _CHUNK):
            for row in self.conn.execute(
                f"SELECT {codec.USER_COLUMNS} FROM users "
                f"WHERE space_key = ? AND user_id {self.among(len(part))}",
                (key, *self.spread(part)),
            ):
                out[row[0]] = codec.user_from(*row)
        return out

    def user_ids_with_email(self, space: str, email: str) -> list[str]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT user_id FROM users WHERE space_key = ? AND email = ?", (key, email)
        )
        return [r[0] for r in rows]

    def save_users(self, space: str, users: Iterable[UserState], now: int) -> None:
        key = self.key(space)
        self.upsert(
            "users",
            _USER_COLUMNS,
            2,
            [
                (
                    key,
                    u.user_id,
                    codec.user_state(u),
                    u.email,
                    u.created,
                    u.is_deleted,
                    u.unsubscribed,
                    u.first_seen or 0,
                    now,
                    u.profile.revision,
                    u.profile.etag,
                    codec.profile_doc(u),
                    u.created_on[0] if u.created_on is not None else u.first_seen,
                    u.profile.updated_on,
                    codec.devices_doc(u),
                )
                for u in users
            ],
        )

    def upsert(self, table: str, columns: tuple[str, ...], key: int, rows: list[Any]) -> None:
        """Rows in, each new or replacing the one of its key (the first `key` columns)."""
        head, tail = upsert_parts(table, columns, key)
        self.write_rows(head, rows, tail)

    def write_rows(self, head: str, rows: Sequence[Sequence[Any]], tail: str = "") -> None:
        """`head VALUES (row), (row)... tail` for every row: up to 128 rows a statement (SQLite
        writes them about 30% faster than one statement a row), the rest in powers of two, so
        a table has at most eight statement shapes, each prepared once and cached."""
        done, total = 0, len(rows)
        while done < total:
            size = min(ROWS_PER_STATEMENT, 1 << ((total - done).bit_length() - 1))
            part = rows[done : done + size]
            sql = values_sql(head, len(part[0]), size, tail)
            self.conn.execute(sql, list(chain.from_iterable(part)))
            done += size

    def insert_history(self, space: str, rows: Sequence[HistoryRow]) -> None:
        key = self.key(space)
        self.write_rows(
            "INSERT INTO profile_history (space_key, user_id, revision, at, name, changes, "
            "cause, etag)",
            [(key, r.user_id, r.revision, r.at, r.name, r.changes, r.cause, r.etag) for r in rows],
        )

    def unsubscribed(self, space: str, emails: Iterable[str]) -> set[str]:
        key = self.key(space)
        found: set[str] = set()
        for part in chunks(list(emails), _CHUNK):
            rows = self.conn.execute(
                f"SELECT email FROM unsubscribes WHERE space_key = ? "
                f"AND email {self.among(len(part))}",
                (key, *self.spread(part)),
            )
            found.update(r[0] for r in rows)
        return found

    def add_unsubscribe(self, space: str, email: str, timestamp: int, event_id: str) -> None:
        key = self.key(space)
        self.conn.execute(
            "INSERT INTO unsubscribes (space_key, email, timestamp, event_id) "
            "VALUES (?,?,?,?) ON CONFLICT (space_key, email) DO UPDATE SET "
            "timestamp = excluded.timestamp, event_id = excluded.event_id "
            "WHERE excluded.timestamp < unsubscribes.timestamp",
            (key, email, timestamp, event_id),
        )

    def load_things(self, space: str, ids: Iterable[str]) -> dict[str, ThingState]:
        key = self.key(space)
        out: dict[str, ThingState] = {}
        for part in chunks(list(ids), _CHUNK):
            for row in self.conn.execute(
                f"SELECT thing_id, state, created, first_seen FROM things "
                f"WHERE space_key = ? AND thing_id {self.among(len(part))}",
                (key, *self.spread(part)),
            ):
                out[row[0]] = codec.thing_from(*row)
        return out

    def save_things(self, space: str, things: Iterable[ThingState], now: int) -> None:
        key = self.key(space)
        self.upsert(
            "things",
            ("space_key", "thing_id", "state", "created", "first_seen", "updated_at"),
            2,
            [
                (key, t.thing_id, codec.thing_state(t), t.created, t.first_seen or 0, now)
                for t in things
            ],
        )

    def load_associations(
        self, space: str, pairs: Iterable[tuple[str, str]]
    ) -> dict[tuple[str, str], AssociationState]:
        key = self.key(space)
        wanted = set(pairs)
        out: dict[tuple[str, str], AssociationState] = {}
        for part in chunks(sorted({user for user, _ in wanted}), _CHUNK):
            for user_id, thing_id, state in self.conn.execute(
                f"SELECT user_id, thing_id, state FROM associations "
                f"WHERE space_key = ? AND user_id {self.among(len(part))}",
                (key, *self.spread(part)),
            ):
                if (user_id, thing_id) in wanted:
                    out[(user_id, thing_id)] = codec.link_from(user_id, thing_id, state)
        return out

    def links_of_users(
        self, space: str, user_ids: Iterable[str]
    ) -> dict[tuple[str, str], AssociationState]:
        key = self.key(space)
        out: dict[tuple[str, str], AssociationState] = {}
        for part in chunks(sorted(user_ids), _CHUNK):
            for user_id, thing_id, state in self.conn.execute(
                f"SELECT user_id, thing_id, state FROM associations "
                f"WHERE space_key = ? AND user_id {self.among(len(part))}",
                (key, *self.spread(part)),
            ):
                out[(user_id, thing_id)] = codec.link_from(user_id, thing_id, state)
        return out

    def owners_of_things(self, space: str, thing_ids: Iterable[str]) -> set[str]:
        key = self.key(space)
        found: set[str] = set()
        for part in chunks(sorted(thing_ids), _CHUNK):
            rows = self.conn.execute(
                f"SELECT user_id FROM associations WHERE space_key = ? AND associated "
                f"AND thing_id {self.among(len(part))}",
                (key, *self.spread(part)),
            )
            found.update(r[0] for r in rows)
        return found

    def save_associations(self, space: str, links: Iterable[AssociationState]) -> None:
        key = self.key(space)
        self.upsert(
            "associations",
            ("space_key", "user_id", "thing_id", "state", "associated"),
            3,
            [(key, a.user_id, a.thing_id, codec.link_state(a), a.associated) for a in links],
        )

    # preexisting sync --------------------------------------------------------------------
    def load_sync(self, space: str) -> SyncRun | None:
        key = self.key(space)
        return _latest_sync(self.conn, key)

    def save_sync(self, space: str, run: SyncRun) -> None:
        key = self.key(space)
        self.conn.execute(
            "INSERT INTO sync_runs (space_key, run, status, opened_at, started_event_id, "
            "completed_at, counts, report) VALUES (?,?,?,?,?,?,?,?) "
            "ON CONFLICT (space_key, run) DO UPDATE SET status = excluded.status, "
            "started_event_id = excluded.started_event_id, "
            "completed_at = excluded.completed_at, counts = excluded.counts, "
            "report = excluded.report",
            (
                key,
                run.run,
                run.status,
                run.opened_at,
                run.started_event_id,
                run.completed_at,
                codec.encode(run.counts),
                codec.encode(run.report) if run.report is not None else None,
            ),
        )

    def orphan_references(self, space: str, sample: int) -> dict[str, Any]:
        key = self.key(space)
        query = (
            "FROM associations a "
            "LEFT JOIN users u ON u.space_key = a.space_key AND u.user_id = a.user_id "
            "LEFT JOIN things t ON t.space_key = a.space_key AND t.thing_id = a.thing_id "
            "WHERE a.space_key = ? AND a.associated "
            "AND (NOT coalesce(u.created, FALSE) OR NOT coalesce(t.created, FALSE))"
        )
        (count,) = self.conn.execute(f"SELECT count(*) {query}", (key,)).fetchone()
        rows = self.conn.execute(
            f"SELECT a.user_id, a.thing_id, coalesce(u.created, FALSE), coalesce(t.created, FALSE) "
            f"{query} ORDER BY a.user_id, a.thing_id LIMIT ?",
            (key, sample),
        ).fetchall()
        return {
            "count": count,
            "sample": [
                {"userId": u, "thingId": t, "missing": _missing(bool(uc), bool(tc))}
                for u, t, uc, tc in rows
            ],
        }

    # rejected events ---------------------------------------------------------------------
    def insert_rejected(self, space: str, rows: Sequence[RejectedRow]) -> None:
        key = self.key(space)
        self.conn.executemany(
            "INSERT INTO rejected_events (space_key, rejected_id, event_id, event_index, "
            "type, raw, code, field, message, received_at, status, replayed_at, replay_count) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
            [(key, *rejected_sql.values(r)) for r in rows],
        )

    def load_rejected(
        self,
        space: str,
        ids: Sequence[str] | None,
        code: str | None,
        type: str | None,
        limit: int,
    ) -> list[RejectedRow]:
        key = self.key(space)
        where, args = rejected_sql.where(key, "pending", code, type)
        if ids is not None:
            where += f" AND rejected_id {self.among(len(ids))}"
            args.extend(self.spread(ids))
        rows = self.conn.execute(
            f"SELECT {rejected_sql.COLUMNS} FROM rejected_events WHERE {where} "
            f"ORDER BY rejected_id LIMIT ?",
            (*args, limit),
        )
        return [rejected_sql.row(row) for row in rows]

    def update_rejected(self, space: str, rows: Sequence[RejectedRow]) -> None:
        key = self.key(space)
        self.conn.executemany(
            "UPDATE rejected_events SET code = ?, field = ?, message = ?, status = ?, "
            "replayed_at = ?, replay_count = ? WHERE space_key = ? AND rejected_id = ?",
            [
                (
                    r.code,
                    r.field,
                    r.message,
                    r.status,
                    r.replayed_at,
                    r.replay_count,
                    key,
                    r.rejected_id,
                )
                for r in rows
            ],
        )

    # tenancy -----------------------------------------------------------------------------
    def create_account(self, account_id: int, name: str, now: int) -> None:
        self.conn.execute(
            "INSERT INTO accounts (account_id, name, created_at) VALUES (?,?,?) "
            "ON CONFLICT (account_id) DO NOTHING",
            (account_id, name, now),
        )

    def create_space(self, space: Space) -> None:
        """The space, with the next free key (1, 2, ... as text)."""
        self.conn.execute(
            "INSERT INTO api_spaces (api_space_id, account_id, name, created_at, space_key) "
            "SELECT ?, ?, ?, ?, CAST(COALESCE(MAX(CAST(space_key AS INTEGER)), 0) + 1 AS TEXT) "
            "FROM api_spaces",
            (space.api_space_id, space.account_id, space.name, space.created_at),
        )

    def add_credential(self, credential: Credential) -> None:
        c = credential
        self.conn.execute(
            "INSERT INTO credentials (api_space_id, credential_id, kind, client_id, "
            "secret_hash, created_at, revoked_at) VALUES (?,?,?,?,?,?,?)",
            (
                c.api_space_id,
                c.credential_id,
                c.kind,
                c.client_id,
                c.secret_hash,
                c.created_at,
                c.revoked_at,
            ),
        )

    def revoke_credentials(self, space: str, kind: str, now: int) -> int:
        cur = self.conn.execute(
            "UPDATE credentials SET revoked_at = ? WHERE api_space_id = ? AND kind = ? "
            "AND revoked_at IS NULL",
            (now, space, kind),
        )
        return cur.rowcount


def _missing(user_created: bool, thing_created: bool) -> list[str]:
    return [name for name, ok in (("user", user_created), ("thing", thing_created)) if not ok]


def _latest_sync(conn: Conn, space: str) -> SyncRun | None:
    row = conn.execute(
        "SELECT run, status, opened_at, started_event_id, completed_at, counts, report "
        "FROM sync_runs WHERE space_key = ? ORDER BY run DESC LIMIT 1",
        (space,),
    ).fetchone()
    return codec.sync_from(row) if row else None


class SqlReader(DashboardReads, WebhookReads):
    dialect: ModuleType = profile_sql  # where(query) over the document
    profiles_from = "users"
    hint_email = ""

    def __init__(self, conn: Conn, keys: SpaceKeys) -> None:
        self.conn = conn
        self.keys = keys

    def key(self, space: str) -> str:
        return self.keys.of(self.conn, space)

    def ping(self) -> None:
        try:
            self.conn.execute("SELECT 1 FROM api_spaces LIMIT 1").fetchall()
        except Exception as exc:
            raise StorageUnavailable(str(exc)) from exc

    def credential_by_client_id(self, client_id: str) -> Credential | None:
        row = self.conn.execute(
            "SELECT api_space_id, credential_id, kind, client_id, secret_hash, created_at, "
            "revoked_at FROM credentials WHERE client_id = ?",
            (client_id,),
        ).fetchone()
        return Credential(*row) if row else None

    def credential(self, credential_id: str) -> Credential | None:
        row = self.conn.execute(
            "SELECT api_space_id, credential_id, kind, client_id, secret_hash, created_at, "
            "revoked_at FROM credentials WHERE credential_id = ?",
            (credential_id,),
        ).fetchone()
        return Credential(*row) if row else None

    def space(self, space: str) -> Space | None:
        row = self.conn.execute(
            "SELECT api_space_id, account_id, name, created_at FROM api_spaces "
            "WHERE api_space_id = ?",
            (space,),
        ).fetchone()
        return Space(*row) if row else None

    def spaces(self) -> list[Space]:
        rows = self.conn.execute(
            "SELECT api_space_id, account_id, name, created_at FROM api_spaces "
            "ORDER BY created_at, api_space_id"
        )
        return [Space(*row) for row in rows]

    def user(self, space: str, user_id: str) -> UserState | None:
        key = self.key(space)
        row = self.conn.execute(
            f"SELECT {codec.USER_COLUMNS} FROM users WHERE space_key = ? AND user_id = ?",
            (key, user_id),
        ).fetchone()
        return codec.user_from(*row) if row else None

    def profile(self, space: str, user_id: str) -> ProfileRow | None:
        key = self.key(space)
        row = self.conn.execute(
            f"SELECT {profile_sql.COLUMNS} FROM users WHERE space_key = ? AND user_id = ? "
            f"AND {profile_sql.VISIBLE}",
            (key, user_id),
        ).fetchone()
        return profile_sql.row(row) if row else None

    def profiles(self, space: str, query: Query, after: str | None, limit: int) -> list[ProfileRow]:
        key = self.key(space)
        where, args = self.dialect.where(query)
        if after is not None:
            where += " AND user_id > ?"
            args.append(after)
        hint = self.hint_email if profile_sql.by_email(query) else ""
        rows = self.conn.execute(
            f"SELECT {profile_sql.COLUMNS} FROM {self.profiles_from}{hint} WHERE space_key = ? "
            f"AND {profile_sql.VISIBLE} AND {where} ORDER BY user_id LIMIT ?",
            (key, *args, limit),
        )
        return [profile_sql.row(r) for r in rows]

    def history(self, space: str, user_id: str, after: int | None, limit: int) -> list[HistoryRow]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT user_id, revision, at, name, changes, cause, etag FROM profile_history "
            "WHERE space_key = ? AND user_id = ? AND revision > ? ORDER BY revision LIMIT ?",
            (key, user_id, -1 if after is None else after, limit),
        )
        return [HistoryRow(*r) for r in rows]

    def thing(self, space: str, thing_id: str) -> ThingState | None:
        key = self.key(space)
        row = self.conn.execute(
            "SELECT thing_id, state, created, first_seen FROM things "
            "WHERE space_key = ? AND thing_id = ?",
            (key, thing_id),
        ).fetchone()
        return codec.thing_from(*row) if row else None

    def associations_of_user(self, space: str, user_id: str) -> list[AssociationState]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT user_id, thing_id, state FROM associations WHERE space_key = ? "
            "AND user_id = ? ORDER BY thing_id",
            (key, user_id),
        )
        return [codec.link_from(*row) for row in rows]

    def associations_of_thing(self, space: str, thing_id: str) -> list[AssociationState]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT user_id, thing_id, state FROM associations WHERE space_key = ? "
            "AND thing_id = ? ORDER BY user_id",
            (key, thing_id),
        )
        return [codec.link_from(*row) for row in rows]

    def events(
        self,
        space: str,
        *,
        user_id: str | None,
        thing_id: str | None,
        type: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        key = self.key(space)
        where = "space_key = ?"
        args: list[object] = [key]
        for column, value in (("user_id", user_id), ("thing_id", thing_id), ("type", type)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        if cursor is not None:
            ts, event_id = _event_cursor(cursor)
            where += " AND (timestamp < ? OR (timestamp = ? AND event_id < ?))"
            args.extend((ts, ts, event_id))
        rows = self.conn.execute(
            f"SELECT event_id, type, timestamp, received_at, payload FROM events "
            f"WHERE {where} ORDER BY timestamp DESC, event_id DESC LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        items = [
            {
                "event_id": r[0],
                "type": r[1],
                "timestamp": r[2],
                "received_at": r[3],
                "payload": codec.decode_json(r[4]),
            }
            for r in rows[:limit]
        ]
        more = len(rows) > limit
        last = rows[limit - 1] if more else None
        return Page(items, encode_cursor(str(last[2]), last[0]) if last else None)

    def rejected(
        self,
        space: str,
        *,
        status: str | None,
        code: str | None,
        type: str | None,
        cursor: str | None,
        limit: int,
    ) -> Page:
        key = self.key(space)
        where, args = rejected_sql.where(key, status, code, type)
        if cursor is not None:
            where += " AND rejected_id > ?"
            args.append(decode_cursor(cursor)[0])
        rows = self.conn.execute(
            f"SELECT {rejected_sql.COLUMNS} FROM rejected_events WHERE {where} "
            f"ORDER BY rejected_id LIMIT ?",
            (*args, limit + 1),
        ).fetchall()
        items = [_rejected_item(rejected_sql.row(row)) for row in rows[:limit]]
        more = len(rows) > limit
        return Page(items, encode_cursor(rows[limit - 1][0]) if more else None)

    def sync(self, space: str) -> SyncRun | None:
        key = self.key(space)
        return _latest_sync(self.conn, key)


def _event_cursor(cursor: str) -> tuple[int, str]:
    parts = decode_cursor(cursor)
    if len(parts) != 2 or not parts[0].isdigit():
        raise RequestRejected("cursor: not a cursor this server issued")
    return int(parts[0]), parts[1]


def _rejected_item(r: RejectedRow) -> dict[str, Any]:
    return {
        "id": r.rejected_id,
        "event_id": r.event_id,
        "index": r.event_index,
        "type": r.type,
        "code": r.code,
        "field": r.field,
        "error": error_text(r.code, r.field, r.message),
        "received_at": r.received_at,
        "status": r.status,
        "replayed_at": r.replayed_at,
        "replay_count": r.replay_count,
        "raw": r.raw.decode("utf-8", "replace"),
    }
