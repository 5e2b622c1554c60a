"""Fresh databases for tests, on SQLite (a file) or PostgreSQL (a database per use).

PostgreSQL is found at `SYNCLINE_TEST_POSTGRES` (default: the machine's 127.0.0.1:5432, trust
auth, database `test`). Each fresh database is a copy of one migrated template, made once per
test session, and is dropped when its user is done.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterator
from contextlib import contextmanager
from functools import cache
from pathlib import Path

import psycopg
import pytest

from syncline.http import app
from syncline.settings import Settings
from syncline.storage.interface import Storage

ADMIN_URL = os.environ.get("SYNCLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
BACKENDS = ("sqlite", "postgres")


@cache
def postgres_available() -> bool:
    try:
        psycopg.connect(ADMIN_URL, connect_timeout=3).close()
        return True
    except psycopg.Error:
        return False


def require_postgres() -> None:
    """Skip the calling test without PostgreSQL; under CI=true, fail it instead."""
    if not postgres_available():
        if os.environ.get("CI") == "true":
            pytest.fail("CI=true requires PostgreSQL (see SYNCLINE_TEST_POSTGRES)")
        pytest.skip("PostgreSQL is not reachable (SYNCLINE_TEST_POSTGRES)")


@contextmanager
def fresh_postgres(directory: Path, name: str) -> Iterator[str]:
    """One fresh migrated PostgreSQL database, for a test that runs on PostgreSQL only."""
    require_postgres()
    dbs = Databases("postgres", directory)
    try:
        with dbs.fresh(name) as url:
            yield url
    finally:
        dbs.drop_template()


def database_url(name: str) -> str:
    base, _, _ = ADMIN_URL.rpartition("/")
    return f"{base}/{name}"


def open_storage(url: str) -> Storage:
    """The storage `syncline serve` opens for `url` (SQLite with synchronous=NORMAL)."""
    return app.open_storage(Settings.load(env={}, database_url=url, sqlite_synchronous="NORMAL"))


class Databases:
    """Fresh database URLs of one backend."""

    def __init__(self, backend: str, directory: Path) -> None:
        self.backend = backend
        self.directory = directory
        self._numbers = itertools.count()
        self._template: str | None = None

    @property
    def postgres(self) -> bool:
        return self.backend == "postgres"

    @contextmanager
    def fresh(self, name: str = "db") -> Iterator[str]:
        n = next(self._numbers)
        if not self.postgres:
            yield f"sqlite:///{self.directory / f'{name}-{n}.db'}"
            return
        db = f"sl_{os.getpid()}_{n}"
        with _admin() as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")
            admin.execute(f"CREATE DATABASE {db} TEMPLATE {self._migrated_template()}")
            # What SQLite's synchronous=NORMAL is to the tests: a killed syncline process still
            # loses nothing committed; only a crash of PostgreSQL itself could.
            admin.execute(f"ALTER DATABASE {db} SET synchronous_commit = off")
        try:
            yield database_url(db)
        finally:
            with _admin() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {db} WITH (FORCE)")

    def drop_template(self) -> None:
        if self._template is not None:
            with _admin() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {self._template} WITH (FORCE)")
            self._template = None

    def _migrated_template(self) -> str:
        if self._template is None:
            name = f"sl_{os.getpid()}_template"
            with _admin() as admin:
                admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                admin.execute(f"CREATE DATABASE {name}")
            storage = open_storage(database_url(name))
            storage.migrate()
            storage.close()
            self._template = name
        return self._template


@contextmanager
def _admin() -> Iterator[psycopg.Connection]:
    with psycopg.connect(ADMIN_URL, autocommit=True) as conn:
        yield conn
