"""PostgreSQL plans from statistics autovacuum refreshes about once a minute: a table filled in
seconds is analyzed by syncline itself, in the background, so an UPDATE of one delivery by its
key uses the primary key rather than walking the webhook's whole backlog."""

from __future__ import annotations

import time
from collections.abc import Iterator

import psycopg
import pytest

from syncline.storage.postgres import PostgresStorage
from syncline.storage.records import OutboxRow, WebhookRow
from tests.support.databases import fresh_postgres, open_storage

KEYED_UPDATE = (
    "EXPLAIN UPDATE deliveries SET status = 'inflight' "
    "WHERE space_key = '1' AND webhook_id = 'w1' AND event_id = 'e7'"
)


@pytest.fixture
def pg_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    with fresh_postgres(tmp_path_factory.mktemp("pg-statistics"), "statistics") as url:
        yield url


def last_analyze(url: str, table: str) -> object:
    with psycopg.connect(url) as conn:
        row = conn.execute(
            "SELECT last_analyze FROM pg_stat_user_tables WHERE relname = %s", (table,)
        ).fetchone()
    return row[0] if row else None


def plan(url: str) -> str:
    with psycopg.connect(url) as conn:
        return "\n".join(r[0] for r in conn.execute(KEYED_UPDATE))


def test_a_table_filled_in_seconds_is_analyzed_and_planned_by_its_key(pg_url: str) -> None:
    storage = open_storage(pg_url)
    assert isinstance(storage, PostgresStorage)
    storage.statistics.every_s = 0.2
    hook = WebhookRow(
        "w1", "http://x", ["profile.*"], "s" * 20, True, "none", None, None, "enabled", 0
    )
    rows = [OutboxRow(f"e{i}", f"u{i}", 0, "profile.create", b"{}", False, 1) for i in range(5000)]
    try:
        with storage.unit_of_work() as uow:
            uow.conn.execute(
                "INSERT INTO api_spaces (api_space_id, account_id, name, created_at, space_key) "
                "VALUES ('s1', 1, 's1', 0, '1')"
            )
            uow.save_webhook("s1", hook)
            uow.insert_outbox("s1", rows, [("w1", r) for r in rows])
        assert last_analyze(pg_url, "deliveries") is None
        assert "deliveries_pkey" not in plan(pg_url)  # what the planner does meanwhile
        deadline = time.monotonic() + 15
        while last_analyze(pg_url, "deliveries") is None and time.monotonic() < deadline:
            with storage.unit_of_work():  # commits are what check (at most every 0.2 s here)
                pass
            time.sleep(0.2)
        assert last_analyze(pg_url, "deliveries") is not None
        assert last_analyze(pg_url, "profile_events") is not None
        assert "deliveries_pkey" in plan(pg_url)
        analyzed = storage.statistics.analyzed
        for _ in range(5):  # nothing changed since: nothing analyzed again
            with storage.unit_of_work():
                pass
            time.sleep(0.25)
        assert storage.statistics.analyzed == analyzed
    finally:
        storage.close()
