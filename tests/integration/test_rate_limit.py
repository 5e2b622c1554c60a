"""SYNCLINE_RATE_LIMIT: each credential gets its own bucket; over it, 429 with Retry-After and
nothing written. (Refilling is tested on a clock in tests/unit/test_ratelimit.py.)"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("ratelimit") as url,
        live_server(url, rate_limit=0.1, rate_limit_burst=2) as live,
    ):
        yield live


def body(event_id: str) -> dict[str, object]:
    payload = {"user_id": event_id}
    event = {
        "type": "user_created",
        "event_id": event_id,
        "timestamp": now_ms(),
        "payload": payload,
    }
    return {"events": [event]}


def test_collect_over_the_rate_is_429_and_writes_nothing(server: LiveServer) -> None:
    tenant, other = server.new_tenant(), server.new_tenant(account=2)
    with server.collect_client(tenant) as client, server.api_client(tenant) as api:
        answers = [client.post("/v2/collect", json=body(f"rl-{i}")) for i in range(3)]
        assert [a.status_code for a in answers[:2]] == [200, 200]
        refused = answers[2]
        assert refused.status_code == 429
        assert refused.json()["reason"] == "COMMON.TOO_MANY_REQUESTS"
        assert refused.headers["retry-after"] == "10"  # one request per 10 s
        with server.collect_client(other) as neighbour:  # its own bucket
            assert neighbour.post("/v2/collect", json=body("rl-other")).status_code == 200
        events = api.get(f"/apispaces/{tenant.space}/events").json()["items"]
        assert sorted(e["event_id"] for e in events) == ["rl-0", "rl-1"]


def test_api_token_over_the_rate_is_429(server: LiveServer) -> None:
    tenant = server.new_tenant()
    with server.api_client(tenant) as api:
        path = f"/apispaces/{tenant.space}/sync"
        statuses = [api.get(path).status_code for _ in range(3)]
        assert statuses == [200, 200, 429]
