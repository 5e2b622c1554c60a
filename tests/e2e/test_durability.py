"""Durability of `syncline serve` as a real process (DESIGN.md sections 2 and 8).

A 200 means durable: SIGKILL the server while batches are in flight, restart it on the same
SQLite file (default `SYNCLINE_SQLITE_SYNCHRONOUS=FULL`), and every acknowledged event is in
the event log exactly once; requests that got no answer committed completely or not at all,
and resending them is safe (duplicates or accepted, never `event_id.reused`).

Group commit: concurrent requests share transactions (`syncline_group_commit_requests`).
"""

from __future__ import annotations

import sqlite3
import threading
import time
import uuid
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from prometheus_client.parser import text_string_to_metric_families

from syncline.clock import now_ms
from tests.support.process import ServerProcess, create_space
from tests.support.server import Tenant

pytestmark = [pytest.mark.slow, pytest.mark.timeout(120)]

THREADS = 4
BATCH = 50
WAIT = 30.0  # seconds: the bound of every wait in this file


def event_log(database_url: str, space: str) -> Counter[str]:
    """event_id -> number of rows in the event log, read straight from the database."""
    query = (
        "SELECT event_id FROM events "
        "WHERE space_key = (SELECT space_key FROM api_spaces WHERE api_space_id = ?)"
    )
    if database_url.startswith("sqlite:///"):
        path = database_url.removeprefix("sqlite:///")
        conn = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10)
        try:
            rows = conn.execute(query, (space,)).fetchall()
        finally:
            conn.close()
    else:
        with psycopg.connect(database_url) as pg:
            rows = pg.execute(query.replace("?", "%s"), (space,)).fetchall()
    return Counter(r[0] for r in rows)


def make_batch(worker: int, n: int) -> dict[str, Any]:
    ts = now_ms() - 5_000
    events = []
    for k in range(BATCH):
        events.append(
            {
                "type": "user_updated",
                "event_id": f"w{worker}-b{n}-e{k}-{uuid.uuid4().hex[:8]}",
                "timestamp": ts + k,
                "payload": {
                    "user_id": f"dur-{worker}-{k % 10}",
                    "custom_properties": {"batch": n, "k": k},
                },
            }
        )
    return {"events": events}


def ids_of(batch: dict[str, Any]) -> list[str]:
    return [e["event_id"] for e in batch["events"]]


@dataclass
class Load:
    """Batches sent by worker threads, and what became of them."""

    server: ServerProcess
    tenant: Tenant
    killed: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)
    in_flight: int = 0
    acked: list[dict[str, Any]] = field(default_factory=list)
    failed: list[dict[str, Any]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)

    def worker(self, number: int) -> None:
        with self.server.collect_client(self.tenant, timeout=WAIT) as client:
            # Each worker sends until a request gets no answer (the kill ends it; bounded anyway).
            for n in range(10_000):
                batch = make_batch(number, n)
                with self.lock:
                    self.in_flight += 1
                try:
                    answer = client.post("/v2/collect", json=batch)
                except httpx.HTTPError as exc:
                    with self.lock:
                        self.failed.append(batch)
                        if not self.killed.is_set():
                            self.problems.append(f"worker {number}: {exc!r} before the kill")
                    return
                finally:
                    with self.lock:
                        self.in_flight -= 1
                with self.lock:
                    if answer.status_code != 200:
                        self.failed.append(batch)
                        if not self.killed.is_set():
                            self.problems.append(f"worker {number}: HTTP {answer.status_code}")
                        return
                    body = answer.json()
                    if body != {"invalid_events": [], "accepted": BATCH, "duplicates": 0}:
                        self.problems.append(f"worker {number}: unexpected answer {body}")
                    self.acked.append(batch)

    def acked_count(self) -> int:
        with self.lock:
            return len(self.acked)


@pytest.fixture
def db_path(tmp_path: Path) -> Path:
    return tmp_path / "durable.db"


@pytest.fixture
def syncline(db_path: Path, database_url: str) -> Iterator[ServerProcess]:
    """A real `syncline serve` process, killed for good at the end whatever happened."""
    proc = ServerProcess(db_path, url_of_database=database_url)
    try:
        yield proc
    finally:
        proc.stop()


def test_sigkill_loses_no_acknowledged_event(syncline: ServerProcess, db_path: Path) -> None:
    server = syncline
    tenant = create_space(server.database_url, account=3, cwd=db_path.parent)
    server.start()

    load = Load(server, tenant)
    threads = [threading.Thread(target=load.worker, args=(i,), daemon=True) for i in range(THREADS)]
    for t in threads:
        t.start()
    try:
        # Let a good number of batches be acknowledged, then kill while requests are in flight.
        deadline = time.monotonic() + WAIT
        while load.acked_count() < 6 * THREADS and time.monotonic() < deadline:
            time.sleep(0.01)
        assert load.acked_count() >= 6 * THREADS, f"too few acknowledged: {load.problems}"
        while time.monotonic() < deadline:
            with load.lock:
                if load.in_flight > 0:
                    load.killed.set()
                    server.kill()
                    break
            time.sleep(0.001)
        assert load.killed.is_set(), "never saw a request in flight"
    finally:
        load.killed.set()
        server.kill()
        for t in threads:
            t.join(timeout=WAIT)
    assert not any(t.is_alive() for t in threads), "a worker thread did not finish"
    assert load.problems == []
    # Every worker ends on a request that got no answer: the one in flight, or the next.
    assert len(load.failed) == THREADS
    acked_ids = [i for batch in load.acked for i in ids_of(batch)]
    assert len(acked_ids) == len(set(acked_ids))

    # Straight after the kill, before any recovery by syncline: acknowledged means on disk.
    on_disk = event_log(server.database_url, tenant.space)
    missing = [i for i in acked_ids if on_disk[i] != 1]
    assert missing == [], f"{len(missing)} acknowledged events lost or doubled"

    server.start()
    log = event_log(server.database_url, tenant.space)
    assert [i for i in acked_ids if log[i] != 1] == []
    failed_ids = {i for batch in load.failed for i in ids_of(batch)}
    assert set(log) <= set(acked_ids) | failed_ids, "events nobody sent are in the log"
    assert max(log.values()) == 1

    with server.collect_client(tenant) as client:
        # An unanswered request committed completely or not at all; resending it is safe.
        for batch in load.failed:
            stored = [log[i] for i in ids_of(batch)]
            assert stored in ([0] * BATCH, [1] * BATCH), "a request was half-written"
            answer = client.post("/v2/collect", json=batch)
            assert answer.status_code == 200
            body = answer.json()
            assert body["invalid_events"] == []
            if stored[0]:
                assert (body["accepted"], body["duplicates"]) == (0, BATCH)
            else:
                assert (body["accepted"], body["duplicates"]) == (BATCH, 0)
        # An acknowledged batch sent again is a duplicate, not a second copy.
        again = client.post("/v2/collect", json=load.acked[0])
        assert again.json() == {"invalid_events": [], "accepted": 0, "duplicates": BATCH}
        # Reuse detection survived the restart too: same event_id, other content.
        reused = dict(load.acked[-1]["events"][0])
        reused["payload"] = {"user_id": "someone-else"}
        answer = client.post("/v2/collect", json={"events": [reused]})
        [invalid] = answer.json()["invalid_events"]
        assert invalid["code"] == "event_id.reused"

    final = event_log(server.database_url, tenant.space)
    expected = set(acked_ids) | failed_ids
    assert set(final) == expected
    assert all(n == 1 for n in final.values())
    assert sum(final.values()) == len(expected) == (len(load.acked) + THREADS) * BATCH

    # The state behind the log came back too.
    with server.api_client(tenant) as api:
        user = api.get(f"/apispaces/{tenant.space}/users/dur-0-0")
        assert user.status_code == 200
        assert "batch" in user.json()["custom_properties"]


def metric(text: str, name: str) -> dict[str, float]:
    """The samples of one metric family in a Prometheus exposition, by sample name + le."""
    for family in text_string_to_metric_families(text):
        if family.name == name:
            return {
                s.name + (f"[{s.labels['le']}]" if "le" in s.labels else ""): s.value
                for s in family.samples
            }
    raise AssertionError(f"no metric {name} in /metrics")


def test_group_commit_merges_concurrent_requests(syncline: ServerProcess, db_path: Path) -> None:
    server = syncline
    # Only requests use the writer here: the webhook worker (whose claims are writer jobs too)
    # has nothing to do in this test, so it is left off.
    server.extra_env["SYNCLINE_DELIVERY_WORKER"] = "false"
    tenant = create_space(server.database_url, account=4, cwd=db_path.parent)
    server.start()
    requests, per_request = 32, 10
    barrier = threading.Barrier(requests, timeout=WAIT)
    answers: list[tuple[int, Any]] = []
    sent: list[str] = []
    lock = threading.Lock()

    def send(number: int) -> None:
        ts = now_ms() - 1_000
        events = [
            {
                "type": "thing_connected",
                "event_id": f"gc-{number}-{k}",
                "timestamp": ts + k,
                "payload": {"thing_id": f"gc-thing-{number}"},
            }
            for k in range(per_request)
        ]
        with server.collect_client(tenant, timeout=WAIT) as client:
            client.get("/healthz")  # open the connection first: only the POSTs race
            barrier.wait()
            answer = client.post("/v2/collect", json={"events": events})
        with lock:
            answers.append((answer.status_code, answer.json()))
            sent.extend(str(e["event_id"]) for e in events)

    threads = [threading.Thread(target=send, args=(i,), daemon=True) for i in range(requests)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=WAIT)
    assert not any(t.is_alive() for t in threads)
    assert len(answers) == requests
    assert all(
        status == 200 and body == {"invalid_events": [], "accepted": per_request, "duplicates": 0}
        for status, body in answers
    ), answers

    text = httpx.get(f"{server.url}/metrics", timeout=WAIT).text
    commits = metric(text, "syncline_group_commit_requests")
    transactions = commits["syncline_group_commit_requests_count"]
    merged = commits["syncline_group_commit_requests_sum"]
    assert merged == requests, "every request is one job of the writer"
    assert transactions < requests, "no transaction held more than one request"
    assert commits["syncline_group_commit_requests_bucket[1.0]"] < transactions

    log = event_log(server.database_url, tenant.space)
    assert set(log) == set(sent)
    assert sum(log.values()) == requests * per_request
