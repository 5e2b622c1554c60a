"""Fixtures shared by every layer: a migrated SQLite storage and a live server."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.clock import now_ms
from syncline.services import spaces
from syncline.storage.sqlite import SQLiteStorage
from tests.support.server import LiveServer, live_server


@pytest.fixture
def storage(tmp_path: Path) -> Iterator[SQLiteStorage]:
    store = SQLiteStorage(str(tmp_path / "syncline.db"), "NORMAL")
    store.migrate()
    yield store
    store.close()


@pytest.fixture
def space(storage: SQLiteStorage) -> str:
    with storage.unit_of_work() as uow:
        return spaces.create_space(uow, 1, "test", now_ms()).api_space_id


@pytest.fixture
def server(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(str(tmp_path / "live.db")) as live:
        yield live
