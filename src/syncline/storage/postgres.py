"""PostgreSQL (psycopg 3): the same SQL as SQLite, for many processes on many machines.

Each process keeps one write connection (its group-commit writer's) and one read connection
per thread, all in autocommit mode with explicit transactions, as on SQLite. What SQLite gets
from its single writer, PostgreSQL gets from locks:

- a transaction that reads a space's entities to change them first locks them: a batch of
  live events locks just the users and things it names (advisory locks, the space's lock
  shared), anything else the whole space (its advisory lock, exclusive). Two writers of the
  same entity, in any process, take turns, each seeing the last one's commit: event ids stay
  exactly-once and profile revisions never skip or repeat (`PgUnitOfWork`);
- delivery claims use `FOR UPDATE ... SKIP LOCKED`, so workers never claim the same row and
  the per-profile test ("no earlier revision still open") holds across workers.
"""

from __future__ import annotations

import hashlib
import threading
from collections.abc import Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
import structlog

from syncline.domain.things import ThingState
from syncline.domain.users import UserState
from syncline.errors import ConcurrentChange, StorageUnavailable
from syncline.storage import migrate, profile_pg
from syncline.storage.conn import Blob, Cursor
from syncline.storage.pg_statistics import Statistics
from syncline.storage.records import EventRow, HistoryRow, Space
from syncline.storage.sqlbase import (
    EVENT_COLUMNS,
    SpaceKeys,
    SqlReader,
    SqlUnitOfWork,
    event_values,
    values_sql,
)

log = structlog.get_logger("syncline.storage")
LOCK_NAMESPACE = 0x5359  # "SY": advisory locks of syncline (space locks, migrations)
_MIGRATION_LOCK = 1
_SPACES_LOCK = 2  # one new space at a time: each takes the next key
_COPY_HISTORY = (
    "COPY profile_history (space_key, user_id, revision, at, name, changes, cause, etag) FROM STDIN"
)
_COPY_EVENTS = f"COPY events ({EVENT_COLUMNS}) FROM STDIN"


def driver_url(url: str) -> str:
    """The libpq form of a `postgresql://`, `postgres://` or `postgresql+psycopg://` URL."""
    return "postgresql://" + url.split("://", 1)[1]


def alembic_url(url: str) -> str:
    return "postgresql+psycopg://" + url.split("://", 1)[1]


@lru_cache(maxsize=2048)
def _sql(sql: str) -> str:
    return sql.replace("%", "%%").replace("?", "%s")


def _value(v: Any) -> Any:
    kind = type(v)
    if kind is bytes:  # JSON documents, stored as text
        v = v.decode()
    elif kind is Blob:
        return bytes(v)
    elif kind is not str:
        return v
    # PostgreSQL text cannot hold NUL; what a client sent is kept, minus that one character.
    return v.replace("\x00", "\ufffd") if "\x00" in v else v


def _params(params: Sequence[Any]) -> tuple[Any, ...]:
    return tuple(_value(v) for v in params)


class PgConn:
    """psycopg behind the small DB-API surface the shared SQL uses (`?` placeholders)."""

    def __init__(self, raw: psycopg.Connection[Any]) -> None:
        self.raw = raw

    def execute(self, sql: str, params: Sequence[Any] = ()) -> Cursor:
        try:
            return self.raw.execute(_sql(sql), _params(params))
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc

    def executemany(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        batch = [_params(r) for r in rows]
        if batch:
            try:
                with self.raw.cursor() as cur:
                    cur.executemany(_sql(sql), batch)
            except psycopg.OperationalError as exc:
                raise _unavailable(exc) from exc

    def copy(self, sql: str, rows: Iterable[Sequence[Any]]) -> None:
        """COPY ... FROM STDIN: the fastest way in for rows that are new by construction."""
        try:
            with self.raw.cursor() as cur, cur.copy(sql) as copy:
                for r in rows:
                    copy.write_row(_params(r))
        except psycopg.OperationalError as exc:
            raise _unavailable(exc) from exc

    @property
    def usable(self) -> bool:
        return not (self.raw.closed or self.raw.broken)

    def close(self) -> None:
        self.raw.close()


def _unavailable(exc: psycopg.OperationalError) -> StorageUnavailable:
    """A lost connection, a cancelled statement: the request fails whole (its savepoint rolled
    back) with a 503 the client retries, never a 500. A deadlock between processes: the
    writer runs the request again first."""
    text = f"PostgreSQL: {str(exc).splitlines()[0] if str(exc) else exc}"
    if isinstance(exc, psycopg.errors.DeadlockDetected):
        return ConcurrentChange(text)
    return StorageUnavailable(text)


def connect(url: str) -> PgConn:
    try:
        return PgConn(psycopg.connect(driver_url(url), autocommit=True, connect_timeout=10))
    except psycopg.Error as exc:
        raise StorageUnavailable(f"cannot connect to PostgreSQL: {exc}") from exc


class PostgresStorage:
    def __init__(self, url: str) -> None:
        self.url = url
        self._write_lock = threading.Lock()
        self._writer: PgConn | None = None
        self._local = threading.local()
        self._readers: list[PgConn] = []
        self._readers_lock = threading.Lock()
        self.statistics = Statistics(driver_url(url))
        self.keys = SpaceKeys()

    def migrate(self) -> None:
        """Alembic under a session advisory lock: processes starting together migrate once."""
        conn = connect(self.url)
        try:
            conn.execute("SELECT pg_advisory_lock(?, ?)", (LOCK_NAMESPACE, _MIGRATION_LOCK))
            migrate.upgrade(alembic_url(self.url))
        finally:
            conn.close()

    @contextmanager
    def unit_of_work(self) -> Iterator[PgUnitOfWork]:
        with self._write_lock:
            try:
                conn = self._writer_connection()
                conn.execute("BEGIN")
            except (psycopg.Error, StorageUnavailable) as exc:
                raise StorageUnavailable(f"cannot begin a write: {exc}") from exc
            try:
                yield PgUnitOfWork(conn, self.keys)
            except BaseException:
                _rollback(conn)
                raise
            try:
                conn.execute("COMMIT")
            except (psycopg.Error, StorageUnavailable) as exc:
                _rollback(conn)
                raise StorageUnavailable(f"commit failed: {exc}") from exc
            try:
                self.statistics.after_commit(conn)
            except (psycopg.Error, StorageUnavailable) as exc:  # the commit stands
                log.info("statistics check failed", error=str(exc))

    def reader(self) -> PgReader:
        conn: PgConn | None = getattr(self._local, "conn", None)
        if conn is None or not conn.usable:
            conn = connect(self.url)
            self._local.conn = conn
            with self._readers_lock:
                self._readers.append(conn)
        return PgReader(conn, self.keys)

    def close(self) -> None:
        self.statistics.close()
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        with self._readers_lock:
            for conn in self._readers:
                conn.close()
            self._readers.clear()
        self._local = threading.local()

    def _writer_connection(self) -> PgConn:
        if self._writer is None or not self._writer.usable:
            self._writer = connect(self.url)
        return self._writer


def _rollback(conn: PgConn) -> None:
    if conn.usable:
        try:
            conn.execute("ROLLBACK")
        except (psycopg.Error, StorageUnavailable):
            conn.close()


EXCLUSIVE, ENTITIES = "exclusive", "entities"
MAX_ENTITY_LOCKS = 1000  # per transaction; a batch naming more takes the space's lock instead


class PgUnitOfWork(SqlUnitOfWork):
    """Two ways to change a space's entities safely beside other processes:

    - the space's advisory lock, exclusive (the default, taken by the first read of
      `_SERIALIZED`): one such writer of the space at a time;
    - `lock_subjects` (batches of live events, whose changes stay within the users and things
      they name): the same lock *shared*, then one advisory lock per user and thing (a 64-bit
      hash of space, kind and id). Batches naming different entities then apply at the same
      time in different processes; two naming the same one take turns.

    Every process takes entity locks in ascending key order, so two batches never wait for
    each other in a circle; PostgreSQL's deadlock check stays the backstop (a
    `ConcurrentChange`, which the writer runs again). Advisory locks live in the server's
    shared lock table (64 per connection by default): `MAX_ENTITY_LOCKS` bounds a
    transaction's share, and docs/scaling.md says when to raise `max_locks_per_transaction`.
    """

    claim_lock = " FOR UPDATE OF d SKIP LOCKED"
    conn: PgConn

    def __init__(self, conn: PgConn, keys: SpaceKeys) -> None:
        super().__init__(conn, keys)
        self.counter_shard = conn.raw.info.backend_pid % 64
        self._locked: dict[str, str] = {}  # space -> EXCLUSIVE | ENTITIES
        self._held: dict[str, tuple[set[str], set[str]]] = {}  # space -> users, things locked

    @staticmethod
    def among(n: int) -> str:
        return "= ANY(?)"

    @staticmethod
    def spread(values: Iterable[Any]) -> list[Any]:
        return [list(values)]

    @contextmanager
    def savepoint(self) -> Iterator[None]:
        # Locks taken inside a savepoint end when it rolls back: so does their bookkeeping.
        locked = dict(self._locked)
        held = {k: (set(u), set(t)) for k, (u, t) in self._held.items()}
        try:
            with super().savepoint():
                yield
        except BaseException:
            self._locked, self._held = locked, held
            raise

    def lock_space(self, space: str) -> None:
        """Held until this transaction ends: one writer of the space's entities at a time."""
        if self._locked.get(space) != EXCLUSIVE:
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(?, hashtext(?))", (LOCK_NAMESPACE, space)
            )
            self._locked[space] = EXCLUSIVE

    def lock_subjects(self, space: str, users: Collection[str], things: Collection[str]) -> None:
        mode = self._locked.get(space)
        if mode == EXCLUSIVE:
            return
        # A thing's new model or firmware changes its owners' profiles: lock them too.
        users = set(users) | SqlUnitOfWork.owners_of_things(self, space, things)
        held_users, held_things = self._held.get(space, (set(), set()))
        new_users, new_things = users - held_users, set(things) - held_things
        total = len(held_users) + len(held_things) + len(new_users) + len(new_things)
        if total > MAX_ENTITY_LOCKS:
            self.lock_space(space)
            return
        if mode is None:
            self.conn.execute(
                "SELECT pg_advisory_xact_lock_shared(?, hashtext(?))", (LOCK_NAMESPACE, space)
            )
            self._locked[space] = ENTITIES
        keys = sorted(
            [_entity_key(space, "u", u) for u in new_users]
            + [_entity_key(space, "t", t) for t in new_things]
        )
        if keys:
            self.conn.execute(_LOCK_ENTITIES, (keys,)).fetchall()
        self._held[space] = (held_users | new_users, held_things | new_things)

    def load_users(self, space: str, ids: Iterable[str]) -> dict[str, UserState]:
        ids = list(ids)
        self._check_locked(space, ids)
        return super().load_users(space, ids)

    def load_things(self, space: str, ids: Iterable[str]) -> dict[str, ThingState]:
        # Under entity locks only the batch's own things change; others are read for their
        # model and firmware, which a writer changing them also shows their (locked) owners.
        self.lock_space_unless_entities(space)
        return super().load_things(space, ids)

    def owners_of_things(self, space: str, thing_ids: Iterable[str]) -> set[str]:
        self.lock_space_unless_entities(space)
        owners = super().owners_of_things(space, thing_ids)
        self._check_locked(space, owners)
        return owners

    def insert_events(self, space: str, rows: Sequence[EventRow]) -> None:
        """By COPY. Under the exclusive lock nothing else can have taken these event_ids; under
        entity locks a batch naming other entities may have (the same event_id with other
        content): the COPY then fails on the key and the batch runs again, finding it taken."""
        try:
            self.conn.copy(_COPY_EVENTS, event_values(self.key(space), rows))
        except psycopg.errors.UniqueViolation as exc:
            raise ConcurrentChange("another request took some of these event_ids") from exc

    def write_rows(self, head: str, rows: Sequence[Sequence[Any]], tail: str = "") -> None:
        """One statement a row, pipelined: one shape, planned once."""
        if rows:
            self.conn.executemany(values_sql(head, len(rows[0]), 1, tail), rows)

    def insert_history(self, space: str, rows: Sequence[HistoryRow]) -> None:
        """By COPY: a revision's row is new by construction (its user is locked)."""
        key = self.key(space)
        self.conn.copy(
            _COPY_HISTORY,
            ((key, r.user_id, r.revision, r.at, r.name, r.changes, r.cause, r.etag) for r in rows),
        )

    def create_space(self, space: Space) -> None:
        self.conn.execute("SELECT pg_advisory_xact_lock(?, ?)", (LOCK_NAMESPACE, _SPACES_LOCK))
        super().create_space(space)

    def lock_space_unless_entities(self, space: str) -> None:
        if space not in self._locked:
            self.lock_space(space)

    def _check_locked(self, space: str, ids: Iterable[str]) -> None:
        """A user read to be changed must be locked: one of the batch's, or else the whole
        space (a later job of the same transaction, a link made meanwhile to a thing being
        changed). Taking the space's lock while holding entity locks may meet another writer
        waiting for one of them: PostgreSQL's deadlock check then ends one of the two."""
        if self._locked.get(space) == ENTITIES:
            held = self._held[space][0]
            if all(i in held for i in ids):
                return
        self.lock_space(space)


def _entity_key(space: str, kind: str, entity_id: str) -> int:
    digest = hashlib.blake2b(f"{space}\x00{kind}\x00{entity_id}".encode(), digest_size=8)
    return int.from_bytes(digest.digest(), "big", signed=True)


_LOCK_ENTITIES = "SELECT pg_advisory_xact_lock(k) FROM unnest(?::bigint[]) AS k"

# Every read that a change of a space's entities (events, users, things, links, the sync run,
# rejected events) starts from takes the space's exclusive lock first, unless the batch locked
# its entities instead; these reads are safe under entity locks, the others are not.
_ENTITY_SAFE = {"known_digests", "unsubscribed", "load_associations", "links_of_users"}
_SERIALIZED = (
    "known_digests",
    "user_ids_with_email",
    "load_associations",
    "links_of_users",
    "unsubscribed",
    "load_sync",
    "load_rejected",
    "orphan_references",
)


def _serialized(name: str) -> Any:
    shared = getattr(SqlUnitOfWork, name)
    entity_safe = name in _ENTITY_SAFE

    def method(self: PgUnitOfWork, space: str, *args: Any, **kwargs: Any) -> Any:
        if entity_safe:
            self.lock_space_unless_entities(space)
        else:
            self.lock_space(space)
        return shared(self, space, *args, **kwargs)

    method.__name__ = name
    method.__doc__ = shared.__doc__
    return method


for _name in _SERIALIZED:
    setattr(PgUnitOfWork, _name, _serialized(_name))


class PgReader(SqlReader):
    dialect = profile_pg
    profiles_from = profile_pg.FROM
