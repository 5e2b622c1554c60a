"""Planner statistics that keep up with tables growing from empty.

PostgreSQL plans from statistics that autovacuum refreshes about once a minute at best. A
table filled in seconds (a first sync, a backlog of deliveries) is planned meanwhile as if it
were nearly empty: every index that starts with `(space_key, webhook_id)` then looks as good
as the primary key, and an UPDATE of one delivery by its key was seen walking all 5,000 of its
webhook's rows (a 64-delivery cycle took 52 ms instead of 3). So, at most every `every_s`
seconds after a commit, the tables changed by more than they hold (at least `floor` rows) are
analyzed in the background on a connection of their own (PostgreSQL's advice after a bulk
load), while writes go on.
"""

from __future__ import annotations

import threading
import time

import psycopg
import structlog

from syncline.storage.conn import Conn

log = structlog.get_logger("syncline.storage")

_STALE = (
    "SELECT s.relname FROM pg_stat_user_tables s JOIN pg_class c ON c.oid = s.relid "
    "WHERE s.schemaname = current_schema() AND s.n_mod_since_analyze > GREATEST(?, c.reltuples)"
)


class Statistics:
    def __init__(self, dsn: str, every_s: float = 2.0, floor: int = 1000) -> None:
        self.dsn, self.every_s, self.floor = dsn, every_s, floor
        self._checked = 0.0
        self._running: threading.Thread | None = None
        self.analyzed = 0  # tables analyzed so far (for tests and logs)

    def after_commit(self, conn: Conn) -> None:
        """Called by the writer after a commit, outside any transaction: a cheap check at most
        every `every_s` seconds; stale tables are analyzed by a background thread."""
        now = time.monotonic()
        if now - self._checked < self.every_s or (self._running and self._running.is_alive()):
            return
        self._checked = now
        stale = [name for (name,) in conn.execute(_STALE, (self.floor,)).fetchall()]
        if stale:
            self._running = threading.Thread(
                target=self._analyze, args=(stale,), name="syncline-analyze", daemon=True
            )
            self._running.start()

    def _analyze(self, tables: list[str]) -> None:
        try:
            with psycopg.connect(self.dsn, autocommit=True, connect_timeout=10) as conn:
                conn.execute("SET lock_timeout = '1s'")  # another process may be at it
                for table in tables:
                    conn.execute(f'ANALYZE "{table}"')
                    self.analyzed += 1
            log.debug("analyzed", tables=tables)
        except psycopg.Error as exc:
            log.info("analyze skipped", tables=tables, error=str(exc).splitlines()[0])

    def close(self, timeout: float = 5.0) -> None:
        if self._running is not None:
            self._running.join(timeout)
