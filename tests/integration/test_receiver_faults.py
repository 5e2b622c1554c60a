"""A receiver that flaps for a while (timeouts, 500s, dropped connections, slow bodies, 429 with
Retry-After), then recovers: every revision arrives, in order per profile, and the attempt log
says exactly what happened to each request."""

from __future__ import annotations

import itertools
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest

from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.receiver import Answer, Received, Receiver, receiver
from tests.support.server import LiveServer, live_server

TIMEOUT = 1  # SYNCLINE_WEBHOOK_TIMEOUT_SECONDS here
FAULTS: list[tuple[str, Answer]] = [
    ("timeout", Answer(delay=TIMEOUT + 0.5)),
    ("500", Answer(status=500, body="boom")),
    ("reset", Answer(reset=True)),
    ("slow body", Answer(slow_body=TIMEOUT + 0.5)),
    ("429", Answer(status=429, headers={"Retry-After": "1"})),
    ("503", Answer(status=503)),
]
FLAPPING = 24  # requests answered with a fault before the receiver recovers
PROFILES, REVISIONS = 4, 4


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("faults") as url,
        live_server(
            url,
            webhooks_allow_private=True,
            webhook_retry_scale=0.001,
            webhook_timeout_seconds=TIMEOUT,
        ) as live,
    ):
        yield live


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


class Flapper:
    """Faults in turn for the first FLAPPING requests, then 200; remembers what it answered."""

    def __init__(self) -> None:
        self.answered: dict[str, list[str]] = defaultdict(list)  # webhook-id -> outcomes
        self._lock = threading.Lock()
        self._faults = itertools.cycle(FAULTS)

    def __call__(self, request: Received, n: int) -> Answer:
        with self._lock:
            name, answer = next(self._faults) if n <= FLAPPING else ("200", Answer())
            self.answered[request.headers["webhook-id"]].append(name)
        return answer


EXPECTED_STATUS: dict[str, Any] = {
    "timeout": None,
    "500": 500,
    "reset": None,
    "slow body": 200,  # a 2xx status is the acknowledgement; the body is only logged
    "429": 429,
    "503": 503,
    "200": 200,
}


def test_a_flapping_receiver_gets_everything_in_order(server: LiveServer, hook: Receiver) -> None:
    tenant = server.new_tenant()
    flapper = Flapper()
    hook.answer(flapper)
    base = f"/apispaces/{tenant.space}/webhooks"
    with server.api_client(tenant) as api, server.collect_client(tenant) as collect:
        made = api.post(base, json={"url": hook.url, "ordering": "profile"})
        assert made.status_code == 201
        hook_id = made.json()["id"]
        start = now_ms() - 60_000
        for r in range(REVISIONS):
            events = [
                {
                    "type": "user_created" if r == 0 else "user_updated",
                    "event_id": f"flap-{p}-{r}",
                    "timestamp": start + r,
                    "payload": {"user_id": f"flap-{p}", "first_name": f"v{r}"},
                }
                for p in range(PROFILES)
            ]
            assert collect.post("/v2/collect", json={"events": events}).status_code == 200

        def first_arrivals() -> dict[str, list[int]]:
            seen: set[tuple[str, int]] = set()
            out: dict[str, list[int]] = defaultdict(list)
            for e in hook.envelopes():
                key = (e["payload"]["id"], e["revision"])
                if key not in seen:
                    seen.add(key)
                    out[key[0]].append(key[1])
            return out

        hook.wait_for(
            lambda r: sum(len(v) for v in first_arrivals().values()) == PROFILES * REVISIONS,
            timeout=60,
        )
        arrivals = first_arrivals()
        assert dict(arrivals) == {f"flap-{p}": list(range(REVISIONS)) for p in range(PROFILES)}

        # the attempt log: one attempt per request the receiver saw, with what it was answered
        deadline = time.monotonic() + 15
        while True:
            attempts = api.get(f"{base}/{hook_id}/attempts", params={"limit": 1000}).json()
            if len(attempts["items"]) >= len(hook.received) or time.monotonic() > deadline:
                break
            time.sleep(0.05)
    assert len(attempts["items"]) == len(hook.received)
    logged: dict[str, list[Any]] = defaultdict(list)
    for attempt in reversed(attempts["items"]):  # oldest first
        logged[attempt["messageId"]].append(attempt["status"])
    expected = {
        message: [EXPECTED_STATUS[name] for name in names]
        for message, names in flapper.answered.items()
    }
    assert dict(logged) == expected
    flapped = sum(1 for names in flapper.answered.values() for n in names if n != "200")
    assert flapped == FLAPPING
    ok = [a for a in attempts["items"] if a["status"] == 200]
    assert all(a["outcome"] == "delivered" for a in ok)
    assert all(a["error"] for a in attempts["items"] if a["status"] is None)
