"""`syncline demo`: the whole loop on one machine, for a first look.

An embedded server (a temporary SQLite file), a local webhook receiver that verifies every
request with `syncline.client.verify_webhook` and filters it with a `RevisionFilter`, a
webhook subscription, a small preexisting sync with the importer, then a few live events.
"""

from __future__ import annotations

import secrets
import socket
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from syncline.client import RevisionFilter, WebhookVerificationError, verify_webhook


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@dataclass
class Delivery:
    name: str
    profile: str
    revision: int
    fresh: bool


@dataclass
class DemoReceiver:
    """What the local webhook receiver saw: every envelope, verified or not."""

    secret: str
    url: str = ""
    deliveries: list[Delivery] = field(default_factory=list)
    requests: int = 0
    refused: int = 0
    revisions: RevisionFilter = field(default_factory=RevisionFilter)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def take(self, body: bytes, headers: dict[str, str]) -> int:
        with self.lock:
            self.requests += 1
            try:
                payload = verify_webhook(body, headers, self.secret)
            except WebhookVerificationError:
                self.refused += 1
                return 401
            envelopes = payload if isinstance(payload, list) else [payload]
            for envelope in envelopes:
                fresh = self.revisions.accept(envelope)
                profile = str(envelope.get("payload", {}).get("id", "?"))
                self.deliveries.append(
                    Delivery(envelope["name"], profile, envelope["revision"], fresh)
                )
            return 200

    def counts(self) -> Counter[str]:
        with self.lock:
            return Counter(d.name for d in self.deliveries)


@contextmanager
def webhook_receiver(secret: str) -> Iterator[DemoReceiver]:
    seen = DemoReceiver(secret)

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            status = seen.take(body, dict(self.headers.items()))
            self.send_response(status)
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    httpd = ThreadingHTTPServer(("127.0.0.1", free_port()), Handler)
    seen.url = f"http://127.0.0.1:{httpd.server_address[1]}/hook"
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield seen
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


@dataclass
class Embedded:
    url: str
    space: str
    client_id: str
    client_secret: str
    api_token: str


@contextmanager
def embedded_server(directory: Path, port: int) -> Iterator[Embedded]:
    """`syncline serve` in this process (a thread), on a fresh SQLite file in `directory`."""
    import uvicorn

    from syncline.http.app import create_app, open_storage
    from syncline.services import spaces
    from syncline.settings import Settings

    settings = Settings.load(
        env={},
        database_url=f"sqlite:///{directory / 'demo.db'}",
        port=port,
        webhooks_allow_private=True,
        sqlite_synchronous="NORMAL",
        log_level="warning",
    )
    storage = open_storage(settings)
    storage.migrate()
    with storage.unit_of_work() as uow:
        made = spaces.create_space(uow, 1, "demo", time.time_ns() // 1_000_000)
    config = uvicorn.Config(
        create_app(settings, storage),
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("the embedded server did not start")
        time.sleep(0.02)
    try:
        yield Embedded(
            f"http://127.0.0.1:{port}",
            made.api_space_id,
            made.client_id,
            made.client_secret,
            made.api_token,
        )
    finally:
        server.should_exit = True
        thread.join(30)
        storage.close()


def new_secret() -> str:
    return "demo-" + secrets.token_urlsafe(24)
