"""`syncline.client` against the real server on 127.0.0.1: batching, invalid events by index,
duplicates, retries (through a proxy that fails on cue), and verification of real signed
webhooks received by a real receiver."""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any

import pytest

from syncline.client import (
    AuthenticationError,
    CollectError,
    Collector,
    RetryPolicy,
    RevisionFilter,
    WebhookVerificationError,
    verify_webhook,
)
from syncline.client import events as ev
from tests.support.databases import Databases
from tests.support.proxy import DROP, Fail, proxy
from tests.support.receiver import receiver
from tests.support.server import LiveServer, Tenant, live_server

FAST = RetryPolicy(max_retries=4, base=0.01, cap=0.05)


@pytest.fixture(scope="module")
def server(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("client") as url,
        live_server(url, webhooks_allow_private=True, webhook_retry_scale=0.001) as live,
    ):
        yield live


@pytest.fixture
def tenant(server: LiveServer) -> Tenant:
    return server.new_tenant()


def collector(url: str, tenant: Tenant, **options: Any) -> Collector:
    return Collector(url, tenant.client_id, tenant.client_secret, retry=FAST, **options)


def test_send_batches_and_lists_invalid_events_by_their_index(
    server: LiveServer, tenant: Tenant
) -> None:
    events: list[Any] = [ev.user_created(f"u{i}", email=f"u{i}@example.com") for i in range(2500)]
    bad = {3: "payload.email", 1500: "payload.utc_offset", 2499: "payload.user_id"}
    events[3] = ev.user_created("bad3", email="nope")
    events[1500] = ev.user_created("bad1500", utc_offset="+9999")
    events[2499] = {"type": "user_created", "event_id": "x", "timestamp": 1, "payload": {}}
    with collector(server.url, tenant) as client:
        result = client.send(events)
        again = client.send(events)
    assert result.requests == 3
    assert result.accepted == 2497
    assert result.duplicates == 0
    assert {b.index: b.field for b in result.invalid} == bad
    assert result.invalid[0].event_id == events[3].event_id
    assert "valid email" in result.invalid[0].error
    assert again.accepted == 0
    assert again.duplicates == 2497
    assert len(again.invalid) == 3
    with server.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/profiles/u2498").json()["email"] == (
            "u2498@example.com"
        )


def test_batches_also_respect_a_byte_limit(server: LiveServer, tenant: Tenant) -> None:
    events = [ev.user_created(f"b{i}", first_name="x" * 200) for i in range(100)]
    with collector(server.url, tenant, max_bytes=8 * 1024) as client:
        result = client.send(events)
        huge = client.send([ev.custom_event("big", user_id="b1", blob="y" * 9000)])
    assert result.accepted == 100
    assert result.requests >= 4
    assert huge.accepted == 0
    assert huge.requests == 0
    assert [(b.index, b.code) for b in huge.invalid] == [(0, "event.too_large")]


def test_429_503_and_dropped_connections_are_retried(server: LiveServer, tenant: Tenant) -> None:
    script: dict[int, Fail | str] = {
        1: Fail(429, {"Retry-After": "1"}),
        2: Fail(503),
        3: DROP,
        5: Fail(502),
    }
    events = [ev.user_created(f"r{i}") for i in range(10)]
    with proxy(server.url, lambda n: script.get(n)) as flaky:
        started = time.monotonic()
        with collector(flaky.url, tenant, max_events=5) as client:
            result = client.send(events)
        elapsed = time.monotonic() - started
    assert result.accepted == 10
    assert result.retries == 4
    assert flaky.requests == 6
    assert flaky.forwarded == 2
    assert elapsed >= 1.0  # the Retry-After was honoured


def test_a_commit_whose_answer_is_lost_comes_back_as_duplicates(
    server: LiveServer, tenant: Tenant
) -> None:
    events = [ev.user_created(f"l{i}") for i in range(5)]
    with collector(server.url, tenant) as client:
        assert client.send(events).accepted == 5
    # the server committed, but the client never heard: the retry is a duplicate, not a new event
    with (
        proxy(server.url, lambda n: Fail(504) if n == 1 else None) as flaky,
        collector(flaky.url, tenant) as client,
    ):
        result = client.send(events)
    assert (result.accepted, result.duplicates, result.retries) == (0, 5, 1)


def test_retries_give_up_with_a_clear_error(server: LiveServer, tenant: Tenant) -> None:
    with (
        proxy(server.url, lambda n: Fail(503)) as flaky,
        collector(flaky.url, tenant) as client,
        pytest.raises(CollectError) as caught,
    ):
        client.send([ev.user_created("never")])
    assert caught.value.status == 503
    assert "gave up after 4 retries" in str(caught.value)
    assert flaky.requests == 5
    with (
        Collector("http://127.0.0.1:9", "id", "secret", retry=FAST) as client,
        pytest.raises(CollectError, match="gave up"),
    ):
        client.send([ev.user_created("never")])


def test_bad_credentials_raise_at_once(server: LiveServer, tenant: Tenant) -> None:
    with (
        Collector(server.url, tenant.client_id, "wrong", retry=FAST) as client,
        pytest.raises(AuthenticationError, match=r"AUTH\.UNAUTHORIZED"),
    ):
        client.send([ev.user_created("x")])


def test_real_signed_webhooks_verify_and_filter(server: LiveServer, tenant: Tenant) -> None:
    secret = "client-test-secret-0123456789"
    with receiver() as hook:
        with server.api_client(tenant) as api:
            made = api.post(
                f"/apispaces/{tenant.space}/webhooks", json={"url": hook.url, "secret": secret}
            )
            assert made.status_code == 201, made.text
        with collector(server.url, tenant) as client:
            client.send([ev.user_created("w1", email="w1@example.com")])
            client.send([ev.user_updated("w1", first_name="W")])
            client.send([ev.user_updated("w1", last_name="One")])
        hook.wait_for(lambda r: len(r.received) >= 3)
        revisions = RevisionFilter()
        seen = []
        for request in hook.received:
            payload = verify_webhook(request.body, request.headers, secret)
            seen += [e["revision"] for e in revisions.fresh(payload)]
            with pytest.raises(WebhookVerificationError):
                verify_webhook(request.body, request.headers, "not-the-secret-0123456789")
            with pytest.raises(WebhookVerificationError):
                verify_webhook(request.body + b" ", request.headers, secret)
        assert seen == [0, 1, 2]
        # redelivered, or arriving late and out of order: all dropped
        replayed = [verify_webhook(r.body, r.headers, secret) for r in reversed(hook.received)]
        assert [e for p in replayed for e in revisions.fresh(p)] == []


def test_a_413_from_an_endpoint_with_smaller_limits_splits_the_batch(database_url: str) -> None:
    with live_server(database_url, max_events_per_request=10) as small:
        events: list[Any] = [ev.user_created(f"s{i}") for i in range(25)]
        events[17] = ev.user_created("bad", email="nope")
        with collector(small.url, small.tenant) as client:
            result = client.send(events)
    assert result.accepted == 24
    assert [(b.index, b.field) for b in result.invalid] == [(17, "payload.email")]
    assert result.requests >= 4  # 25 -> 12 + 13 -> 6 + 6 + 6 + 7 events per request
