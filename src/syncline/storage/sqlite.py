"""The embedded default: one SQLite file in WAL mode.

Writes go through one connection under `BEGIN IMMEDIATE` (the group-commit writer holds it for a
whole batch of requests); reads use one read-only connection per thread. The hot paths are plain
SQL through the stdlib driver.
"""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from syncline.errors import StorageUnavailable
from syncline.storage import migrate
from syncline.storage.sqlbase import SpaceKeys, SqlReader, SqlUnitOfWork


def connect(path: str, synchronous: str, readonly: bool = False) -> sqlite3.Connection:
    # Room for every statement shape (multi-row inserts come in eight sizes a table).
    conn = sqlite3.connect(
        path, isolation_level=None, check_same_thread=False, timeout=30, cached_statements=512
    )
    conn.execute("PRAGMA busy_timeout=30000")
    if not readonly:
        conn.execute("PRAGMA journal_mode=WAL")
        # Checkpoint every ~40 MB of WAL, not every 4 MB: hot index pages rewritten by many
        # commits reach the database file once per checkpoint (ingest +17% measured).
        conn.execute("PRAGMA wal_autocheckpoint=10000")
    conn.execute(f"PRAGMA synchronous={synchronous}")
    conn.execute("PRAGMA cache_size=-65536")
    conn.execute("PRAGMA temp_store=MEMORY")
    if readonly:
        conn.execute("PRAGMA query_only=1")
    return conn


class SQLiteStorage:
    def __init__(self, path: str, synchronous: str = "FULL") -> None:
        self.path = path
        self.synchronous = synchronous
        self._write_lock = threading.Lock()
        self._writer: sqlite3.Connection | None = None
        self._local = threading.local()
        self._readers: list[sqlite3.Connection] = []
        self.keys = SpaceKeys()

    def migrate(self) -> None:
        parent = Path(self.path).parent
        parent.mkdir(parents=True, exist_ok=True)
        connect(self.path, self.synchronous).close()  # WAL is a property of the file
        migrate.upgrade(f"sqlite:///{self.path}")

    @contextmanager
    def unit_of_work(self) -> Iterator[SQLiteUnitOfWork]:
        with self._write_lock:
            try:
                conn = self._writer_connection()
                conn.execute("BEGIN IMMEDIATE")
            except sqlite3.Error as exc:
                raise StorageUnavailable(f"cannot begin a write: {exc}") from exc
            try:
                yield SQLiteUnitOfWork(conn, self.keys)
            except BaseException:
                conn.execute("ROLLBACK")
                raise
            try:
                conn.execute("COMMIT")
            except sqlite3.Error as exc:
                if conn.in_transaction:
                    conn.execute("ROLLBACK")
                raise StorageUnavailable(f"commit failed: {exc}") from exc

    def reader(self) -> SQLiteReader:
        conn = getattr(self._local, "conn", None)
        if conn is None:
            conn = connect(self.path, self.synchronous, readonly=True)
            self._local.conn = conn
            self._readers.append(conn)
        return SQLiteReader(conn, self.keys)

    def close(self) -> None:
        if self._writer is not None:
            self._writer.close()
            self._writer = None
        for conn in self._readers:
            conn.close()
        self._readers.clear()
        self._local = threading.local()

    def _writer_connection(self) -> sqlite3.Connection:
        if self._writer is None:
            self._writer = connect(self.path, self.synchronous)
        return self._writer


class SQLiteUnitOfWork(SqlUnitOfWork):
    """Everything runs under the writer's `BEGIN IMMEDIATE`: no other writer can interleave."""


class SQLiteReader(SqlReader):
    # Without statistics SQLite would walk the primary key for the ORDER BY instead.
    hint_email = " INDEXED BY users_by_email"
