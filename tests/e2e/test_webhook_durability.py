"""Webhooks through the real `syncline serve` process and the CLI: `syncline webhooks add`,
kill -9 while deliveries are in flight, restart, and nothing is lost (redelivery keeps its id).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.process import ServerProcess, cli_json, create_space, run_cli
from tests.support.receiver import Answer, Receiver, receiver

pytestmark = pytest.mark.slow


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


@pytest.fixture
def syncline(tmp_path: Path, database_url: str, databases: Databases) -> Iterator[ServerProcess]:
    env = {"SYNCLINE_WEBHOOKS_ALLOW_PRIVATE": "true", "SYNCLINE_WEBHOOK_RETRY_SCALE": "0.001"}
    if databases.postgres:
        # Beside possible other workers, a restarted one waits for the dead one's leases to
        # run out rather than taking its claims at once: short leases keep the test short.
        env |= {"SYNCLINE_WEBHOOK_LEASE_SECONDS": "3", "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS": "2"}
    proc = ServerProcess(tmp_path / "hooks.db", url_of_database=database_url, extra_env=env)
    try:
        yield proc
    finally:
        proc.stop()


def test_kill_9_mid_delivery_loses_nothing(syncline: ServerProcess, hook: Receiver) -> None:
    server = syncline
    cwd = server.db_path.parent
    tenant = create_space(server.database_url, cwd=cwd)
    made = cli_json(
        "webhooks",
        "add",
        hook.url,
        "--space",
        tenant.space,
        database_url=server.database_url,
        SYNCLINE_WEBHOOKS_ALLOW_PRIVATE="true",
    )
    assert len(made["secret"]) >= 16
    release = threading.Event()
    # until released, the receiver holds every request: deliveries stay in flight
    hook.answer(lambda r, n: Answer(200) if release.is_set() else Answer(200, delay=30))
    server.start()
    users = [f"k9-{n}" for n in range(20)]
    base = now_ms() - 10_000
    with server.collect_client(tenant) as client:
        answer = client.post(
            "/v2/collect",
            json={
                "events": [
                    {
                        "type": "user_created",
                        "event_id": f"k9-{u}",
                        "timestamp": base + n,
                        "payload": {"user_id": u},
                    }
                    for n, u in enumerate(users)
                ]
            },
        )
    assert answer.status_code == 200
    hook.wait_for(lambda r: len(r.received) >= 10)
    in_flight = {r.headers["webhook-id"] for r in hook.received}
    server.kill()
    release.set()
    server.start()
    hook.wait_for(lambda r: _delivered_profiles(r) == set(users), timeout=30)
    final = {r.json["payload"]["id"]: r.headers["webhook-id"] for r in hook.received}
    # a redelivery of what was in flight carries the id it had before the kill
    assert in_flight <= set(final.values())
    listed = cli_json("webhooks", "list", "--space", tenant.space, database_url=server.database_url)
    [view] = listed
    _wait(lambda: _view(server, tenant.space)["delivered"] == 20)
    assert view["id"] == made["id"]


def test_cli_pause_resume_and_replay(syncline: ServerProcess, hook: Receiver) -> None:
    server = syncline
    cwd = server.db_path.parent
    tenant = create_space(server.database_url, cwd=cwd)
    made = cli_json(
        "webhooks",
        "add",
        hook.url,
        "--space",
        tenant.space,
        database_url=server.database_url,
        SYNCLINE_WEBHOOKS_ALLOW_PRIVATE="true",
    )
    hook.answer(lambda r, n: Answer(400))
    server.start()
    with server.collect_client(tenant) as client:
        client.post(
            "/v2/collect",
            json={
                "events": [
                    {
                        "type": "user_created",
                        "event_id": "cli-1",
                        "timestamp": now_ms() - 1000,
                        "payload": {"user_id": "cli-u"},
                    }
                ]
            },
        )
    _wait(lambda: _view(server, tenant.space)["deadLetters"] == 1)
    hook.answer(lambda r, n: Answer(200))
    db = ["--database-url", server.database_url]
    done = run_cli("webhooks", "replay", made["id"], "--space", tenant.space, *db)
    assert done.returncode == 0, done.stderr
    assert "replayed 1" in done.stdout
    _wait(lambda: _view(server, tenant.space)["delivered"] == 1)
    paused = run_cli("webhooks", "pause", made["id"], "--space", tenant.space, *db)
    assert "paused" in paused.stdout
    assert _view(server, tenant.space)["state"] == "paused"
    resumed = run_cli("webhooks", "resume", made["id"], "--space", tenant.space, *db)
    assert "enabled" in resumed.stdout
    missing = run_cli("webhooks", "pause", "nope", "--space", tenant.space, *db)
    assert missing.returncode == 1
    assert "no webhook" in missing.stderr


def _delivered_profiles(r: Receiver) -> set[str]:
    return {e["payload"]["id"] for e in r.envelopes()}


def _view(server: ServerProcess, space: str) -> dict[str, object]:
    listed = cli_json("webhooks", "list", "--space", space, database_url=server.database_url)
    view: dict[str, object] = listed[0]
    return view


def _wait(condition: object, timeout: float = 20) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():  # type: ignore[operator]
            return
        time.sleep(0.2)
    raise AssertionError("condition not met in time")
