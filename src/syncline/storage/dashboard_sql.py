"""The dashboard's SQL, portable to SQLite and PostgreSQL.

Only `conn.execute(sql, params)` with `?` placeholders, COALESCE, booleans as `col`/`NOT col`
and plain `ON CONFLICT ... DO UPDATE` upserts. `DashboardReads` is mixed into a backend's
reader; `count_events` is the one write, run inside the ingest transaction by the services
that accept or reject events. Every read is an index range scan of bounded size: the counters
are keyed by minute, and counts stop at a cap (`count <= cap`, shown as "cap+").
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, Protocol, cast

from syncline.storage.records import RejectedRow

RETAIN_MINUTES = 2 * 24 * 60  # per-minute counts kept; the dashboard shows the last hour
ACCEPTED, REJECTED = "accepted", "rejected"
_REJECTED_COLUMNS = (
    "rejected_id, event_id, event_index, type, raw, code, field, message, received_at, "
    "status, replayed_at, replay_count"
)


class Connection(Protocol):
    def execute(self, sql: str, parameters: Sequence[Any], /) -> Any: ...


class _Transaction(Protocol):
    conn: Connection


def count_events(
    uow: object, space: str, minute: int, counts: Mapping[tuple[str, str], int]
) -> None:
    """Add `{(type, outcome): n}` to the minute's and the total counts, in `uow`'s transaction.

    `uow` is a unit of work of a backend built on `conn` (SQLite's, PostgreSQL's): the counts
    commit or roll back with the events they count. Old minutes are dropped on the way (an
    index seek that usually finds nothing).
    """
    if not counts:
        return
    conn = cast(_Transaction, uow).conn
    for (kind, outcome), n in sorted(counts.items()):
        conn.execute(
            "INSERT INTO event_counts (api_space_id, minute, type, outcome, n) "
            "VALUES (?,?,?,?,?) ON CONFLICT (api_space_id, minute, type, outcome) "
            "DO UPDATE SET n = event_counts.n + excluded.n",
            (space, minute, kind, outcome, n),
        )
        conn.execute(
            "INSERT INTO event_totals (api_space_id, type, outcome, n) VALUES (?,?,?,?) "
            "ON CONFLICT (api_space_id, type, outcome) "
            "DO UPDATE SET n = event_totals.n + excluded.n",
            (space, kind, outcome, n),
        )
    conn.execute(
        "DELETE FROM event_counts WHERE api_space_id = ? AND minute < ?",
        (space, minute - RETAIN_MINUTES),
    )


class DashboardReads:
    conn: Any

    def event_counts(self, space: str, since_minute: int) -> list[tuple[int, str, str, int]]:
        """`(minute, type, outcome, n)` from `since_minute` on, oldest first."""
        rows = self.conn.execute(
            "SELECT minute, type, outcome, n FROM event_counts "
            "WHERE api_space_id = ? AND minute >= ? ORDER BY minute, type, outcome",
            (space, since_minute),
        )
        return [(int(m), str(t), str(o), int(n)) for m, t, o, n in rows]

    def event_totals(self, space: str) -> list[tuple[str, str, int]]:
        """`(type, outcome, n)` since the space began."""
        rows = self.conn.execute(
            "SELECT type, outcome, n FROM event_totals WHERE api_space_id = ? "
            "ORDER BY type, outcome",
            (space,),
        )
        return [(str(t), str(o), int(n)) for t, o, n in rows]

    def rejected_count(
        self, space: str, status: str | None, code: str | None, type: str | None, cap: int
    ) -> int:
        """Rejected events matching the filter, counted up to `cap`."""
        where, args = "api_space_id = ?", [space]
        for column, value in (("status", status), ("code", code), ("type", type)):
            if value is not None:
                where += f" AND {column} = ?"
                args.append(value)
        row = self.conn.execute(
            f"SELECT COUNT(*) FROM (SELECT 1 FROM rejected_events WHERE {where} LIMIT ?) capped",
            (*args, cap),
        ).fetchone()
        return int(row[0])

    def rejected_event(self, space: str, rejected_id: str) -> RejectedRow | None:
        row = self.conn.execute(
            f"SELECT {_REJECTED_COLUMNS} FROM rejected_events "
            "WHERE api_space_id = ? AND rejected_id = ?",
            (space, rejected_id),
        ).fetchone()
        if row is None:
            return None
        values = list(row)
        values[4] = bytes(values[4])
        return RejectedRow(*values)

    def profile_window_end(self, space: str, after: str | None, rows: int) -> str | None:
        """The id `rows` users after `after` in id order (an index walk of `rows` entries),
        or None when fewer remain."""
        row = self.conn.execute(
            "SELECT user_id FROM users WHERE api_space_id = ? AND user_id > ? "
            "ORDER BY user_id LIMIT 1 OFFSET ?",
            (space, after or "", rows - 1),
        ).fetchone()
        return str(row[0]) if row else None

    def delivery_count(self, space: str, webhook_id: str, statuses: Sequence[str], cap: int) -> int:
        """A webhook's deliveries in these statuses, counted up to `cap` for each status."""
        total = 0
        for status in statuses:
            row = self.conn.execute(
                "SELECT COUNT(*) FROM (SELECT 1 FROM deliveries WHERE api_space_id = ? "
                "AND webhook_id = ? AND status = ? LIMIT ?) capped",
                (space, webhook_id, status, cap),
            ).fetchone()
            total += int(row[0])
        return total
