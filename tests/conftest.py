"""Fixtures shared by every layer: the backends, fresh databases, storage and a live server.

Every test that asks for `storage`, `space`, `server` or `databases` runs once per backend:
SQLite always, PostgreSQL whenever one is reachable. With `CI=true` PostgreSQL is required.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncline.clock import now_ms
from syncline.services import spaces
from syncline.storage.interface import Storage
from tests.support.databases import BACKENDS, Databases, open_storage, require_postgres
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="session", params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    name: str = request.param
    if name == "postgres":
        require_postgres()
    return name


@pytest.fixture(scope="session")
def databases(backend: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Databases]:
    dbs = Databases(backend, tmp_path_factory.mktemp(f"db-{backend}"))
    yield dbs
    dbs.drop_template()


@pytest.fixture
def database_url(databases: Databases) -> Iterator[str]:
    with databases.fresh() as url:
        yield url


@pytest.fixture
def storage(database_url: str) -> Iterator[Storage]:
    store = open_storage(database_url)
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def space(storage: Storage) -> str:
    with storage.unit_of_work() as uow:
        return spaces.create_space(uow, 1, "test", now_ms()).api_space_id


@pytest.fixture
def server(databases: Databases) -> Iterator[LiveServer]:
    with databases.fresh("live") as url, live_server(url) as live:
        yield live
