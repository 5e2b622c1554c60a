"""`syncline worker` processes beside `syncline serve`: four deliver one webhook, one is
killed with SIGKILL mid-delivery, and every revision still arrives, in order per profile, and
none twice except what the killed worker held unacknowledged. On SQLite and on PostgreSQL
(where claims are `FOR UPDATE SKIP LOCKED`)."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.process import ServerProcess, clean_env, create_space
from tests.support.receiver import Answer, Receiver, receiver

pytestmark = [pytest.mark.timeout(120)]

PROFILES, REVISIONS, WORKERS = 20, 5, 4
SETTINGS = {
    "SYNCLINE_DELIVERY_WORKER": "false",
    "SYNCLINE_WEBHOOKS_ALLOW_PRIVATE": "true",
    "SYNCLINE_WEBHOOK_RETRY_SCALE": "0.001",
    "SYNCLINE_WEBHOOK_TIMEOUT_SECONDS": "2",
    "SYNCLINE_WEBHOOK_LEASE_SECONDS": "3",
}


def first_arrivals(hook: Receiver) -> dict[str, list[int]]:
    seen: set[tuple[str, int]] = set()
    out: dict[str, list[int]] = defaultdict(list)
    for envelope in hook.envelopes():
        key = (envelope["payload"]["id"], envelope["revision"])
        if key not in seen:
            seen.add(key)
            out[key[0]].append(key[1])
    return out


def test_workers_share_deliveries_and_survive_a_kill(databases: Databases, tmp_path: Path) -> None:
    with databases.fresh("workers") as url:
        run_workers(url, tmp_path)


def run_workers(url: str, tmp_path: Path) -> None:
    server = ServerProcess(tmp_path / "workers.db", extra_env=SETTINGS, url_of_database=url)
    tenant = create_space(server.database_url, cwd=tmp_path)
    server.start()
    env = clean_env(SYNCLINE_DATABASE_URL=server.database_url, **SETTINGS)
    workers = [
        subprocess.Popen(
            [sys.executable, "-m", "syncline", "worker"],
            env=env,
            cwd=tmp_path,
            stdout=subprocess.DEVNULL,
            stderr=(tmp_path / f"worker-{n}.log").open("wb"),
        )
        for n in range(WORKERS)
    ]
    try:
        with receiver() as hook:
            hook.answer(lambda request, n: Answer(delay=0.02))
            with server.api_client(tenant) as api, server.collect_client(tenant) as collect:
                made = api.post(f"/apispaces/{tenant.space}/webhooks", json={"url": hook.url})
                assert made.status_code == 201, made.text
                start = now_ms() - 60_000
                for r in range(REVISIONS):
                    events = [
                        {
                            "type": "user_created" if r == 0 else "user_updated",
                            "event_id": f"w-{p}-{r}",
                            "timestamp": start + r,
                            "payload": {"user_id": f"w-{p}", "first_name": f"v{r}"},
                        }
                        for p in range(PROFILES)
                    ]
                    assert collect.post("/v2/collect", json={"events": events}).status_code == 200
                    if r == 1:  # deliveries are under way: one worker dies holding claims
                        hook.wait_for(lambda h: len(h.received) >= 5)
                        workers[0].send_signal(signal.SIGKILL)
                        workers[0].wait(10)
            hook.wait_for(
                lambda h: sum(map(len, first_arrivals(h).values())) == PROFILES * REVISIONS,
                timeout=60,
            )
            arrivals = first_arrivals(hook)
            assert dict(arrivals) == {f"w-{p}": list(range(REVISIONS)) for p in range(PROFILES)}
            time.sleep(0.5)  # nothing more should come
            redelivered = len(hook.envelopes()) - PROFILES * REVISIONS
            assert 0 <= redelivered <= 2 * 64  # only what the killed worker held, at most
        for w in workers[1:]:
            w.send_signal(signal.SIGTERM)
            assert w.wait(20) in (0, -signal.SIGTERM)
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
        server.kill()
    assert "syncline worker stopped" in (tmp_path / "worker-1.log").read_text()
