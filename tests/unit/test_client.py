"""The client's pure parts: batching, back-off, webhook verification, the revision filter and
the typed event constructors (checked with the server's own decoder)."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from email.utils import formatdate
from typing import Any

import msgspec
import pytest

from syncline.client import RetryPolicy, RevisionFilter, WebhookVerificationError, verify_webhook
from syncline.client import events as ev
from syncline.client.collector import ENVELOPE_BYTES, batches, request_body
from syncline.client.retry import parse_retry_after
from syncline.delivery import signing
from syncline.schemas import collect as c


# batching ----------------------------------------------------------------------------------
def test_batches_respect_the_event_count() -> None:
    runs = list(batches([b"{}"] * 2500, max_events=1000, max_bytes=10**9))
    assert [(start, len(b)) for start, b in runs] == [(0, 1000), (1000, 1000), (2000, 500)]


@pytest.mark.parametrize("n", [1, 2, 7, 50])
def test_batches_fit_the_byte_limit_exactly(n: int) -> None:
    event = b'{"x":"' + b"a" * 93 + b'"}'  # 101 bytes
    limit = ENVELOPE_BYTES + n * len(event) + (n - 1)  # n events and n-1 commas fit, no more
    runs = list(batches([event] * (3 * n + 1), max_events=10_000, max_bytes=limit))
    assert [len(b) for _, b in runs] == [n, n, n, 1]
    assert all(len(request_body(b)) <= limit for _, b in runs)
    assert max(len(request_body(b)) for _, b in runs) == limit


def test_an_oversize_event_gets_a_batch_of_its_own() -> None:
    runs = list(batches([b"1", b"x" * 100, b"2"], max_events=10, max_bytes=50))
    assert [b for _, b in runs] == [[b"1"], [b"x" * 100], [b"2"]]
    assert [start for start, _ in runs] == [0, 1, 2]


# back-off ----------------------------------------------------------------------------------
def test_backoff_grows_exponentially_with_jitter_and_a_cap() -> None:
    policy = RetryPolicy(base=1.0, cap=8.0)
    for attempt, ceiling in [(0, 1.0), (1, 2.0), (2, 4.0), (3, 8.0), (9, 8.0)]:
        delays = [policy.delay(attempt) for _ in range(200)]
        assert all(ceiling / 2 <= d <= ceiling for d in delays)
        assert len(set(delays)) > 100  # jittered


def test_retry_after_is_honoured_and_bounded() -> None:
    policy = RetryPolicy(max_retry_after=60)
    assert 7 <= policy.delay(0, 7.0) <= 7.7
    assert policy.delay(5, 3600.0) <= 66


def test_retry_after_parses_seconds_and_http_dates() -> None:
    assert parse_retry_after("3") == 3.0
    assert parse_retry_after(None) is None
    assert parse_retry_after("soon") is None
    now = time.time()
    assert 9 <= (parse_retry_after(formatdate(now + 10, usegmt=True), now=now) or 0) <= 10
    assert parse_retry_after(formatdate(now - 10, usegmt=True), now=now) == 0


def test_retry_policy_is_validated() -> None:
    with pytest.raises(ValueError, match="max_retries"):
        RetryPolicy(max_retries=-1)
    with pytest.raises(ValueError, match="base"):
        RetryPolicy(base=5, cap=1)


# webhook verification ----------------------------------------------------------------------
SECRET = "a-webhook-secret-0123456789"
BODY = b'{"eventId":"e1","name":"profile.create","payload":{"id":"u1"},"revision":0}'


def signed(body: bytes = BODY, secrets: list[str] | None = None, at: int | None = None) -> Any:
    return signing.headers(secrets or [SECRET], "msg_1", at or int(time.time()), body)


def test_a_request_signed_both_ways_verifies_and_returns_the_body() -> None:
    assert verify_webhook(BODY, signed(), SECRET)["eventId"] == "e1"
    assert verify_webhook(BODY.decode(), signed(), SECRET)["revision"] == 0


def test_independent_vectors_of_both_schemes() -> None:
    """Computed here by hand, so a wrong signer and a wrong verifier cannot agree."""
    stamp = int(time.time())
    comapi = hmac.new(SECRET.encode(), BODY, hashlib.sha1).hexdigest()
    mac = hmac.new(SECRET.encode(), b"m.%d." % stamp + BODY, hashlib.sha256).digest()
    standard = "v1," + base64.b64encode(mac).decode()
    assert verify_webhook(BODY, {"X-Comapi-Signature": comapi}, SECRET)
    headers = {"webhook-id": "m", "webhook-timestamp": str(stamp), "webhook-signature": standard}
    assert verify_webhook(BODY, headers, SECRET)
    key = b"0123456789abcdef0123"
    whsec = "whsec_" + base64.b64encode(key).decode()
    mac = hmac.new(key, b"m.%d." % stamp + BODY, hashlib.sha256).digest()
    headers["webhook-signature"] = "v1," + base64.b64encode(mac).decode()
    assert verify_webhook(BODY, headers, whsec)


def test_header_names_are_case_insensitive() -> None:
    lower = {k.lower(): v for k, v in signed().items()}
    upper = {k.upper(): v for k, v in signed().items()}
    assert verify_webhook(BODY, lower, SECRET)
    assert verify_webhook(BODY, upper, SECRET)


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda h: h.update({"X-Comapi-Signature": "00" * 20}), "X-Comapi-Signature"),
        (lambda h: h.update({"webhook-signature": "v1,AAAA"}), "webhook-signature"),
        (lambda h: h.update({"webhook-id": "msg_2"}), "webhook-signature"),
        (lambda h: h.pop("webhook-timestamp"), "webhook-timestamp"),
        (lambda h: h.update({"webhook-timestamp": "yesterday"}), "not an integer"),
        (lambda h: h.clear(), "unsigned"),
    ],
)
def test_tampered_headers_are_refused(mutate: Any, message: str) -> None:
    headers = dict(signed())
    mutate(headers)
    with pytest.raises(WebhookVerificationError, match=message):
        verify_webhook(BODY, headers, SECRET)


def test_a_tampered_body_or_a_wrong_secret_is_refused() -> None:
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY.replace(b"u1", b"u2"), signed(), SECRET)
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, signed(), "another-secret-0123456789")
    only_comapi = {"X-Comapi-Signature": signed()["X-Comapi-Signature"]}
    with pytest.raises(WebhookVerificationError, match="X-Comapi"):
        verify_webhook(BODY, only_comapi, "another-secret-0123456789")


def test_the_timestamp_tolerance() -> None:
    old = signed(at=int(time.time()) - 301)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(BODY, old, SECRET)
    assert verify_webhook(BODY, old, SECRET, tolerance=600)
    future = signed(at=int(time.time()) + 400)
    with pytest.raises(WebhookVerificationError, match="tolerance"):
        verify_webhook(BODY, future, SECRET)


def test_require_timestamp_refuses_a_comapi_only_request() -> None:
    only_comapi = {"X-Comapi-Signature": signed()["X-Comapi-Signature"]}
    assert verify_webhook(BODY, only_comapi, SECRET)
    with pytest.raises(WebhookVerificationError, match="required"):
        verify_webhook(BODY, only_comapi, SECRET, require_timestamp=True)


def test_during_a_rotation_either_secret_verifies() -> None:
    new, old = "new-secret-0123456789", "old-secret-0123456789"
    headers = signed(secrets=[new, old])
    assert verify_webhook(BODY, headers, new)
    assert verify_webhook(BODY, headers, old)  # X-Comapi-Signature-Previous, 2nd v1
    assert verify_webhook(BODY, signed(secrets=[new]), [old, new])  # the receiver's own rotation
    with pytest.raises(WebhookVerificationError):
        verify_webhook(BODY, headers, "third-secret-0123456789")


def test_a_signed_non_json_body_is_refused() -> None:
    with pytest.raises(WebhookVerificationError, match="not JSON"):
        verify_webhook(b"nope", signed(b"nope"), SECRET)


# the revision filter -----------------------------------------------------------------------
def envelope(profile: str, revision: int, event_id: str | None = None) -> dict[str, Any]:
    return {
        "eventId": event_id or f"{profile}-{revision}",
        "apiSpaceId": "s",
        "name": "profile.update",
        "payload": {"id": profile},
        "revision": revision,
    }


def test_duplicates_and_stale_revisions_are_dropped() -> None:
    f = RevisionFilter()
    assert f.accept(envelope("a", 0))
    assert not f.accept(envelope("a", 0))  # the same eventId again
    assert f.accept(envelope("a", 2))
    assert not f.accept(envelope("a", 1))  # older than what was seen
    assert not f.accept(envelope("a", 2, "other-id"))  # same revision, another id
    assert f.accept(envelope("b", 1))  # profiles are independent
    assert f.accept({**envelope("a", 1, "t-a-1"), "apiSpaceId": "t"})  # so are API spaces


def test_fresh_takes_a_batch_or_one_envelope() -> None:
    f = RevisionFilter()
    batch = [envelope("a", 1), envelope("a", 0), envelope("b", 0), envelope("a", 1)]
    assert [e["eventId"] for e in f.fresh(batch)] == ["a-1", "b-0"]
    assert f.fresh(envelope("a", 3)) == [envelope("a", 3)]
    assert f.fresh(batch) == []


def test_memory_is_bounded() -> None:
    f = RevisionFilter(max_profiles=100, max_events=50)
    for i in range(10_000):
        assert f.accept(envelope(f"p{i}", 0))
    assert len(f._revisions) == 100
    assert len(f._events) == 50
    assert not f.accept(envelope("p9999", 0, "again"))  # recent profiles are remembered


def test_an_envelope_without_a_profile_passes_once() -> None:
    f = RevisionFilter()
    other = {"eventId": "m1", "name": "message.sent", "payload": {}}
    assert f.accept(other)
    assert not f.accept(other)


# event constructors ------------------------------------------------------------------------
ALL = [
    ev.user_created("u1", email="a@example.com", utc_offset="+0100", custom_properties={"p": 1}),
    ev.user_updated("u1", first_name="Ada", copilot_analysis_consent=True),
    ev.user_deleted("u1"),
    ev.thing_created("t1", model="m", firmware_version="1.0", user_id="u1"),
    ev.thing_updated("t1", custom_properties={"colour": "red"}),
    ev.user_thing_associated("u1", "t1"),
    ev.user_thing_disassociated("u1", "t1"),
    ev.thing_status_changed("t1", "battery", 80, status_date=1),
    ev.thing_connected("t1", user_id="u1"),
    ev.thing_interaction("t1", button="a", presses=2),
    ev.consumable_usage("t1", "filter"),
    ev.firmware_upgrade_started("t1", firmware_version="2.0"),
    ev.firmware_upgrade_completed("t1", firmware_version="2.0"),
    ev.custom_event("reset", thing_id="t1", reason="user"),
    ev.unsubscribe("a@example.com"),
    ev.preexisting_sync_started(),
    ev.preexisting_sync_completed(),
    ev.preexisting_user_created("u2", email="b@example.com", original_creation_date=1),
    ev.preexisting_thing_created("t2", model="m", original_creation_date=1),
    ev.preexisting_user_thing_associated("u2", "t2", original_association_date=1),
]


def test_a_constructor_for_every_event_type() -> None:
    assert sorted(e.kind for e in ALL) == sorted(c.EVENT_TYPES)


@pytest.mark.parametrize("event", ALL, ids=lambda e: e.kind)
def test_constructed_events_decode_on_the_server(event: c.Event) -> None:
    wire = json.loads(msgspec.json.encode(event))
    assert wire["type"] == event.kind
    assert wire["event_id"]
    assert wire["timestamp"] > 0
    assert None not in wire["payload"].values()  # unset fields are left out, not null
    assert ev.validate(event) is None
    assert not isinstance(c.decode_event(msgspec.json.encode(event)), c.EventError)


def test_validate_names_the_bad_field() -> None:
    problem = ev.validate(ev.user_created("u 1", utc_offset="+2500"))
    assert problem is not None
    assert problem.field == "payload.user_id"
    problem = ev.validate(ev.user_created("u1", email="not-an-email"))
    assert problem is not None
    assert problem.field == "payload.email"
