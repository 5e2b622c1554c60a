"""PostgreSQL (psycopg 3): the same SQL as SQLite, for many processes on many machines.

Each process keeps one write connection (its group-commit writer's) and one read connection
per thread, all in autocommit mode with explicit transactions, as on SQLite. What SQLite gets
from its single writer, PostgreSQL gets from locks:

- a transaction that reads a space's entities to change them first takes that space's
  transaction-level advisory lock, so writers of one space (in any process) apply their
  batches one after another, each seeing the last one's commit: event ids stay exactly-once
  and profile revisions never skip or repeat;
- delivery claims use `FOR UPDATE ... SKIP LOCKED`, so workers never claim the same row and
  the per-profile test ("no earlier revision still open") holds across workers.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

import psycopg
import structlog

from syncline.errors import StorageUnavailable
from syncline.storage import migrate, profile_pg
from syncline.storage.conn import Blob, Cursor
from syncline.storage.pg_statistics import Statistics
from syncline.storage.records import EventRow, HistoryRow
from syncline.storage.sqlbase import EVENT_COLUMNS, SqlReader, SqlUnitOfWork, event_values

log = structlog.get_logger("syncline.storage")
_LOCK_NAMESPACE = 0x5359  # "SY": advisory locks of syncline (space locks, migrations)
_MIGRATION_LOCK = 1
_COPY_HISTORY = (
    "COPY profile_history (api_space_id, user_id, revision, at, name, changes, cause, etag) "
    "FROM STDIN"
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
    """A lost connection, a deadlock between processes, a cancelled statement: the request
    fails whole (its savepoint rolled back) with a 503 the client retries, never a 500."""
    return StorageUnavailable(f"PostgreSQL: {str(exc).splitlines()[0] if str(exc) else exc}")


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

    def migrate(self) -> None:
        """Alembic under a session advisory lock: processes starting together migrate once."""
        conn = connect(self.url)
        try:
            conn.execute("SELECT pg_advisory_lock(?, ?)", (_LOCK_NAMESPACE, _MIGRATION_LOCK))
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
                yield PgUnitOfWork(conn)
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
        return PgReader(conn)

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


class PgUnitOfWork(SqlUnitOfWork):
    claim_lock = " FOR UPDATE OF d SKIP LOCKED"
    conn: PgConn

    def __init__(self, conn: PgConn) -> None:
        super().__init__(conn)
        self._locked: set[str] = set()

    @staticmethod
    def among(n: int) -> str:
        return "= ANY(?)"

    @staticmethod
    def spread(values: Iterable[Any]) -> list[Any]:
        return [list(values)]

    def insert_events(self, space: str, rows: Sequence[EventRow]) -> None:
        """By COPY: the space's lock already ruled out duplicates."""
        self.conn.copy(_COPY_EVENTS, event_values(space, rows))

    def insert_history(self, space: str, rows: Sequence[HistoryRow]) -> None:
        """By COPY: a revision's row is new by construction (the space's lock is held)."""
        self.conn.copy(
            _COPY_HISTORY,
            (
                (space, r.user_id, r.revision, r.at, r.name, r.changes, r.cause, r.etag)
                for r in rows
            ),
        )

    def lock_space(self, space: str) -> None:
        """Held until this transaction ends: one writer of the space's entities at a time."""
        if space not in self._locked:
            self.conn.execute(
                "SELECT pg_advisory_xact_lock(?, hashtext(?))", (_LOCK_NAMESPACE, space)
            )
            self._locked.add(space)


# Every read that a change of a space's entities (events, users, things, links, the sync run,
# rejected events) starts from: the space's lock comes first.
_SERIALIZED = (
    "known_digests",
    "load_users",
    "user_ids_with_email",
    "load_things",
    "load_associations",
    "links_of_users",
    "owners_of_things",
    "unsubscribed",
    "load_sync",
    "load_rejected",
    "orphan_references",
)


def _serialized(name: str) -> Any:
    shared = getattr(SqlUnitOfWork, name)

    def method(self: PgUnitOfWork, space: str, *args: Any, **kwargs: Any) -> Any:
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
