"""A real syncline server on 127.0.0.1, in a thread (uvicorn), for integration tests."""

from __future__ import annotations

import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import httpx
import uvicorn

from syncline.clock import now_ms
from syncline.http import serving
from syncline.http.app import create_app, open_storage
from syncline.services import spaces
from syncline.settings import Settings
from syncline.storage.interface import Storage


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Tenant:
    """An API space and its secrets, as `syncline spaces create --json` prints them."""

    space: str
    client_id: str
    client_secret: str
    api_token: str


@dataclass
class LiveServer:
    url: str
    settings: Settings
    storage: Storage
    tenant: Tenant

    def new_tenant(self, account: int = 1) -> Tenant:
        with self.storage.unit_of_work() as uow:
            made = spaces.create_space(uow, account, "test", now_ms())
        return Tenant(made.api_space_id, made.client_id, made.client_secret, made.api_token)

    def collect_client(self, tenant: Tenant | None = None) -> httpx.Client:
        t = tenant or self.tenant
        return httpx.Client(base_url=self.url, auth=(t.client_id, t.client_secret), timeout=30)

    def api_client(self, tenant: Tenant | None = None) -> httpx.Client:
        t = tenant or self.tenant
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {t.api_token}"}, timeout=30
        )


@contextmanager
def live_server(database: str, **overrides: object) -> Iterator[LiveServer]:
    """A server on `database`: a URL, or the path of a SQLite file."""
    port = free_port()
    settings = Settings.load(
        env={},
        database_url=database if "://" in database else f"sqlite:///{database}",
        port=port,
        sqlite_synchronous="NORMAL",
        **overrides,
    )
    storage = open_storage(settings)
    storage.migrate()
    app = create_app(settings, storage)
    server = uvicorn.Server(serving.config(app, settings))  # the protocol `serve` runs
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the test server did not start")
        time.sleep(0.01)
    live = LiveServer(f"http://127.0.0.1:{port}", settings, storage, Tenant("", "", "", ""))
    live.tenant = live.new_tenant()
    try:
        yield live
    finally:
        server.should_exit = True
        thread.join(timeout=20)
