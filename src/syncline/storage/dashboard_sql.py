"""The dashboard's SQL, portable to SQLite and PostgreSQL.

Only `conn.execute(sql, params)` with `?` placeholders, COALESCE, booleans as `col`/`NOT col`
and plain `ON CONFLICT ... DO UPDATE` upserts. `DashboardReads` is mixed into a backend's
reader, `DashboardWrites` (the one write, `count_events`) into its unit of work, where the
services that accept or reject events call it inside the ingest transaction. Every read is an
index range scan of bounded size: the counters are keyed by minute, and counts stop at a cap
(`count <= cap`, shown as "cap+").
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence

from syncline.storage import rejected_sql
from syncline.storage.conn import Conn
from syncline.storage.records import RejectedRow

RETAIN_MINUTES = 2 * 24 * 60  # per-minute counts kept; the dashboard shows the last hour
ACCEPTED, REJECTED = "accepted", "rejected"


class DashboardWrites:
    conn: Conn
    key: Callable[[str], str]  # a space's id to the key its rows are stored under
    counter_shard = 0  # the counters' row of this writer (see migration 0007)

    def count_events(self, space: str, minute: int, counts: Mapping[tuple[str, str], int]) -> None:
        """Add `{(type, outcome): n}` to the minute's and the total counts, in this
        transaction: the counts commit or roll back with the events they count. Old minutes
        are dropped on the way (an index seek that usually finds nothing)."""
        if not counts:
            return
        key = self.key(space)
        ordered = sorted(counts.items())  # one order in every process: no deadlock
        shard = self.counter_shard
        self.conn.executemany(
            "INSERT INTO event_counts (space_key, minute, type, outcome, shard, n) "
            "VALUES (?,?,?,?,?,?) ON CONFLICT (space_key, minute, type, outcome, shard) "
            "DO UPDATE SET n = event_counts.n + excluded.n",
            [(key, minute, kind, outcome, shard, n) for (kind, outcome), n in ordered],
        )
        self.conn.executemany(
            "INSERT INTO event_totals (space_key, type, outcome, shard, n) "
            "VALUES (?,?,?,?,?) ON CONFLICT (space_key, type, outcome, shard) "
            "DO UPDATE SET n = event_totals.n + excluded.n",
            [(key, kind, outcome, shard, n) for (kind, outcome), n in ordered],
        )
        self.conn.execute(
            "DELETE FROM event_counts WHERE space_key = ? AND minute < ?",
            (key, minute - RETAIN_MINUTES),
        )


class DashboardReads:
    conn: Conn
    key: Callable[[str], str]  # a space's id to the key its rows are stored under

    def event_counts(self, space: str, since_minute: int) -> list[tuple[int, str, str, int]]:
        """`(minute, type, outcome, n)` from `since_minute` on, oldest first."""
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT minute, type, outcome, SUM(n) FROM event_counts "
            "WHERE space_key = ? AND minute >= ? GROUP BY minute, type, outcome "
            "ORDER BY minute, type, outcome",
            (key, since_minute),
        )
        return [(int(m), str(t), str(o), int(n)) for m, t, o, n in rows]

    def event_totals(self, space: str) -> list[tuple[str, str, int]]:
        """`(type, outcome, n)` since the space began."""
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT type, outcome, SUM(n) FROM event_totals WHERE space_key = ? "
            "GROUP BY type, outcome ORDER BY type, outcome",
            (key,),
        )
        return [(str(t), str(o), int(n)) for t, o, n in rows]

    def rejected_count(
        self, space: str, status: str | None, code: str | None, type: str | None, cap: int
    ) -> int:
        """Rejected events matching the filter, counted up to `cap`."""
        key = self.key(space)
        where, args = rejected_sql.where(key, status, code, type)
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM rejected_events WHERE {where} LIMIT ?) capped",
            (*args, cap),
        ).fetchone()
        return int(row[0])

    def rejected_event(self, space: str, rejected_id: str) -> RejectedRow | None:
        key = self.key(space)
        row = self.conn.execute(
            f"SELECT {rejected_sql.COLUMNS} FROM rejected_events "
            "WHERE space_key = ? AND rejected_id = ?",
            (key, rejected_id),
        ).fetchone()
        return rejected_sql.row(row) if row else None

    def profile_window_end(self, space: str, after: str | None, rows: int) -> str | None:
        """The id `rows` users after `after` in id order (an index walk of `rows` entries),
        or None when fewer remain."""
        key = self.key(space)
        row = self.conn.execute(
            "SELECT user_id FROM users WHERE space_key = ? AND user_id > ? "
            "ORDER BY user_id LIMIT 1 OFFSET ?",
            (key, after or "", rows - 1),
        ).fetchone()
        return str(row[0]) if row else None

    def delivery_count(self, space: str, webhook_id: str, statuses: Sequence[str], cap: int) -> int:
        """A webhook's deliveries in these statuses, counted up to `cap` for each status."""
        key = self.key(space)
        total = 0
        for status in statuses:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE space_key = ? "
                "AND webhook_id = ? AND status = ? LIMIT ?) capped",
                (key, webhook_id, status, cap),
            ).fetchone()
            total += int(row[0])
        return total
