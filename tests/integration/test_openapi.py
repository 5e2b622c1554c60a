"""The OpenAPI document says what the server does: every route is in it, and the answers of the
Webhooks API have exactly the documented fields and types."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import msgspec
import pytest
from starlette.routing import Route

from syncline.clock import now_ms
from syncline.http.routes import admin, collect, docs, health, profiles, webhooks
from syncline.schemas import webhooks_docs as wd
from tests.support.databases import Databases
from tests.support.receiver import Answer, Receiver, receiver
from tests.support.server import LiveServer, live_server


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("openapi") as url,
        live_server(url, webhooks_allow_private=True, webhook_retry_scale=0.001) as live,
    ):
        yield live


def test_every_route_is_documented(server: LiveServer) -> None:
    with server.api_client() as api:
        spec = api.get("/openapi.json").json()
    served = {
        (method.lower(), route.path)
        for module in (collect, profiles, webhooks, admin, health)
        for route in module.routes
        if isinstance(route, Route)
        for method in route.methods or ()
        if method != "HEAD"
    }
    documented = {(m, p) for p, ops in spec["paths"].items() for m in ops}
    assert served - documented == set()
    assert documented - served == set()
    assert {r.path for r in docs.routes} == {"/openapi.json", "/docs"}


def exactly(kind: type[msgspec.Struct], value: dict[str, Any]) -> None:
    """`value` decodes as `kind` and has no field `kind` does not name."""
    msgspec.convert(value, kind)
    names = {f.encode_name for f in msgspec.structs.fields(kind)}
    assert set(value) <= names, set(value) - names


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def test_webhook_answers_match_their_schemas(server: LiveServer, hook: Receiver) -> None:
    tenant = server.new_tenant()
    hook.answer(lambda request, n: Answer(status=400, body="no"))
    base = f"/apispaces/{tenant.space}/webhooks"
    with server.api_client(tenant) as api, server.collect_client(tenant) as collect_api:
        made = api.post(base, json={"url": hook.url, "batch": {"maxEvents": 2}})
        assert made.status_code == 201
        exactly(wd.Webhook, made.json())
        assert "secret" in made.json()
        hook_id = made.json()["id"]
        event = {
            "type": "user_created",
            "event_id": f"spec-{now_ms()}",
            "timestamp": now_ms() - 1000,
            "payload": {"user_id": "spec-1", "email": "spec@example.com"},
        }
        assert collect_api.post("/v2/collect", json={"events": [event]}).status_code == 200
        deadline = time.monotonic() + 15
        while not api.get(f"{base}/{hook_id}/deadletters").json()["items"]:
            assert time.monotonic() < deadline, "the 400 was not dead-lettered"
            time.sleep(0.02)

        for item in api.get(base).json():
            exactly(wd.Webhook, item)
        for path in ("", "/pause", "/resume"):
            call = api.get if not path else api.post
            answer = call(f"{base}/{hook_id}{path}")
            assert answer.status_code == 200, (path, answer.text)
            exactly(wd.Webhook, answer.json())
            assert "secret" not in answer.json()
        for item in api.get(f"{base}/availableevents").json():
            exactly(wd.AvailableEvent, item)

        attempts = api.get(f"{base}/{hook_id}/attempts").json()
        exactly(wd.Attempts, attempts)
        assert [a["status"] for a in attempts["items"]] == [400]
        for item in attempts["items"]:
            exactly(wd.Attempt, item)
        dead = api.get(f"{base}/{hook_id}/deadletters").json()
        exactly(wd.DeadLetters, dead)
        assert [d["profileId"] for d in dead["items"]] == ["spec-1"]
        for item in dead["items"]:
            exactly(wd.DeadLetter, item)
        replayed = api.post(f"{base}/{hook_id}/deadletters/replay", json={})
        exactly(wd.Replayed, replayed.json())
        assert replayed.json()["replayed"] == 1
