"""Profile webhooks against real receivers on 127.0.0.1: envelopes, signatures, retries,
dead letters, ordering, isolation between endpoints, batching, pause and rotation.

Retry waits run on a scaled clock (SYNCLINE_WEBHOOK_RETRY_SCALE=0.001: 5 s become 5 ms).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import itertools
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from syncline.schemas.canonical import etag
from tests.support.databases import Databases
from tests.support.receiver import Answer, Received, Receiver, receiver
from tests.support.server import LiveServer, Tenant, live_server

_ts = itertools.count()


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("webhooks") as url,
        live_server(
            url,
            webhooks_allow_private=True,
            webhook_retry_scale=0.001,
            webhook_timeout_seconds=2,
        ) as live,
    ):
        yield live


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    return server.new_tenant()


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def event(kind: str, payload: dict[str, Any]) -> dict[str, Any]:
    return {
        "type": kind,
        "event_id": f"wh-{time.time_ns()}-{next(_ts)}",
        "timestamp": now_ms() - 60_000 + next(_ts),
        "payload": payload,
    }


def collect(server: LiveServer, tenant: Tenant, *events: dict[str, Any]) -> None:
    with server.collect_client(tenant) as client:
        answer = client.post("/v2/collect", json={"events": list(events)})
    assert answer.status_code == 200, answer.text
    assert answer.json()["invalid_events"] == [], answer.text


def api(server: LiveServer, tenant: Tenant) -> httpx.Client:
    return server.api_client(tenant)


def subscribe(server: LiveServer, tenant: Tenant, url: str, **spec: Any) -> dict[str, Any]:
    with api(server, tenant) as client:
        answer = client.post(f"/apispaces/{tenant.space}/webhooks", json={"url": url, **spec})
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def comapi_ok(r: Received, secret: str) -> bool:
    expected = hmac.new(secret.encode(), r.body, hashlib.sha1).hexdigest()
    return hmac.compare_digest(r.headers["X-Comapi-Signature"], expected)


def standard_ok(r: Received, secret: str) -> bool:
    key = secret.encode()
    if secret.startswith("whsec_"):
        key = base64.b64decode(secret.removeprefix("whsec_"))
    signed = f"{r.headers['webhook-id']}.{r.headers['webhook-timestamp']}.".encode() + r.body
    expected = "v1," + base64.b64encode(hmac.new(key, signed, hashlib.sha256).digest()).decode()
    return expected in r.headers["webhook-signature"].split(" ")


# the seed sequence -------------------------------------------------------------------------
def test_create_update_delete_undelete_arrive_as_revisions_0_to_3(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    made = subscribe(server, tenant, hook.url, secret="s3cret-s3cret-s3cret")
    collect(server, tenant, event("user_created", {"user_id": "joe", "email": "joe@x.io"}))
    collect(server, tenant, event("user_updated", {"user_id": "joe", "first_name": "Joe"}))
    with api(server, tenant) as client:
        assert client.delete(f"/apispaces/{tenant.space}/profiles/joe").status_code == 204
        assert client.post(f"/apispaces/{tenant.space}/profiles/joe/undelete").status_code == 200
    hook.wait_for(lambda r: len(r.received) >= 4)
    envelopes = hook.envelopes()
    assert [(e["name"], e["revision"]) for e in envelopes] == [
        ("profile.create", 0),
        ("profile.update", 1),
        ("profile.delete", 2),
        ("profile.undelete", 3),
    ]
    for e in envelopes:
        assert set(e) == {
            "eventId",
            "accountId",
            "apiSpaceId",
            "name",
            "payload",
            "revision",
            "etag",
            "timestamp",
        }
        assert e["apiSpaceId"] == tenant.space
        assert e["accountId"] == 1
        assert e["timestamp"].endswith("Z")
    create, update, delete, undelete = envelopes
    assert create["payload"]["email"] == "joe@x.io"
    assert update["payload"]["firstName"] == "Joe"
    doc = {k: v for k, v in update["payload"].items() if not k.startswith("_")}
    assert update["etag"] == etag(doc)
    assert set(delete["payload"]) == {"date", "by", "id"}
    assert delete["payload"]["by"].startswith("access:")
    assert undelete["payload"] == {"id": "joe"}
    # every request signed both ways; the id is the event's
    for r in hook.received:
        assert comapi_ok(r, "s3cret-s3cret-s3cret")
        assert standard_ok(r, "s3cret-s3cret-s3cret")
        assert r.headers["webhook-id"] == r.json["eventId"]
    assert made["secret"] == "s3cret-s3cret-s3cret"


def test_generated_secret_is_shown_once_and_signs(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    made = subscribe(server, tenant, hook.url)
    secret = made["secret"]
    assert len(secret) >= 16
    with api(server, tenant) as client:
        listed = client.get(f"/apispaces/{tenant.space}/webhooks").json()
        shown = client.get(f"/apispaces/{tenant.space}/webhooks/{made['id']}").json()
    assert "secret" not in listed[0]
    assert "secret" not in shown
    collect(server, tenant, event("user_created", {"user_id": "gen"}))
    hook.wait_for(lambda r: len(r.received) >= 1)
    assert comapi_ok(hook.received[0], secret)
    assert standard_ok(hook.received[0], secret)


# failures ----------------------------------------------------------------------------------
def test_a_500_is_retried_with_the_same_id_until_it_succeeds(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    hook.answer(lambda r, n: Answer(500 if n <= 3 else 200))
    made = subscribe(server, tenant, hook.url)
    collect(server, tenant, event("user_created", {"user_id": "retry"}))
    hook.wait_for(lambda r: len(r.received) >= 4)
    ids = {r.headers["webhook-id"] for r in hook.received}
    assert len(ids) == 1
    space, wid = tenant.space, made["id"]
    with api(server, tenant) as client:
        wait_until(
            lambda: (
                [
                    a["outcome"]
                    for a in client.get(f"/apispaces/{space}/webhooks/{wid}/attempts").json()[
                        "items"
                    ]
                ]
                == ["delivered", "retry", "retry", "retry"]
            )
        )
        view = client.get(f"/apispaces/{space}/webhooks/{wid}").json()
    assert view["delivered"] == 1
    assert view["backlog"] == 0
    assert view["state"] == "enabled"


def test_a_400_is_dead_lettered_at_once_and_can_be_replayed(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    hook.answer(lambda r, n: Answer(400, body="bad payload"))
    made = subscribe(server, tenant, hook.url)
    space, wid = tenant.space, made["id"]
    collect(server, tenant, event("user_created", {"user_id": "dead"}))
    with api(server, tenant) as client:
        wait_until(
            lambda: client.get(f"/apispaces/{space}/webhooks/{wid}").json()["deadLetters"] == 1
        )
        assert len(hook.received) == 1  # never retried
        [dead] = client.get(f"/apispaces/{space}/webhooks/{wid}/deadletters").json()["items"]
        assert dead["profileId"] == "dead"
        assert dead["envelope"]["name"] == "profile.create"
        [attempt] = client.get(f"/apispaces/{space}/webhooks/{wid}/attempts").json()["items"]
        assert (attempt["status"], attempt["response"], attempt["outcome"]) == (
            400,
            "bad payload",
            "dead",
        )
        hook.answer(lambda r, n: Answer(200))
        replayed = client.post(f"/apispaces/{space}/webhooks/{wid}/deadletters/replay", json={})
        assert replayed.json() == {"replayed": 1}
        hook.wait_for(lambda r: len(r.received) == 2)
        assert hook.received[1].headers["webhook-id"] == hook.received[0].headers["webhook-id"]
        wait_until(
            lambda: client.get(f"/apispaces/{space}/webhooks/{wid}").json()["delivered"] == 1
        )


def test_a_410_disables_the_webhook_and_keeps_its_backlog(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    hook.answer(lambda r, n: Answer(410))
    made = subscribe(server, tenant, hook.url)
    space, wid = tenant.space, made["id"]
    collect(server, tenant, event("user_created", {"user_id": "gone"}))
    with api(server, tenant) as client:
        wait_until(
            lambda: client.get(f"/apispaces/{space}/webhooks/{wid}").json()["state"] == "disabled"
        )
        view = client.get(f"/apispaces/{space}/webhooks/{wid}").json()
        assert view["backlog"] == 1
        assert "410" in view["disabledReason"]
        hook.answer(lambda r, n: Answer(200))
        client.post(f"/apispaces/{space}/webhooks/{wid}/resume")
        wait_until(
            lambda: client.get(f"/apispaces/{space}/webhooks/{wid}").json()["delivered"] == 1
        )


def test_retry_after_is_honoured(server: LiveServer, tenant: Tenant, hook: Receiver) -> None:
    hook.answer(lambda r, n: Answer(429, headers={"Retry-After": "1"}) if n == 1 else Answer())
    subscribe(server, tenant, hook.url)
    collect(server, tenant, event("user_created", {"user_id": "slowdown"}))
    hook.wait_for(lambda r: len(r.received) >= 2, timeout=20)
    first, second = hook.received[:2]
    # the scaled schedule would wait 5 ms; Retry-After says a second
    assert second.at - first.at >= 0.9


# ordering and isolation --------------------------------------------------------------------
def test_revisions_of_a_profile_never_overtake_each_other(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    # the first delivery of profile "a" fails until "b" has arrived: a's later revisions must
    # wait, while b (created after all of a's changes) flows past a's retries
    seen = {"b": False, "failures": 0}

    def script(r: Received, n: int) -> Answer:
        e = r.json
        if e["payload"].get("id") == "b":
            seen["b"] = True
        elif e["revision"] == 0 and not seen["b"]:
            seen["failures"] += 1
            return Answer(503)
        return Answer(200)

    hook.answer(script)
    subscribe(server, tenant, hook.url)
    collect(server, tenant, event("user_created", {"user_id": "a"}))
    for n in range(1, 4):
        collect(server, tenant, event("user_updated", {"user_id": "a", "last_name": f"A{n}"}))
    collect(server, tenant, event("user_created", {"user_id": "b"}))
    hook.wait_for(lambda r: any(e["revision"] == 3 for e in r.envelopes()))
    delivered_a = [
        e["revision"] for r in hook.received for e in r.envelopes if e["payload"]["id"] == "a"
    ]
    failures = int(seen["failures"])
    assert failures >= 1
    assert delivered_a == [0] * (failures + 1) + [1, 2, 3]
    first_b = next(i for i, r in enumerate(hook.received) if r.json["payload"]["id"] == "b")
    first_a1 = next(i for i, r in enumerate(hook.received) if r.json["revision"] == 1)
    assert first_b < first_a1  # b was not held up behind a's retries


def test_a_hanging_endpoint_never_delays_another(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    with receiver() as stuck:
        stuck.answer(lambda r, n: Answer(200, delay=5))
        subscribe(server, tenant, stuck.url)
        subscribe(server, tenant, hook.url)
        started = time.monotonic()
        for n in range(20):
            collect(server, tenant, event("user_created", {"user_id": f"iso-{n}"}))
        hook.wait_for(lambda r: len(r.received) >= 20, timeout=30)
        # Sent behind the stuck endpoint's attempts (2 s timeouts each), 20 revisions would take
        # 40 s; this takes about 1 s on a quiet machine, the margin is for a busy one.
        assert time.monotonic() - started < 20


def test_batches_are_json_arrays_of_envelopes(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    subscribe(server, tenant, hook.url, batch={"maxEvents": 5, "timeoutSeconds": 1})
    collect(server, tenant, *[event("user_created", {"user_id": f"b-{n}"}) for n in range(12)])
    hook.wait_for(lambda r: len(r.envelopes()) >= 12, timeout=10)
    sizes = [len(r.json) for r in hook.received]
    assert all(isinstance(r.json, list) for r in hook.received)
    assert sum(sizes) == 12
    assert max(sizes) == 5
    for r in hook.received:
        assert r.headers["webhook-id"].startswith("batch_")


def test_filters_and_preexisting(server: LiveServer, tenant: Tenant, hook: Receiver) -> None:
    subscribe(server, tenant, hook.url, events=["profile.delete"], includePreexisting=False)
    collect(server, tenant, event("preexisting_sync_started", {}))
    collect(
        server,
        tenant,
        event("preexisting_user_created", {"user_id": "old", "original_creation_date": 1}),
    )
    collect(server, tenant, event("user_created", {"user_id": "new"}))
    collect(server, tenant, event("user_deleted", {"user_id": "new"}))
    hook.wait_for(lambda r: len(r.received) >= 1)
    time.sleep(0.3)
    assert [e["name"] for e in hook.envelopes()] == ["profile.delete"]


def test_pause_queues_and_resume_delivers(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    made = subscribe(server, tenant, hook.url)
    space, wid = tenant.space, made["id"]
    with api(server, tenant) as client:
        assert client.post(f"/apispaces/{space}/webhooks/{wid}/pause").json()["state"] == "paused"
        collect(server, tenant, event("user_created", {"user_id": "p1"}))
        time.sleep(0.5)
        assert hook.received == []
        assert client.get(f"/apispaces/{space}/webhooks/{wid}").json()["backlog"] == 1
        client.post(f"/apispaces/{space}/webhooks/{wid}/resume")
    hook.wait_for(lambda r: len(r.received) == 1)


def test_rotation_signs_with_both_secrets_during_the_overlap(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    old = "old-secret-0123456789"
    made = subscribe(server, tenant, hook.url, secret=old)
    with api(server, tenant) as client:
        rotated = client.post(
            f"/apispaces/{tenant.space}/webhooks/{made['id']}/rotate",
            json={"secret": "new-secret-0123456789", "overlapSeconds": 60},
        )
    assert rotated.status_code == 200, rotated.text
    collect(server, tenant, event("user_created", {"user_id": "rot"}))
    hook.wait_for(lambda r: len(r.received) == 1)
    [r] = hook.received
    assert standard_ok(r, old)
    assert standard_ok(r, "new-secret-0123456789")
    assert comapi_ok(r, "new-secret-0123456789")
    expected_previous = hmac.new(old.encode(), r.body, hashlib.sha1).hexdigest()
    assert r.headers["X-Comapi-Signature-Previous"] == expected_previous


def test_a_rejected_write_emits_nothing(server: LiveServer, tenant: Tenant, hook: Receiver) -> None:
    subscribe(server, tenant, hook.url)
    collect(server, tenant, event("user_created", {"user_id": "tx"}))
    hook.wait_for(lambda r: len(r.received) == 1)
    with api(server, tenant) as client:
        stale = client.patch(
            f"/apispaces/{tenant.space}/profiles/tx",
            json={"firstName": "Nope"},
            headers={"If-Match": '"0-stale"'},
        )
    assert stale.status_code == 412
    time.sleep(0.5)
    assert len(hook.received) == 1


# the subscription API ----------------------------------------------------------------------
@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"url": "ftp://x.io/h"}, "url"),
        ({"url": "not a url"}, "url"),
        ({"url": "https://x.io/h", "secret": "short"}, "secret"),
        ({"url": "https://x.io/h", "events": ["profile.nope"]}, "events"),
        ({"url": "https://x.io/h", "events": []}, "events"),
        ({"url": "https://x.io/h", "ordering": "random"}, "ordering"),
        ({"url": "https://x.io/h", "batch": {"maxEvents": 501}}, "maxEvents"),
        ({"url": "https://x.io/h", "batch": {"maxEvents": 5, "timeoutSeconds": 61}}, "timeout"),
        ({"url": "https://x.io/h", "batch": {"maxEvents": 5.5}}, "maxEvents"),
        ({"url": "https://x.io/h", "batch": {"maxEvents": "5"}}, "maxEvents"),
        ({"url": "https://x.io/h", "colour": "red"}, "colour"),
    ],
)
def test_bad_subscriptions_are_400_naming_the_field(
    server: LiveServer, tenant: Tenant, spec: dict[str, Any], field: str
) -> None:
    with api(server, tenant) as client:
        answer = client.post(f"/apispaces/{tenant.space}/webhooks", json=spec)
    assert answer.status_code == 400, answer.text
    assert field in answer.json()["error_message"]


@pytest.mark.parametrize(
    ("spec", "field"),
    [
        ({"since": 18857382236414939913781248}, "since"),  # found by schemathesis: was a 500
        ({"until": -1}, "until"),
        ({"until": 253_402_300_800_000}, "until"),  # after 9999-12-31
        ({"eventIds": ["x" * 129]}, "eventIds"),
        ({"eventIds": [f"e{i}" for i in range(1001)]}, "eventIds"),
    ],
)
def test_bad_replays_are_400_naming_the_field(
    server: LiveServer, tenant: Tenant, spec: dict[str, Any], field: str
) -> None:
    made = subscribe(server, tenant, "https://x.io/h")
    with api(server, tenant) as client:
        url = f"/apispaces/{tenant.space}/webhooks/{made['id']}/deadletters/replay"
        answer = client.post(url, json=spec)
        assert answer.status_code == 400, answer.text
        assert field in answer.json()["error_message"]
        assert client.post(url, json={"until": 253_402_300_799_999}).status_code == 200


def test_a_whole_number_written_with_a_fraction_is_an_integer(
    server: LiveServer, tenant: Tenant
) -> None:
    # JSON has one number type (and JSON Schema's "integer" takes 5.0): only a fraction is bad.
    spec = {"url": "https://x.io/h", "batch": {"maxEvents": 5.0, "timeoutSeconds": 2.0}}
    with api(server, tenant) as client:
        answer = client.post(f"/apispaces/{tenant.space}/webhooks", json=spec)
    assert answer.status_code == 201, answer.text
    assert answer.json()["batch"] == {"maxEvents": 5, "timeoutSeconds": 2}


def test_private_addresses_are_refused_unless_allowed(database_url: str) -> None:
    with live_server(database_url) as strict, strict.api_client() as client:
        for url in (
            "http://127.0.0.1:9/h",
            "http://10.1.2.3/h",
            "http://[::1]/h",
            "http://localhost/h",
            "http://169.254.169.254/latest",
        ):
            answer = client.post(f"/apispaces/{strict.tenant.space}/webhooks", json={"url": url})
            assert answer.status_code == 400, url
            assert "url" in answer.json()["error_message"]
        ok = client.post(
            f"/apispaces/{strict.tenant.space}/webhooks", json={"url": "https://example.com/h"}
        )
        assert ok.status_code == 201


def test_available_events_and_tenancy(server: LiveServer, tenant: Tenant, hook: Receiver) -> None:
    made = subscribe(server, tenant, hook.url)
    other = server.new_tenant()
    with api(server, tenant) as client:
        names = [
            e["name"]
            for e in client.get(f"/apispaces/{tenant.space}/webhooks/availableevents").json()
        ]
    assert "profile.devicesUpdated" in names
    assert "profile.*" in names
    with api(server, other) as intruder:
        for path in ("", f"/{made['id']}", f"/{made['id']}/attempts"):
            assert intruder.get(f"/apispaces/{tenant.space}/webhooks{path}").status_code == 404
        assert (
            intruder.delete(f"/apispaces/{tenant.space}/webhooks/{made['id']}").status_code == 404
        )
        assert intruder.get(f"/apispaces/{other.space}/webhooks/{made['id']}").status_code == 404


def wait_until(condition: Any, timeout: float = 15) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        time.sleep(0.05)
    raise AssertionError("condition not met in time")


def test_devices_updated_follows_links_and_firmware(
    server: LiveServer, tenant: Tenant, hook: Receiver
) -> None:
    collect(server, tenant, event("user_created", {"user_id": "dev", "email": "dev@x.io"}))
    subscribe(server, tenant, hook.url, events=["profile.devicesUpdated"])
    collect(
        server,
        tenant,
        event("thing_created", {"thing_id": "k1", "model": "K-200", "firmware_version": "1.0"}),
        event("user_thing_associated", {"user_id": "dev", "thing_id": "k1"}),
    )
    hook.wait_for(lambda r: len(r.received) >= 1)
    collect(
        server,
        tenant,
        event("firmware_upgrade_completed", {"thing_id": "k1", "firmware_version": "2.0"}),
    )
    hook.wait_for(lambda r: len(r.received) >= 2)
    collect(server, tenant, event("thing_connected", {"thing_id": "k1"}))  # not a device change
    collect(server, tenant, event("user_thing_disassociated", {"user_id": "dev", "thing_id": "k1"}))
    hook.wait_for(lambda r: len(r.received) >= 3)
    time.sleep(0.3)
    linked, upgraded, unlinked = hook.envelopes()
    assert [e["name"] for e in (linked, upgraded, unlinked)] == ["profile.devicesUpdated"] * 3
    assert [e["revision"] for e in (linked, upgraded, unlinked)] == [1, 2, 3]
    assert linked["payload"] == {
        "id": "dev",
        "profile": {"email": "dev@x.io"},
        "devices": {"things": {"count": 1, "pushEnabled": 0}},
        "things": [{"thingId": "k1", "model": "K-200", "firmwareVersion": "1.0"}],
    }
    assert upgraded["payload"]["things"][0]["firmwareVersion"] == "2.0"
    assert unlinked["payload"]["devices"]["things"]["count"] == 0
    assert unlinked["payload"]["things"] == []
    # the document did not change, so neither did the ETag
    assert linked["etag"] == upgraded["etag"] == unlinked["etag"]
    with api(server, tenant) as client:
        history = client.get(f"/apispaces/{tenant.space}/profiles/dev/history").json()["items"]
    assert [h["name"] for h in history] == [
        "create",
        "devicesUpdated",
        "devicesUpdated",
        "devicesUpdated",
    ]
