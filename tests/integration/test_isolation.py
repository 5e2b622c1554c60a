"""Every operation of the OpenAPI document, tried with no credentials, wrong ones, another API
space's and revoked ones: none gets in, none reads or changes the space's data, and no answer
carries a secret."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from syncline.http.routes.docs import OPERATIONS
from syncline.services import spaces
from tests.support.databases import Databases
from tests.support.server import LiveServer, Tenant, live_server

MARK = "isolation-marker-7f3a"  # a value only the victim's data holds


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("isolation") as url,
        live_server(url, webhooks_allow_private=True, webhook_retry_scale=0.001) as live,
    ):
        yield live


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def seed(server: LiveServer, tenant: Tenant) -> dict[str, str]:
    """A profile, a thing, a rejected event and a webhook in the tenant's space."""
    now = now_ms()
    events = [
        {
            "type": "user_created",
            "event_id": f"iso-{tenant.space}-1",
            "timestamp": now - 5000,
            "payload": {"user_id": "u-iso", "first_name": MARK, "email": "iso@example.com"},
        },
        {
            "type": "thing_created",
            "event_id": f"iso-{tenant.space}-2",
            "timestamp": now - 5000,
            "payload": {"thing_id": "t-iso", "model": MARK},
        },
        {
            "type": "user_thing_associated",
            "event_id": f"iso-{tenant.space}-3",
            "timestamp": now - 5000,
            "payload": {"user_id": "u-iso", "thing_id": "t-iso"},
        },
        {"type": "user_created", "event_id": "iso-bad", "timestamp": now, "payload": {}},
    ]
    with server.collect_client(tenant) as client:
        assert client.post("/v2/collect", json={"events": events}).status_code == 200
    with server.api_client(tenant) as api:
        made = api.post(
            f"/apispaces/{tenant.space}/webhooks", json={"url": "http://127.0.0.1:9/" + MARK}
        )
        assert made.status_code == 201, made.text
    return {
        "space": tenant.space,
        "profile_id": "u-iso",
        "user_id": "u-iso",
        "thing_id": "t-iso",
        "webhook_id": made.json()["id"],
    }


BODIES: dict[str, Any] = {
    "/v2/collect": {
        "events": [
            {
                "type": "user_updated",
                "event_id": "iso-intruder",
                "timestamp": 1,
                "payload": {"user_id": "u-iso", "first_name": "Mallory"},
            }
        ]
    },
    "/v2/api/report/user_copilot_analysis_consent_changed": {
        "user_id": "u-iso",
        "consent_value": False,
    },
    "/apispaces/{space}/profiles/{profile_id}": {"firstName": "Mallory"},
    "/apispaces/{space}/webhooks": {"url": "http://127.0.0.1:9/mallory"},
    "/apispaces/{space}/webhooks/{webhook_id}": {"url": "http://127.0.0.1:9/mallory"},
}
BODIES["/collect"] = BODIES["/v2/collect"]


def calls(ids: dict[str, str]) -> list[tuple[str, str, str, Any]]:
    """(method, concrete path, auth kind, body) for every documented operation."""
    out = []
    for method, path, _tag, _summary, body, _answer, auth in OPERATIONS:
        if not auth:
            continue
        concrete = path.format(**ids)
        sent = BODIES.get(path, {}) if body is not None else None
        out.append((method.upper(), concrete, auth, sent))
    return out


def snapshot(server: LiveServer, tenant: Tenant, ids: dict[str, str]) -> list[Any]:
    with server.api_client(tenant) as api:
        base = f"/apispaces/{ids['space']}"
        return [
            api.get(f"{base}/profiles/u-iso").json(),
            api.get(f"{base}/things/t-iso").json(),
            api.get(f"{base}/webhooks").json(),
            api.get(f"{base}/rejected").json(),
            api.get(f"{base}/sync").json(),
            api.get(f"{base}/events").json(),
        ]


def leaks(answer: httpx.Response, victim: Tenant) -> list[str]:
    text = answer.text
    secrets = (victim.client_secret, victim.api_token.split(".")[2], MARK, "u-iso", "t-iso")
    return [s for s in secrets if s in text]


def test_no_operation_lets_a_stranger_in(server: LiveServer) -> None:
    victim, intruder = server.new_tenant(), server.new_tenant(account=2)
    ids = seed(server, victim)
    seed(server, intruder)
    before = snapshot(server, victim, ids)
    prefix, credential, _ = victim.api_token.split(".")
    strangers: dict[str, dict[str, str]] = {
        "no credentials": {},
        "garbage": bearer("garbage"),
        "wrong secret": bearer(f"{prefix}.{credential}.wrong"),
        "basic with the token": basic(victim.client_id, victim.api_token),
        "wrong collect secret": basic(victim.client_id, "wrong"),
        "collect secret as a token": bearer(victim.client_secret),
    }
    tried = 0
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, auth, body in calls(ids):
            for label, headers in strangers.items():
                answer = client.request(method, path, json=body, headers=headers)
                tried += 1
                assert answer.status_code == 401, (label, method, path, answer.text)
                assert answer.json()["reason"] == "AUTH.UNAUTHORIZED"
                assert leaks(answer, victim) == [], (label, method, path)
            if auth == "bearer":  # another space's valid token: as if nothing were there
                answer = client.request(method, path, json=body, headers=bearer(intruder.api_token))
                tried += 1
                assert answer.status_code == 404, (method, path, answer.text)
                assert leaks(answer, victim) == [], (method, path)
    assert snapshot(server, victim, ids) == before
    assert tried > 150
    print(f"isolation: {tried} refused requests over {len(calls(ids))} operations")


def test_revoked_credentials_are_refused_everywhere(server: LiveServer, tmp_path: Path) -> None:
    victim = server.new_tenant(account=3)
    ids = seed(server, victim)
    with server.storage.unit_of_work() as uow:
        reader = server.storage.reader()
        fresh = spaces.rotate(uow, reader, victim.space, spaces.API_TOKEN, now_ms())
        spaces.rotate(uow, reader, victim.space, spaces.COLLECT, now_ms())
    old = {
        "bearer": bearer(victim.api_token),
        "basic": basic(victim.client_id, victim.client_secret),
    }
    with httpx.Client(base_url=server.url, timeout=30) as client:
        for method, path, auth, body in calls(ids):
            answer = client.request(method, path, json=body, headers=old[auth])
            assert answer.status_code == 401, (method, path, answer.text)
            assert leaks(answer, victim) == [], (method, path)
        still = client.get(
            f"/apispaces/{victim.space}/profiles/u-iso", headers=bearer(fresh["apiToken"])
        )
        assert still.status_code == 200
        assert still.json()["firstName"] == MARK
