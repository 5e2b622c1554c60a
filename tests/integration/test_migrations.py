"""Migrations on both backends: the head matches the schema metadata, and 0008 moves existing
data from space ids to short space keys and back without losing a row."""

from __future__ import annotations

import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import pytest
import sqlalchemy as sa
from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from syncline.clock import now_ms
from syncline.services import spaces
from syncline.storage import migrate, postgres
from syncline.storage.schema import metadata
from syncline.storage.sqlbase import SqlUnitOfWork
from tests.support.databases import open_storage

OLD_TABLES = ("events", "users", "webhooks", "event_counts")


def sa_url(url: str) -> str:
    return url if url.startswith("sqlite") else postgres.alembic_url(url)


@pytest.fixture
def engine(database_url: str) -> Iterator[sa.Engine]:
    storage = open_storage(database_url)
    storage.migrate()
    storage.close()
    made = sa.create_engine(sa_url(database_url))
    yield made
    made.dispose()


def rows(engine: sa.Engine, sql: str, **params: Any) -> list[tuple[Any, ...]]:
    with engine.connect() as conn:
        return [tuple(r) for r in conn.execute(sa.text(sql), params)]


def test_the_head_matches_the_schema(engine: sa.Engine) -> None:
    with engine.connect() as conn:
        diff = compare_metadata(MigrationContext.configure(conn), metadata)
    assert diff == []


def old_layout(engine: sa.Engine) -> None:
    """Two spaces (b made after a) and a space never registered, as 0007 stored them."""
    with engine.begin() as conn:
        for space, at in (("space-b", 2), ("space-a", 1)):
            conn.execute(
                sa.text(
                    "INSERT INTO api_spaces (api_space_id, account_id, name, created_at) "
                    "VALUES (:s, 1, :s, :at)"
                ),
                {"s": space, "at": at},
            )
        for space in ("space-a", "space-b", "ghost"):
            params = {"s": space, "e": f"e-{space}"}
            conn.execute(
                sa.text(
                    "INSERT INTO events (api_space_id, event_id, type, timestamp, received_at, "
                    "precedence, user_id, thing_id, payload, digest) "
                    "VALUES (:s, :e, 'user_created', 1, 1, 0, 'u1', NULL, '{}', :d)"
                ),
                {**params, "d": b"\x01"},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO users (api_space_id, user_id, state, email, created, deleted, "
                    "unsubscribed, first_seen, updated_at) "
                    "VALUES (:s, 'u1', :state, NULL, TRUE, FALSE, FALSE, 1, 1)"
                ),
                {**params, "state": '{"f":{},"c":{},"d":null,"o":null}'},
            )
            conn.execute(
                sa.text(
                    "INSERT INTO webhooks (api_space_id, webhook_id, url, events, secret, "
                    "include_preexisting, ordering, state, created_at) "
                    "VALUES (:s, 'w1', 'http://127.0.0.1:9/', '[]', 'x', FALSE, 'none', "
                    "'enabled', 1)"
                ),
                params,
            )
            conn.execute(
                sa.text(
                    "INSERT INTO event_counts (api_space_id, minute, type, outcome, n, shard) "
                    "VALUES (:s, 1, 'user_created', 'accepted', 1, 0)"
                ),
                params,
            )


def test_0008_keys_every_row_by_its_space_and_back(database_url: str, engine: sa.Engine) -> None:
    config = migrate.alembic_config(sa_url(database_url))
    command.downgrade(config, "0007")
    old_layout(engine)
    command.upgrade(config, "head")

    keys = dict(rows(engine, "SELECT api_space_id, space_key FROM api_spaces"))
    assert keys == {"space-a": "1", "space-b": "2"}  # in the order they were made
    for table in OLD_TABLES:
        stored = sorted(r[0] for r in rows(engine, f"SELECT space_key FROM {table}"))
        assert stored == ["-ghost", "1", "2"], table

    storage = open_storage(database_url)
    try:
        reader = storage.reader()
        user = reader.user("space-b", "u1")
        assert user is not None
        assert user.user_id == "u1"
        assert reader.user("ghost", "u1") is not None  # still its own, behind its "-"
        page = reader.events(
            "space-a", user_id="u1", thing_id=None, type=None, cursor=None, limit=5
        )
        assert [e["event_id"] for e in page.items] == ["e-space-a"]
        assert sorted(space for space, _ in reader.enabled_webhooks()) == [
            "ghost",
            "space-a",
            "space-b",
        ]
        with storage.unit_of_work() as uow:
            made = spaces.create_space(uow, 1, "third", now_ms())
        assert reader.user(made.api_space_id, "u1") is None
    finally:
        storage.close()
    keys = dict(rows(engine, "SELECT api_space_id, space_key FROM api_spaces"))
    assert keys[made.api_space_id] == "3"

    command.downgrade(config, "0007")
    for table in OLD_TABLES:
        stored = sorted(r[0] for r in rows(engine, f"SELECT api_space_id FROM {table}"))
        assert stored == ["ghost", "space-a", "space-b"], table


def test_spaces_made_at_once_by_two_processes_get_their_own_keys(database_url: str) -> None:
    """Each new space takes the next key: a second writer (of another account, so no shared
    account row orders them) waits for the first, never takes the same key and fails on the
    unique index (PostgreSQL without the spaces lock did)."""
    first, second = open_storage(database_url), open_storage(database_url)
    first.migrate()
    try:
        with ThreadPoolExecutor(1) as pool:
            with first.unit_of_work() as uow:
                one = spaces.create_space(uow, 1, "one", now_ms()).api_space_id

                def make_two() -> str:
                    with second.unit_of_work() as other:
                        return spaces.create_space(other, 2, "two", now_ms()).api_space_id

                pending = pool.submit(make_two)
                time.sleep(0.5)  # the second one is waiting on the first's transaction
                assert not pending.done()
            two = pending.result(timeout=30)
        with second.unit_of_work() as uow:
            assert isinstance(uow, SqlUnitOfWork)
            assert (uow.key(one), uow.key(two)) == ("1", "2")
    finally:
        first.close()
        second.close()
