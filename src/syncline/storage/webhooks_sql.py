"""Webhook tables, in SQL both backends accept: subscriptions, the outbox, deliveries and attempts.

Mixed into the unit of work (writes) and the reader (reads); both hold `self.conn`.
A delivery is `pending` until a sender claims it (`inflight`, with a lease), then `delivered`,
`pending` again with a later `next_at`, or `dead`. A lease that runs out (a sender died) makes
the delivery pending again: redelivery with the same id, never loss.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from typing import Any

import msgspec

from syncline.storage.conn import Conn, marks
from syncline.storage.interface import chunks
from syncline.storage.records import AttemptRow, Claimed, OutboxRow, Settled, WebhookRow

_encode = msgspec.json.encode
_WEBHOOK_COLUMNS = (
    "webhook_id, url, events, secret, include_preexisting, ordering, batch_max_events, "
    "batch_timeout_s, state, created_at, previous_secret, previous_until, disabled_reason, "
    "failing_since, last_success_at, last_failure_at"
)
OPEN = ("pending", "inflight")
_CHUNK = 500  # ids in one IN (...) / = ANY(...)
# A claim reads the webhook's state itself: a pause (or disable) committed a moment ago stops
# new claims at once, whatever a worker's copy of the row still says.
_ENABLED = (
    "AND EXISTS (SELECT 1 FROM webhooks w WHERE w.space_key = d.space_key "
    "AND w.webhook_id = d.webhook_id AND w.state = 'enabled') "
)
# the space of a row by its key (a never-registered space: its id behind the "-" of its key)
_SPACE_ID = (
    "COALESCE((SELECT s.api_space_id FROM api_spaces s WHERE s.space_key = webhooks.space_key), "
    "substr(webhooks.space_key, 2))"
)
_UPSERT = ", ".join(f"{c} = excluded.{c}" for c in _WEBHOOK_COLUMNS.replace(" ", "").split(",")[1:])


def _webhook(row: tuple[Any, ...]) -> WebhookRow:
    values = list(row)
    values[2] = msgspec.json.decode(values[2])
    values[4] = bool(values[4])
    return WebhookRow(*values)


def _attempt(a: AttemptRow) -> tuple[Any, ...]:
    return (
        a.attempt_id,
        a.message_id,
        _encode(a.event_ids).decode(),
        a.at,
        a.status,
        a.latency_ms,
        a.response,
        a.error,
        a.outcome,
    )


def _bytes(text: str | bytes) -> bytes:
    """A JSON document as sent: SQLite hands back the bytes stored, PostgreSQL text."""
    return text.encode() if isinstance(text, str) else text


class WebhookWrites:
    conn: Conn
    key: Callable[[str], str]  # a space's id to the key its rows are stored under
    among: Callable[[int], str]
    spread: Callable[[Iterable[Any]], list[Any]]
    claim_lock = ""  # PostgreSQL: FOR UPDATE ... SKIP LOCKED

    def save_webhook(self, space: str, w: WebhookRow) -> None:
        key = self.key(space)
        self.conn.execute(
            f"INSERT INTO webhooks (space_key, {_WEBHOOK_COLUMNS}) VALUES ({marks(17)}) "
            f"ON CONFLICT (space_key, webhook_id) DO UPDATE SET {_UPSERT}",
            (
                key,
                w.webhook_id,
                w.url,
                _encode(w.events).decode(),
                w.secret,
                w.include_preexisting,
                w.ordering,
                w.batch_max_events,
                w.batch_timeout_s,
                w.state,
                w.created_at,
                w.previous_secret,
                w.previous_until,
                w.disabled_reason,
                w.failing_since,
                w.last_success_at,
                w.last_failure_at,
            ),
        )

    def delete_webhook(self, space: str, webhook_id: str) -> bool:
        key = self.key(space)
        deleted = self.conn.execute(
            "DELETE FROM webhooks WHERE space_key = ? AND webhook_id = ?", (key, webhook_id)
        ).rowcount
        for table in ("deliveries", "delivery_attempts"):
            self.conn.execute(
                f"DELETE FROM {table} WHERE space_key = ? AND webhook_id = ?",
                (key, webhook_id),
            )
        return deleted > 0

    def load_webhook(self, space: str, webhook_id: str) -> WebhookRow | None:
        key = self.key(space)
        row = self.conn.execute(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE space_key = ? AND webhook_id = ?",
            (key, webhook_id),
        ).fetchone()
        return _webhook(row) if row else None

    def subscribers(self, space: str) -> list[WebhookRow]:
        """Every webhook that takes new events: enabled or paused (a paused one queues)."""
        key = self.key(space)
        rows = self.conn.execute(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE space_key = ? AND state != 'disabled'",
            (key,),
        )
        return [_webhook(r) for r in rows]

    def account_of(self, space: str) -> int:
        row = self.conn.execute(
            "SELECT account_id FROM api_spaces WHERE api_space_id = ?", (space,)
        ).fetchone()
        return int(row[0]) if row else 0

    def insert_outbox(
        self, space: str, rows: Sequence[OutboxRow], fanout: Sequence[tuple[str, OutboxRow]]
    ) -> None:
        """The revisions and, per subscribed webhook, a pending delivery of each."""
        key = self.key(space)
        self.conn.executemany(
            "INSERT INTO profile_events (space_key, event_id, user_id, revision, name, "
            "envelope, preexisting, at) VALUES (?,?,?,?,?,?,?,?)",
            [
                (key, r.event_id, r.user_id, r.revision, r.name, r.envelope, r.preexisting, r.at)
                for r in rows
            ],
        )
        self.conn.executemany(
            "INSERT INTO deliveries (space_key, webhook_id, event_id, user_id, revision, "
            "status, attempts, next_at, created_at) VALUES (?,?,?,?,?,'pending',0,?,?)",
            [
                (key, webhook_id, r.event_id, r.user_id, r.revision, r.at, r.at)
                for webhook_id, r in fanout
            ],
        )

    def release_expired(self, now: int) -> int:
        """Claims whose lease ran out (their sender died) become pending again."""
        return self.conn.execute(
            "UPDATE deliveries SET status = 'pending', claimed_until = NULL "
            "WHERE status = 'inflight' AND claimed_until < ?",
            (now,),
        ).rowcount

    def claim(
        self, space: str, webhook: WebhookRow, now: int, lease_until: int, limit: int
    ) -> list[Claimed]:
        """Due deliveries; with profile ordering only each profile's oldest open revision."""
        key = self.key(space)
        order = ""
        if webhook.ordering == "profile":
            order = (
                "AND NOT EXISTS (SELECT 1 FROM deliveries e WHERE "
                "e.space_key = d.space_key AND e.webhook_id = d.webhook_id "
                "AND e.user_id = d.user_id AND e.status IN ('pending', 'inflight') "
                "AND e.revision < d.revision)"
            )
        rows = self.conn.execute(
            "SELECT d.event_id, d.user_id, d.revision, d.attempts, p.envelope, d.batch_id "
            "FROM deliveries d JOIN profile_events p ON p.space_key = d.space_key "
            "AND p.event_id = d.event_id WHERE d.space_key = ? AND d.webhook_id = ? "
            f"AND d.status = 'pending' AND d.next_at <= ? {order} {_ENABLED}"
            "ORDER BY d.next_at, d.created_at, d.user_id, d.revision LIMIT ?" + self.claim_lock,
            (key, webhook.webhook_id, now, limit),
        ).fetchall()
        claimed = [Claimed(r[0], r[1], r[2], r[3], _bytes(r[4]), r[5], lease_until) for r in rows]
        self._set_status(key, webhook.webhook_id, [c.event_id for c in claimed], lease_until)
        return claimed

    def _set_status(
        self, key: str, webhook_id: str, event_ids: list[str], lease_until: int
    ) -> None:
        for part in chunks(event_ids, _CHUNK):
            self.conn.execute(
                "UPDATE deliveries SET status = 'inflight', claimed_until = ? "
                f"WHERE space_key = ? AND webhook_id = ? AND event_id {self.among(len(part))}",
                (lease_until, key, webhook_id, *self.spread(part)),
            )

    def settle_all(self, outcomes: Sequence[Settled], now: int) -> None:
        """A cycle's outcomes: one UPDATE per kind of outcome (usually one: all delivered
        now), whatever the number of deliveries, then the attempt rows. On PostgreSQL a
        statement per row cost the server as much again as the rows themselves."""
        settled: dict[tuple[Any, ...], list[str]] = defaultdict(list)
        back: dict[tuple[str, str, int], list[str]] = defaultdict(list)
        attempts = []
        for o in outcomes:
            claim = (self.key(o.space), o.webhook_id, o.lease_until)
            if o.status == "unclaimed":
                back[claim] += o.event_ids
            else:
                done = now if o.status in ("delivered", "dead") else None
                settled[o.status, o.next_at, done, o.error, *claim] += o.event_ids
            if o.attempt is not None:
                attempts.append((claim[0], o.webhook_id, *_attempt(o.attempt)))
        for (status, next_at, done, error, *held), ids in settled.items():
            for part in chunks(ids, _CHUNK):
                self.conn.execute(
                    "UPDATE deliveries SET status = ?, attempts = attempts + 1, next_at = ?, "
                    "claimed_until = NULL, done_at = ?, last_error = ? "
                    "WHERE space_key = ? AND webhook_id = ? AND claimed_until = ? "
                    f"AND status = 'inflight' AND event_id {self.among(len(part))}",
                    (status, next_at, done, error, *held, *self.spread(part)),
                )
        for held_back, ids in back.items():
            for part in chunks(ids, _CHUNK):
                self.conn.execute(
                    "UPDATE deliveries SET status = 'pending', claimed_until = NULL "
                    "WHERE space_key = ? AND webhook_id = ? AND claimed_until = ? "
                    f"AND status = 'inflight' AND event_id {self.among(len(part))}",
                    (*held_back, *self.spread(part)),
                )
        self.conn.executemany(
            "INSERT INTO delivery_attempts (space_key, webhook_id, attempt_id, message_id, "
            "event_ids, at, status, latency_ms, response, error, outcome) "
            "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
            attempts,
        )

    def release_webhook(self, space: str, webhook_id: str) -> int:
        """Every claim of one webhook back to pending (its sender stopped)."""
        key = self.key(space)
        return self.conn.execute(
            "UPDATE deliveries SET status = 'pending', claimed_until = NULL "
            "WHERE space_key = ? AND webhook_id = ? AND status = 'inflight'",
            (key, webhook_id),
        ).rowcount

    def record_health(
        self, space: str, webhook_id: str, ok: bool, now: int, disable_after_ms: int
    ) -> bool:
        """A success clears `failing_since`; failing for longer than allowed disables."""
        key = self.key(space)
        if ok:
            self.conn.execute(
                "UPDATE webhooks SET last_success_at = ?, failing_since = NULL "
                "WHERE space_key = ? AND webhook_id = ?",
                (now, key, webhook_id),
            )
            return False
        self.conn.execute(
            "UPDATE webhooks SET last_failure_at = ?, failing_since = COALESCE(failing_since, ?) "
            "WHERE space_key = ? AND webhook_id = ?",
            (now, now, key, webhook_id),
        )
        return (
            self.conn.execute(
                "UPDATE webhooks SET state = 'disabled', disabled_reason = ? "
                "WHERE space_key = ? AND webhook_id = ? AND state = 'enabled' "
                "AND failing_since <= ?",
                (
                    "every delivery failed for longer than the allowed period",
                    key,
                    webhook_id,
                    now - disable_after_ms,
                ),
            ).rowcount
            > 0
        )

    def disable(self, space: str, webhook_id: str, reason: str) -> None:
        key = self.key(space)
        self.conn.execute(
            "UPDATE webhooks SET state = 'disabled', disabled_reason = ? "
            "WHERE space_key = ? AND webhook_id = ?",
            (reason, key, webhook_id),
        )

    def replay_dead(
        self,
        space: str,
        webhook_id: str,
        event_ids: Sequence[str] | None,
        since: int,
        until: int,
        now: int,
    ) -> int:
        """Dead letters back to pending, tried afresh from now."""
        key = self.key(space)
        where = "space_key = ? AND webhook_id = ? AND status = 'dead'"
        args: list[Any] = [key, webhook_id]
        if event_ids is not None:
            where += f" AND event_id {self.among(len(event_ids))}"
            args.extend(self.spread(event_ids))
        else:
            where += " AND done_at >= ? AND done_at < ?"
            args.extend((since, until))
        return self.conn.execute(
            "UPDATE deliveries SET status = 'pending', attempts = 0, next_at = ?, "
            f"done_at = NULL, batch_id = NULL WHERE {where}",
            (now, *args),
        ).rowcount

    def prune(self, before: int) -> int:
        """Delivered and dead rows, their attempts and announced revisions older than `before`."""
        pruned = self.conn.execute(
            "DELETE FROM deliveries WHERE status IN ('delivered', 'dead') AND done_at < ?",
            (before,),
        ).rowcount
        self.conn.execute("DELETE FROM delivery_attempts WHERE at < ?", (before,))
        self.conn.execute(
            "DELETE FROM profile_events WHERE at < ? AND NOT EXISTS (SELECT 1 FROM deliveries d "
            "WHERE d.space_key = profile_events.space_key "
            "AND d.event_id = profile_events.event_id)",
            (before,),
        )
        return pruned


class WebhookReads:
    conn: Conn
    key: Callable[[str], str]

    def webhook(self, space: str, webhook_id: str) -> WebhookRow | None:
        key = self.key(space)
        row = self.conn.execute(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE space_key = ? AND webhook_id = ?",
            (key, webhook_id),
        ).fetchone()
        return _webhook(row) if row else None

    def webhooks(self, space: str) -> list[WebhookRow]:
        key = self.key(space)
        rows = self.conn.execute(
            f"SELECT {_WEBHOOK_COLUMNS} FROM webhooks WHERE space_key = ? "
            f"ORDER BY created_at, webhook_id",
            (key,),
        )
        return [_webhook(r) for r in rows]

    def enabled_webhooks(self) -> list[tuple[str, WebhookRow]]:
        rows = self.conn.execute(
            f"SELECT {_SPACE_ID}, {_WEBHOOK_COLUMNS} FROM webhooks WHERE state = 'enabled'"
        )
        return [(r[0], _webhook(r[1:])) for r in rows]

    def next_due(self, space: str, webhook_id: str) -> int | None:
        key = self.key(space)
        row = self.conn.execute(
            "SELECT MIN(next_at) FROM deliveries WHERE space_key = ? AND webhook_id = ? "
            "AND status = 'pending'",
            (key, webhook_id),
        ).fetchone()
        return int(row[0]) if row and row[0] is not None else None

    def delivery_totals(self) -> dict[str, int]:
        """Deliveries not done yet, by status, over every space (for /metrics)."""
        rows = self.conn.execute(
            "SELECT status, COUNT(*) FROM deliveries "
            "WHERE status IN ('pending', 'inflight', 'dead') GROUP BY status"
        )
        return {status: n for status, n in rows}

    def due_summary(self, space: str, webhook_id: str, now: int) -> tuple[int, int | None]:
        """How many deliveries are due, and when the oldest of them was queued."""
        key = self.key(space)
        row = self.conn.execute(
            "SELECT COUNT(*), MIN(created_at) FROM deliveries WHERE space_key = ? "
            "AND webhook_id = ? AND status = 'pending' AND next_at <= ?",
            (key, webhook_id, now),
        ).fetchone()
        return int(row[0]), (int(row[1]) if row[1] is not None else None)

    def delivery_counts(self, space: str, webhook_id: str) -> dict[str, int]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT status, COUNT(*) FROM deliveries WHERE space_key = ? AND webhook_id = ? "
            "GROUP BY status",
            (key, webhook_id),
        )
        counts = {"pending": 0, "inflight": 0, "delivered": 0, "dead": 0}
        counts.update({status: n for status, n in rows})
        return counts

    def attempts(
        self, space: str, webhook_id: str, before: str | None, limit: int
    ) -> list[AttemptRow]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT attempt_id, message_id, event_ids, at, status, latency_ms, response, error, "
            "outcome FROM delivery_attempts WHERE space_key = ? AND webhook_id = ? "
            "AND attempt_id < ? ORDER BY attempt_id DESC LIMIT ?",
            (key, webhook_id, before or "\uffff", limit),
        )
        return [AttemptRow(r[0], r[1], msgspec.json.decode(r[2]), *r[3:]) for r in rows]

    def dead_letters(
        self, space: str, webhook_id: str, after: str | None, limit: int
    ) -> list[dict[str, Any]]:
        key = self.key(space)
        rows = self.conn.execute(
            "SELECT d.event_id, d.user_id, d.revision, d.attempts, d.done_at, d.last_error, "
            "p.envelope FROM deliveries d JOIN profile_events p ON "
            "p.space_key = d.space_key AND p.event_id = d.event_id "
            "WHERE d.space_key = ? AND d.webhook_id = ? AND d.status = 'dead' "
            "AND d.event_id > ? ORDER BY d.event_id LIMIT ?",
            (key, webhook_id, after or "", limit),
        )
        return [
            {
                "eventId": r[0],
                "profileId": r[1],
                "revision": r[2],
                "attempts": r[3],
                "deadAt": r[4],
                "lastError": r[5],
                "envelope": msgspec.json.decode(r[6]),
            }
            for r in rows
        ]
