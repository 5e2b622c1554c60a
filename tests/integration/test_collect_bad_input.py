"""`POST /v2/collect` against bad input (DESIGN sections 2 and 8), on a real server.

Every refusal must name its field with a stable code, never be a 500, and leave nothing
half-written: a 400/413/401 stores nothing at all; a 200 stores every valid event of the batch
and keeps every invalid one, raw, in the space's rejected events.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import ssl
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.events import associated, batch, event, thing_created, user_created
from tests.support.server import LiveServer, live_server

DAY_MS = 86_400_000
MINUTE_MS = 60_000
MIB = 1024 * 1024
ID_ERROR = "must be 1..128 characters of [A-Za-z0-9:-._+@]"

# fixtures and helpers -----------------------------------------------------------------------


@pytest.fixture(scope="module")
def shared_server(databases: Databases) -> Iterator[LiveServer]:
    with databases.fresh("bad-input") as url, live_server(url) as live:
        yield live


@pytest.fixture
def server(shared_server: LiveServer) -> Iterator[LiveServer]:
    """One real server for the module, a fresh API space (tenant) for every test.

    API spaces are the unit of isolation, so every test starts from an empty space.
    """
    yield dataclasses.replace(shared_server, tenant=shared_server.new_tenant())
    for client in _CLIENTS.values():
        client.close()
    _CLIENTS.clear()


_TLS = ssl.create_default_context()  # built once: a new httpx.Client would load the CAs again
_CLIENTS: dict[tuple[str, str], httpx.Client] = {}


def _client(server: LiveServer, kind: str) -> httpx.Client:
    t = server.tenant
    key = (t.space, kind)
    if key not in _CLIENTS:
        if kind == "collect":
            _CLIENTS[key] = httpx.Client(
                base_url=server.url, auth=(t.client_id, t.client_secret), verify=_TLS, timeout=30
            )
        else:
            _CLIENTS[key] = httpx.Client(
                base_url=server.url,
                headers={"Authorization": f"Bearer {t.api_token}"},
                verify=_TLS,
                timeout=30,
            )
    return _CLIENTS[key]


def collect(server: LiveServer) -> httpx.Client:
    return _client(server, "collect")


def api(server: LiveServer) -> httpx.Client:
    return _client(server, "api")


def post(server: LiveServer, body: bytes | dict[str, Any]) -> httpx.Response:
    content = body if isinstance(body, bytes) else json.dumps(body).encode()
    return collect(server).post(
        "/v2/collect", content=content, headers={"Content-Type": "application/json"}
    )


def rejected(server: LiveServer) -> list[dict[str, Any]]:
    answer = api(server).get(f"/apispaces/{server.tenant.space}/rejected", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def logged(server: LiveServer) -> list[dict[str, Any]]:
    answer = api(server).get(f"/apispaces/{server.tenant.space}/events", params={"limit": 1000})
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def user(server: LiveServer, user_id: str) -> dict[str, Any] | None:
    answer = api(server).get(f"/apispaces/{server.tenant.space}/users/{user_id}")
    if answer.status_code == 404:
        return None
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def assert_nothing_stored(server: LiveServer, *user_ids: str) -> None:
    assert rejected(server) == []
    assert logged(server) == []
    for user_id in user_ids:
        assert user(server, user_id) is None


def assert_envelope_error(answer: httpx.Response, status: int, reason: str, lead: str) -> None:
    assert answer.status_code == status, answer.text
    body = answer.json()
    assert set(body) == {"reason", "error_message"}
    assert body["reason"] == reason
    assert body["error_message"].startswith(lead), body["error_message"]


def assert_one_rejected(
    server: LiveServer,
    sent: dict[str, Any] | bytes,
    code: str,
    field: str,
    *,
    event_id: str | None = None,
    message: str | None = None,
) -> dict[str, Any]:
    """`sent` was the only event of its request: refused with `code` on `field`, kept raw."""
    answer = post(server, {"events": [sent]} if isinstance(sent, dict) else sent)
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["accepted"] == 0
    assert body["duplicates"] == 0
    [invalid] = body["invalid_events"]
    assert invalid["index"] == 0
    assert invalid["code"] == code
    assert invalid["field"] == field
    assert invalid["event_id"] == event_id
    assert invalid["error"].startswith(f"{field}: "), invalid["error"]
    if message is not None:
        assert invalid["error"] == f"{field}: {message}"
    [kept] = rejected(server)
    assert (kept["code"], kept["field"], kept["index"]) == (code, field, 0)
    assert kept["event_id"] == event_id
    assert kept["error"] == invalid["error"]
    assert kept["status"] == "pending"
    if isinstance(sent, dict):
        assert json.loads(kept["raw"]) == sent
    else:  # the event's own bytes, exactly as sent (duplicated keys and all)
        assert kept["raw"].encode() in sent
    assert logged(server) == []
    return kept


def assert_accepted(server: LiveServer, *events: dict[str, Any]) -> None:
    answer = post(server, batch(*events))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"invalid_events": [], "accepted": len(events), "duplicates": 0}
    assert rejected(server) == []
    assert {e["event_id"] for e in logged(server)} == {e["event_id"] for e in events}


def basic(client_id: str, secret: str) -> str:
    return "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()


# 1. the envelope: 400 and nothing stored ---------------------------------------------------

ENVELOPE_CASES = [
    pytest.param(b"not json", "body is not valid JSON", id="not-json"),
    pytest.param(b"", "body is not valid JSON", id="empty-body"),
    pytest.param(b'{"events": [', "body is not valid JSON", id="truncated"),
    pytest.param(b"{'events': []}", "body is not valid JSON", id="single-quotes"),
    pytest.param(b'{"events": [NaN]}', "body is not valid JSON", id="nan"),
    pytest.param(b'{"events": ["\xff"]}', "body is not valid JSON", id="invalid-utf8"),
    pytest.param(
        b'{"events": ' + b"[" * 100_000 + b"]" * 100_000 + b"}",
        "body is not valid JSON",
        id="nested-deep",
    ),
    pytest.param(b"[]", "body: must be a JSON object", id="array"),
    pytest.param(b'"events"', "body: must be a JSON object", id="string"),
    pytest.param(b"42", "body: must be a JSON object", id="number"),
    pytest.param(b"null", "body: must be a JSON object", id="null"),
    pytest.param(b"{}", "events: is required", id="no-events"),
    pytest.param(b'{"event": []}', "events: is required", id="misspelt-events"),
    pytest.param(b'{"events": {}}', "events: expected array, got object", id="events-object"),
    pytest.param(b'{"events": "x"}', "events: expected array, got str", id="events-string"),
    pytest.param(b'{"events": null}', "events: expected array, got null", id="events-null"),
    pytest.param(b'{"events": []}', "events: must contain at least one event", id="empty-list"),
]


@pytest.mark.parametrize(("body", "lead"), ENVELOPE_CASES)
def test_bad_envelope_is_400_and_stores_nothing(server: LiveServer, body: bytes, lead: str) -> None:
    answer = post(server, body)
    assert_envelope_error(answer, 400, "COMMON.REQUEST_VALIDATION", lead)
    assert_nothing_stored(server)


def invalid_utf8_body() -> bytes:
    good = json.dumps(user_created("u-good")).encode()
    broken = json.dumps(user_created("u-broken", first_name="NAME")).encode()
    return b'{"events": [' + good + b", " + broken.replace(b"NAME", b"\xff\xfe") + b"]}"


def deeply_nested_body() -> bytes:
    deep = "[" * 50_000 + "]" * 50_000
    return (
        '{"events": [' + json.dumps(user_created("u-good")) + ", "
        '{"type": "custom_event", "event_id": "n1", "timestamp": ' + str(now_ms()) + ", "
        '"payload": {"subtype": "s", "user_id": "u-deep", "x": ' + deep + "}}]}"
    ).encode()


def test_invalid_utf8_inside_an_event_is_400_and_stores_nothing(server: LiveServer) -> None:
    """Not valid JSON (RFC 8259 is UTF-8), even where the envelope decoder only skips."""
    answer = post(server, invalid_utf8_body())
    assert_envelope_error(answer, 400, "COMMON.REQUEST_VALIDATION", "body is not valid JSON")
    assert_nothing_stored(server, "u-good", "u-broken")


def test_deeply_nested_event_is_400_and_stores_nothing(server: LiveServer) -> None:
    answer = post(server, deeply_nested_body())
    assert_envelope_error(answer, 400, "COMMON.REQUEST_VALIDATION", "body is not valid JSON")
    assert_nothing_stored(server, "u-good", "u-deep")


# 2. size limits: 413 and nothing stored ----------------------------------------------------


def too_many_events() -> dict[str, Any]:
    return batch(*(user_created(f"u{i}") for i in range(1001)))


def test_over_1000_events_is_413_and_stores_nothing(server: LiveServer) -> None:
    answer = post(server, too_many_events())
    assert_envelope_error(
        answer, 413, "COMMON.PAYLOAD_TOO_LARGE", "events: at most 1000 events per request"
    )
    assert_nothing_stored(server, "u0", "u1000")


def test_exactly_1000_events_are_accepted(server: LiveServer) -> None:
    answer = post(server, batch(*(user_created(f"u{i}") for i in range(1000))))
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"invalid_events": [], "accepted": 1000, "duplicates": 0}
    assert user(server, "u999") is not None


def padded(size: int) -> bytes:
    """A valid one-event body of exactly `size` bytes (JSON whitespace before the last brace)."""
    head = json.dumps(batch(user_created("u-big"))).encode()
    return head[:-1] + b" " * (size - len(head)) + b"}"


def test_body_over_1_mib_is_413_and_stores_nothing(server: LiveServer) -> None:
    answer = post(server, padded(MIB + 1))
    assert_envelope_error(answer, 413, "COMMON.PAYLOAD_TOO_LARGE", f"body: at most {MIB} bytes")
    assert_nothing_stored(server, "u-big")


def test_chunked_body_over_1_mib_is_413_and_stores_nothing(server: LiveServer) -> None:
    """No Content-Length: the limit is enforced while streaming."""
    body = padded(MIB + 64 * 1024)

    def chunks() -> Iterator[bytes]:
        for start in range(0, len(body), 64 * 1024):
            yield body[start : start + 64 * 1024]

    answer = collect(server).post("/v2/collect", content=chunks())
    assert "content-length" not in answer.request.headers
    assert_envelope_error(answer, 413, "COMMON.PAYLOAD_TOO_LARGE", f"body: at most {MIB} bytes")
    assert_nothing_stored(server, "u-big")


def test_body_of_exactly_1_mib_is_accepted(server: LiveServer) -> None:
    body = padded(MIB)
    assert len(body) == MIB
    answer = post(server, body)
    assert answer.status_code == 200, answer.text
    assert answer.json() == {"invalid_events": [], "accepted": 1, "duplicates": 0}
    assert user(server, "u-big") is not None


# 3. the event's own fields -----------------------------------------------------------------


def without(key: str) -> dict[str, Any]:
    sent = user_created("u1") | {"event_id": "e-1"}
    del sent[key]
    return sent


def with_(key: str, value: Any) -> dict[str, Any]:
    return {**user_created("u1") | {"event_id": "e-1"}, key: value}


EVENT_FIELD_CASES = [
    pytest.param(without("type"), "field.missing", "type", "e-1", id="type-missing"),
    pytest.param(with_("type", "user_made"), "type.unknown", "type", "e-1", id="type-unknown"),
    pytest.param(with_("type", ""), "type.unknown", "type", "e-1", id="type-empty"),
    pytest.param(without("event_id"), "field.missing", "event_id", None, id="event_id-missing"),
    pytest.param(with_("event_id", 42), "field.type", "event_id", None, id="event_id-int"),
    pytest.param(with_("event_id", None), "field.type", "event_id", None, id="event_id-null"),
    pytest.param(with_("event_id", ["e"]), "field.type", "event_id", None, id="event_id-list"),
    pytest.param(with_("event_id", ""), "field.invalid", "event_id", "", id="event_id-empty"),
    pytest.param(
        with_("event_id", "e" * 129), "field.invalid", "event_id", "e" * 128, id="event_id-129"
    ),
    pytest.param(without("timestamp"), "field.missing", "timestamp", "e-1", id="ts-missing"),
    pytest.param(
        with_("timestamp", "1700000000000"), "field.type", "timestamp", "e-1", id="ts-str"
    ),
    pytest.param(with_("timestamp", 1.5), "field.type", "timestamp", "e-1", id="ts-float"),
    pytest.param(with_("timestamp", True), "field.type", "timestamp", "e-1", id="ts-bool"),
    pytest.param(with_("timestamp", None), "field.type", "timestamp", "e-1", id="ts-null"),
    pytest.param(with_("timestamp", -1), "field.invalid", "timestamp", "e-1", id="ts-negative"),
    pytest.param(with_("timestamp", 10**30), "field.invalid", "timestamp", "e-1", id="ts-huge"),
    pytest.param(without("payload"), "field.missing", "payload", "e-1", id="payload-missing"),
    pytest.param(with_("payload", None), "field.type", "payload", "e-1", id="payload-null"),
    pytest.param(with_("payload", []), "field.type", "payload", "e-1", id="payload-list"),
    pytest.param(with_("payload", "u1"), "field.type", "payload", "e-1", id="payload-str"),
    pytest.param(with_("payload", 1), "field.type", "payload", "e-1", id="payload-int"),
    pytest.param(with_("extra", 1), "field.unknown", "extra", "e-1", id="event-unknown-key"),
]


@pytest.mark.parametrize(("sent", "code", "field", "event_id"), EVENT_FIELD_CASES)
def test_bad_event_field_is_rejected_and_kept(
    server: LiveServer, sent: dict[str, Any], code: str, field: str, event_id: str | None
) -> None:
    assert_one_rejected(server, sent, code, field, event_id=event_id)
    assert user(server, "u1") is None


NOT_OBJECTS = [1, "x", None, [], True, 1.5]


@pytest.mark.parametrize("value", NOT_OBJECTS, ids=repr)
def test_event_that_is_not_an_object_is_rejected_and_kept(server: LiveServer, value: Any) -> None:
    body = json.dumps({"events": [value]}).encode()
    kept = assert_one_rejected(server, body, "field.type", "event")
    assert json.loads(kept["raw"]) == value


def test_event_id_of_128_characters_is_accepted(server: LiveServer) -> None:
    assert_accepted(server, user_created("u1") | {"event_id": "e" * 128})


# 4. the time window ------------------------------------------------------------------------


TIME_CASES = [
    pytest.param(-31 * DAY_MS, "timestamp.too_old", id="31-days-old"),
    pytest.param(-365 * DAY_MS, "timestamp.too_old", id="a-year-old"),
    pytest.param(0 - now_ms(), "timestamp.too_old", id="epoch-zero"),
    pytest.param(10 * MINUTE_MS, "timestamp.in_future", id="10-minutes-ahead"),
    pytest.param(365 * DAY_MS, "timestamp.in_future", id="a-year-ahead"),
]


@pytest.mark.parametrize(("offset_ms", "code"), TIME_CASES)
def test_timestamp_outside_the_window_is_rejected(
    server: LiveServer, offset_ms: int, code: str
) -> None:
    sent = event("user_created", {"user_id": "u1"}, event_id="t-1", timestamp=now_ms() + offset_ms)
    assert_one_rejected(server, sent, code, "timestamp", event_id="t-1")
    assert user(server, "u1") is None


@pytest.mark.parametrize(
    "offset_ms", [-29 * DAY_MS, 4 * MINUTE_MS], ids=["29-days-old", "4-minutes-ahead"]
)
def test_timestamp_inside_the_window_is_accepted(server: LiveServer, offset_ms: int) -> None:
    sent = event("user_created", {"user_id": "u1"}, timestamp=now_ms() + offset_ms)
    assert_accepted(server, sent)
    assert user(server, "u1") is not None


# 5. payloads: mandatory, unknown and too many fields ---------------------------------------


MISSING_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("user_created", {"first_name": "Ann"}, "payload.user_id"),
    ("user_updated", {"email": "a@b.co"}, "payload.user_id"),
    ("user_deleted", {}, "payload.user_id"),
    ("thing_created", {"model": "M1"}, "payload.thing_id"),
    ("user_thing_associated", {"user_id": "u1"}, "payload.thing_id"),
    ("user_thing_disassociated", {"thing_id": "t1"}, "payload.user_id"),
    ("thing_status_changed", {"thing_id": "t1", "status_value": "on"}, "payload.status_key"),
    ("thing_status_changed", {"thing_id": "t1", "status_key": "power"}, "payload.status_value"),
    ("thing_connected", {"user_id": "u1"}, "payload.thing_id"),
    ("thing_interaction", {"button": "play"}, "payload.thing_id"),
    ("consumable_usage", {"thing_id": "t1"}, "payload.consumable_type"),
    ("firmware_upgrade_completed", {"firmware_version": "2"}, "payload.thing_id"),
    ("custom_event", {"user_id": "u1"}, "payload.subtype"),
    ("custom_event", {"user_id": "u1", "subtype": 7}, "payload.subtype"),
    ("custom_event", {"subtype": "checkout"}, "payload.user_id"),
    ("unsubscribe", {}, "payload.email"),
    ("preexisting_user_created", {"email": "a@b.co"}, "payload.user_id"),
    ("preexisting_user_thing_associated", {"user_id": "u1"}, "payload.thing_id"),
]


@pytest.mark.parametrize(("type_", "payload", "field"), MISSING_CASES)
def test_missing_mandatory_payload_field_is_rejected(
    server: LiveServer, type_: str, payload: dict[str, Any], field: str
) -> None:
    sent = event(type_, payload, event_id="m-1")
    assert_one_rejected(server, sent, "field.missing", field, event_id="m-1")
    assert user(server, "u1") is None


UNKNOWN_CASES: list[tuple[str, dict[str, Any], str]] = [
    ("user_created", {"user_id": "u1", "nickname": "Al"}, "payload.nickname"),
    ("user_updated", {"user_id": "u1", "phone": "123"}, "payload.phone"),
    ("thing_created", {"thing_id": "t1", "color": "red"}, "payload.color"),
    ("unsubscribe", {"email": "a@b.co", "reason": "spam"}, "payload.reason"),
    ("preexisting_sync_started", {"note": "go"}, "payload.note"),
]


@pytest.mark.parametrize(("type_", "payload", "field"), UNKNOWN_CASES)
def test_unknown_payload_key_is_rejected(
    server: LiveServer, type_: str, payload: dict[str, Any], field: str
) -> None:
    sent = event(type_, payload, event_id="k-1")
    assert_one_rejected(server, sent, "field.unknown", field, event_id="k-1")
    assert user(server, "u1") is None


@pytest.mark.parametrize(
    ("type_", "payload"),
    [
        ("custom_event", {"subtype": "checkout", "user_id": "u1", "cart": 3, "coupon": None}),
        ("thing_interaction", {"thing_id": "t1", "button": "play", "volume": 0.5, "on": True}),
    ],
)
def test_unknown_payload_keys_are_accepted_in_free_form_events(
    server: LiveServer, type_: str, payload: dict[str, Any]
) -> None:
    sent = event(type_, payload)
    assert_accepted(server, sent)
    [stored] = logged(server)
    assert stored["type"] == type_
    assert stored["payload"] == payload


def twenty_one(**mandatory: Any) -> dict[str, Any]:
    return {**mandatory, **{f"k{i}": i for i in range(21 - len(mandatory))}}


TOO_MANY_CASES = [
    pytest.param(
        event("custom_event", twenty_one(subtype="s", user_id="u1"), event_id="p-1"),
        "payload",
        id="custom_event-21-keys",
    ),
    pytest.param(
        event("thing_interaction", twenty_one(thing_id="t1"), event_id="p-1"),
        "payload",
        id="thing_interaction-21-keys",
    ),
    pytest.param(
        user_created("u1", custom_properties=twenty_one()) | {"event_id": "p-1"},
        "payload.custom_properties",
        id="user-custom_properties-21",
    ),
    pytest.param(
        thing_created("t1", custom_properties=twenty_one()) | {"event_id": "p-1"},
        "payload.custom_properties",
        id="thing-custom_properties-21",
    ),
]


@pytest.mark.parametrize(("sent", "field"), TOO_MANY_CASES)
def test_more_than_20_properties_is_rejected(
    server: LiveServer, sent: dict[str, Any], field: str
) -> None:
    assert_one_rejected(
        server, sent, "field.too_many", field, event_id="p-1", message="at most 20 properties"
    )
    assert user(server, "u1") is None


def test_exactly_20_properties_are_accepted(server: LiveServer) -> None:
    twenty = {f"k{i}": i for i in range(20)}
    custom = event(
        "custom_event", {"subtype": "s", "user_id": "u2", **{f"k{i}": i for i in range(18)}}
    )
    assert_accepted(server, user_created("u1", custom_properties=twenty), custom)
    found = user(server, "u1")
    assert found is not None
    assert found["custom_properties"] == twenty


NOT_FLAT = [{"nested": {"a": 1}}, {"list": [1, 2]}, {"nothing": None}]


@pytest.mark.parametrize("properties", NOT_FLAT, ids=["object", "array", "null"])
def test_custom_properties_must_be_flat_scalars(
    server: LiveServer, properties: dict[str, Any]
) -> None:
    sent = user_created("u1", custom_properties=properties) | {"event_id": "f-1"}
    assert_one_rejected(server, sent, "field.type", "payload.custom_properties", event_id="f-1")


# 6. ids, emails and utc offsets ------------------------------------------------------------

BAD_IDS = [
    pytest.param("a b", id="space"),
    pytest.param("a/b", id="slash"),
    pytest.param("usér", id="unicode-latin"),
    pytest.param("dev-😀", id="emoji"),
    pytest.param("a\nb", id="newline"),
    pytest.param("a#b", id="hash"),
    pytest.param("", id="empty"),
    pytest.param("x" * 129, id="129-chars"),
    pytest.param("u1\n", id="trailing-newline"),
    pytest.param(" u1", id="leading-space"),
]
ID_SITES = [
    ("user_created", "user_id", {}),
    ("thing_created", "thing_id", {}),
    ("user_thing_associated", "thing_id", {"user_id": "u1"}),
    ("custom_event", "user_id", {"subtype": "s"}),
    ("thing_interaction", "thing_id", {}),
]


@pytest.mark.parametrize("bad_id", BAD_IDS)
@pytest.mark.parametrize(("type_", "key", "other"), ID_SITES)
def test_bad_id_is_rejected(
    server: LiveServer, type_: str, key: str, other: dict[str, Any], bad_id: str
) -> None:
    sent = event(type_, {**other, key: bad_id}, event_id="i-1")
    pattern_only = 0 < len(bad_id) <= 128  # a length failure has its own message
    message = ID_ERROR if pattern_only else None
    field = f"payload.{key}"
    assert_one_rejected(server, sent, "field.invalid", field, event_id="i-1", message=message)
    assert user(server, "u1") is None


@pytest.mark.parametrize(
    "good_id",
    ["x" * 128, "a", "AZaz09:-._+@", "63:64:78:26:b1:c7", "user+tag@example.com"],
    ids=["128-chars", "one-char", "every-class", "mac", "email-like"],
)
def test_good_id_is_accepted(server: LiveServer, good_id: str) -> None:
    assert_accepted(server, user_created(good_id), thing_created(good_id))
    found = user(server, good_id)
    assert found is not None
    assert found["user_id"] == good_id


BAD_EMAILS = [
    "plainaddress",
    "@example.com",
    "user@",
    "user@example",
    "user@@example.com",
    "us er@example.com",
    "user@exa mple.com",
    "user@example..com",
    ".user@example.com",
    "user.@example.com",
    "user@-example.com",
    "user@example.c",
    "user@example.com.",
    "",
    "a" * 250 + "@x.com",
    "a@b.co\n",
    "a@b.co ",
]


def email_event(type_: str, email: Any) -> dict[str, Any]:
    payload = {"email": email} if type_ == "unsubscribe" else {"user_id": "u1", "email": email}
    return event(type_, payload, event_id="m-1")


@pytest.mark.parametrize("email", BAD_EMAILS)
@pytest.mark.parametrize("type_", ["user_created", "unsubscribe"])
def test_bad_email_is_rejected(server: LiveServer, type_: str, email: str) -> None:
    sent = email_event(type_, email)
    assert_one_rejected(server, sent, "field.invalid", "payload.email", event_id="m-1")
    assert user(server, "u1") is None


def test_email_of_the_wrong_type_is_rejected(server: LiveServer) -> None:
    sent = user_created("u1", email=["a@b.co"]) | {"event_id": "m-1"}
    assert_one_rejected(server, sent, "field.type", "payload.email", event_id="m-1")


@pytest.mark.parametrize(
    "email",
    [
        "a@b.co",
        "first.last+tag@sub.example.org",
        "o'brien@example.ie",
        "UPPER_case-1@Example-Domain.COM",
        "juanita.pagac43@mailinator.com",
    ],
)
def test_good_email_is_accepted(server: LiveServer, email: str) -> None:
    assert_accepted(server, user_created("u1", email=email))
    found = user(server, "u1")
    assert found is not None
    assert found["email"] == email


@pytest.mark.parametrize("offset", ["-1200", "+1459", "Z", "0000", "+0530", "-0000", "+0000"])
def test_good_utc_offset_is_accepted(server: LiveServer, offset: str) -> None:
    assert_accepted(server, user_created("u1", utc_offset=offset))
    found = user(server, "u1")
    assert found is not None
    assert found["utc_offset"] == offset


BAD_OFFSETS = [
    "+1460",
    "-1201",
    "+0560",
    "0500",
    "+1500",
    "-1300",
    "+14:00",
    "+530",
    "z",
    "UTC",
    " Z",
    "",
    "Z\n",
    "+0100\n",
]


@pytest.mark.parametrize("offset", BAD_OFFSETS)
def test_bad_utc_offset_is_rejected(server: LiveServer, offset: str) -> None:
    sent = user_created("u1", utc_offset=offset) | {"event_id": "o-1"}
    assert_one_rejected(
        server,
        sent,
        "field.invalid",
        "payload.utc_offset",
        event_id="o-1",
        message="must be Z, 0000 or [+-]HHMM between -1200 and +1459 (minutes < 60)",
    )
    assert user(server, "u1") is None


def test_utc_offset_of_the_wrong_type_is_rejected(server: LiveServer) -> None:
    sent = user_created("u1", utc_offset=-500) | {"event_id": "o-1"}
    assert_one_rejected(server, sent, "field.type", "payload.utc_offset", event_id="o-1")


# 7. duplicated JSON keys: the last value wins ----------------------------------------------


def raw_event(type_: str, payload: str, event_id: str, *, extra: str = "") -> bytes:
    return (
        f'{{"events": [{{{extra}"type": "{type_}", "event_id": "{event_id}", '
        f'"timestamp": {now_ms()}, "payload": {payload}}}]}}'
    ).encode()


@pytest.mark.parametrize(("first", "last"), [("true", "false"), ("false", "true")])
def test_duplicated_key_takes_the_last_value(server: LiveServer, first: str, last: str) -> None:
    payload = (
        f'{{"user_id": "u1", "copilot_analysis_consent": {first}, '
        f'"first_name": "Ann", "copilot_analysis_consent": {last}}}'
    )
    answer = post(server, raw_event("user_created", payload, "d-1"))
    assert answer.json() == {"invalid_events": [], "accepted": 1, "duplicates": 0}
    found = user(server, "u1")
    assert found is not None
    assert found["copilot_analysis_consent"] is json.loads(last)
    assert found["first_name"] == "Ann"


def test_duplicated_key_with_a_bad_first_value_takes_the_good_last_one(
    server: LiveServer,
) -> None:
    bodies = [
        raw_event("user_created", '{"user_id": "bad id", "user_id": "u1"}', "d-1"),
        raw_event("user_created", '{"user_id": "u2"}', "d-2", extra='"type": "no_such", '),
        raw_event("user_created", '{"user_id": "u3", "utc_offset": 5, "utc_offset": "Z"}', "d-3"),
    ]
    for body in bodies:
        assert post(server, body).json() == {"invalid_events": [], "accepted": 1, "duplicates": 0}
    assert rejected(server) == []
    assert user(server, "u1") is not None
    assert user(server, "u2") is not None
    assert user(server, "bad id") is None
    found = user(server, "u3")
    assert found is not None
    assert found["utc_offset"] == "Z"


def test_duplicated_key_with_a_bad_last_value_is_rejected(server: LiveServer) -> None:
    body = raw_event("user_created", '{"user_id": "u1", "user_id": "bad id"}', "d-1")
    assert_one_rejected(server, body, "field.invalid", "payload.user_id", event_id="d-1")
    assert user(server, "u1") is None


def test_duplicated_type_with_an_unknown_last_value_is_rejected(server: LiveServer) -> None:
    body = raw_event("no_such", '{"user_id": "u1"}', "d-1", extra='"type": "user_created", ')
    assert_one_rejected(server, body, "type.unknown", "type", event_id="d-1")
    assert user(server, "u1") is None


# 8. authentication: 401 and nothing stored -------------------------------------------------


@pytest.mark.parametrize(
    "case",
    [
        "no-header",
        "wrong-secret",
        "unknown-client",
        "other-tenants-client",
        "empty-basic",
        "not-base64",
        "no-colon",
        "not-utf8",
        "bearer-api-token",
        "bearer-secret",
    ],
)
def test_wrong_credentials_are_401_and_store_nothing(server: LiveServer, case: str) -> None:
    t = server.tenant
    other = server.new_tenant()
    headers = {
        "no-header": None,
        "wrong-secret": basic(t.client_id, t.client_secret + "x"),
        "unknown-client": basic("nobody-" + t.client_id, t.client_secret),
        "other-tenants-client": basic(other.client_id, t.client_secret),
        "empty-basic": "Basic",
        "not-base64": "Basic !!!not-base64!!!",
        "no-colon": "Basic " + base64.b64encode(t.client_id.encode()).decode(),
        "not-utf8": "Basic " + base64.b64encode(b"\xff\xfe:\xff").decode(),
        "bearer-api-token": f"Bearer {t.api_token}",
        "bearer-secret": f"Bearer {t.client_secret}",
    }[case]
    with httpx.Client(base_url=server.url, verify=_TLS, timeout=30) as client:
        answer = client.post(
            "/v2/collect",
            json=batch(user_created("u1")),
            headers={"Authorization": headers} if headers else {},
        )
    assert_envelope_error(answer, 401, "AUTH.UNAUTHORIZED", "authentication failed")
    assert answer.headers["www-authenticate"].startswith("Basic")
    assert t.client_secret not in answer.text
    assert_nothing_stored(server, "u1")
    as_other = dataclasses.replace(server, tenant=other)
    assert_nothing_stored(as_other, "u1")


# 9. mixed batches, resends and reused event ids --------------------------------------------


def mixed_batch() -> dict[str, Any]:
    return batch(
        user_created("u1", first_name="Ann", utc_offset="+0100") | {"event_id": "ok-0"},
        user_created("u2", utc_offset="+1460") | {"event_id": "bad-1"},
        thing_created("t1", model="M1") | {"event_id": "ok-2"},
        event("teleported", {"user_id": "u1"}, event_id="bad-3"),
        associated("u1", "t1") | {"event_id": "ok-4"},
        {"type": "user_created", "timestamp": now_ms(), "payload": {"user_id": "u3"}},
        event("user_updated", {"user_id": "u1", "email": "nope"}, event_id="bad-6"),
        event("custom_event", {"subtype": "s", "user_id": "u1", "n": 1}, event_id="ok-7"),
    )


MIXED_INVALID = [
    ("bad-1", 1, "field.invalid", "payload.utc_offset"),
    ("bad-3", 3, "type.unknown", "type"),
    (None, 5, "field.missing", "event_id"),
    ("bad-6", 6, "field.invalid", "payload.email"),
]


def invalid_summary(answer: httpx.Response) -> list[tuple[Any, ...]]:
    return [
        (i["event_id"], i["index"], i["code"], i["field"]) for i in answer.json()["invalid_events"]
    ]


def test_mixed_batch_stores_the_valid_and_keeps_the_invalid(server: LiveServer) -> None:
    sent = mixed_batch()
    answer = post(server, sent)
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 4
    assert answer.json()["duplicates"] == 0
    assert invalid_summary(answer) == MIXED_INVALID
    # the valid ones are stored ...
    assert {e["event_id"] for e in logged(server)} == {"ok-0", "ok-2", "ok-4", "ok-7"}
    found = user(server, "u1")
    assert found is not None
    assert (found["first_name"], found["utc_offset"]) == ("Ann", "+0100")
    assert found.get("email") is None
    assert [link["thing_id"] for link in found["things"]] == ["t1"]
    assert user(server, "u2") is None
    assert user(server, "u3") is None
    # ... and the invalid ones are kept, raw, with their reasons
    kept = sorted(rejected(server), key=lambda r: r["index"])
    assert [(r["event_id"], r["index"], r["code"], r["field"]) for r in kept] == MIXED_INVALID
    for row in kept:
        assert json.loads(row["raw"]) == sent["events"][row["index"]]
        assert row["status"] == "pending"
    assert [r["type"] for r in kept] == [
        "user_created",
        "teleported",
        "user_created",
        "user_updated",
    ]


def test_resent_mixed_batch_counts_duplicates_and_changes_nothing(server: LiveServer) -> None:
    sent = mixed_batch()
    first = post(server, sent)
    assert first.json()["accepted"] == 4
    state = user(server, "u1")
    log = logged(server)
    again = post(server, sent)
    assert again.status_code == 200, again.text
    assert again.json()["accepted"] == 0
    assert again.json()["duplicates"] == 4
    assert invalid_summary(again) == MIXED_INVALID
    assert user(server, "u1") == state
    assert logged(server) == log
    kept = rejected(server)
    assert len(kept) == 2 * len(MIXED_INVALID)
    assert sorted(r["index"] for r in kept) == sorted(2 * [i for _, i, _, _ in MIXED_INVALID])


@pytest.mark.parametrize(
    "change",
    [
        pytest.param(lambda e: e["payload"].update(first_name="Bob"), id="payload"),
        pytest.param(lambda e: e.update(type="user_updated"), id="type"),
        pytest.param(lambda e: e.update(timestamp=e["timestamp"] - 1), id="timestamp"),
        pytest.param(lambda e: e.update(payload={"user_id": "u9"}), id="other-user"),
    ],
)
def test_same_event_id_with_other_content_is_event_id_reused(
    server: LiveServer, change: Any
) -> None:
    original = user_created("u1", first_name="Ann") | {"event_id": "e-1"}
    assert_accepted(server, original)
    state = user(server, "u1")
    altered = json.loads(json.dumps(original))
    change(altered)
    answer = post(server, batch(altered))
    assert answer.status_code == 200, answer.text
    assert answer.json()["accepted"] == 0
    assert answer.json()["duplicates"] == 0
    [invalid] = answer.json()["invalid_events"]
    assert (invalid["event_id"], invalid["index"], invalid["code"], invalid["field"]) == (
        "e-1",
        0,
        "event_id.reused",
        "event_id",
    )
    assert invalid["error"].startswith("event_id.reused: ")
    assert user(server, "u1") == state
    assert user(server, "u9") is None
    assert [e["event_id"] for e in logged(server)] == ["e-1"]
    [kept] = rejected(server)
    assert (kept["code"], kept["event_id"]) == ("event_id.reused", "e-1")
    assert json.loads(kept["raw"]) == altered


def test_same_event_id_with_other_content_in_one_batch(server: LiveServer) -> None:
    one = user_created("u1", first_name="Ann") | {"event_id": "e-1"}
    same = json.loads(json.dumps(one))
    other = user_created("u1", first_name="Bob") | {"event_id": "e-1"}
    answer = post(server, batch(one, same, other))
    assert answer.json()["accepted"] == 1
    assert answer.json()["duplicates"] == 1
    assert invalid_summary(answer) == [("e-1", 2, "event_id.reused", "event_id")]
    found = user(server, "u1")
    assert found is not None
    assert found["first_name"] == "Ann"


# 10. the sweep: no bad body is ever a 500 --------------------------------------------------


def first(case: Any) -> Any:
    """The first value of a `pytest.param` case."""
    return case.values[0]


def one(sent: Any) -> bytes:
    return json.dumps({"events": [sent]}).encode()


def bad_events() -> list[Any]:
    """Every event the tests above send alone to be refused, plus a few more."""
    events: list[Any] = [first(case) for case in EVENT_FIELD_CASES]
    events += NOT_OBJECTS
    events += [
        event("user_created", {"user_id": "u1"}, timestamp=now_ms() + first(case))
        for case in TIME_CASES
    ]
    events += [event(t, p) for t, p, _ in MISSING_CASES + UNKNOWN_CASES]
    events += [first(case) for case in TOO_MANY_CASES]
    events += [user_created("u1", custom_properties=p) for p in NOT_FLAT]
    events += [event(t, {**o, key: first(case)}) for case in BAD_IDS for t, key, o in ID_SITES]
    events += [email_event(t, e) for e in BAD_EMAILS for t in ("user_created", "unsubscribe")]
    events += [user_created("u1", utc_offset=o) for o in BAD_OFFSETS]
    events += [
        {},
        {"type": None},
        {"type": 5, "event_id": "x", "timestamp": 1, "payload": {}},
        {"type": ["user_created"]},
        {"type": "user_created", "event_id": "\u0000", "timestamp": 1},
        event("custom_event", {"subtype": "s", "user_id": "u", "": 1}),
        10**30,
        user_created("u1", email="x" * 5000, first_name="y" * 5000),
    ]
    return events


def bad_bodies() -> list[bytes]:
    """Every body the tests above send to be refused, plus a few more."""
    bodies = [first(case) for case in ENVELOPE_CASES]
    bodies += [invalid_utf8_body(), deeply_nested_body()]
    bodies += [json.dumps(too_many_events()).encode(), padded(MIB + 1)]
    bodies += [one(sent) for sent in bad_events()]
    bodies += [
        raw_event("user_created", '{"user_id": "u1", "user_id": "bad id"}', "d-1"),
        raw_event("no_such", '{"user_id": "u1"}', "d-1", extra='"type": "user_created", '),
        json.dumps(mixed_batch()).encode(),
        b'{"events": [{"type": "user_created", "event_id": "\\ud800", "timestamp": 1}]}',
        b'{"events": [' + b"1," * 999 + b"1]}",
        b'{"events": [1e999]}',
        b'\xef\xbb\xbf{"events": [1]}',
        b"\x00\x00\x00",
        b'{"events": [{"a": 1, "a": 2, "a": 3}]}',
    ]
    return list(dict.fromkeys(bodies))


def test_no_bad_body_is_ever_a_500(server: LiveServer) -> None:
    bodies = bad_bodies()
    assert len(bodies) > 150
    seen: dict[int, int] = {}
    for path in ("/v2/collect", "/collect"):
        for body in bodies:
            answer = collect(server).post(path, content=body)
            seen[answer.status_code] = seen.get(answer.status_code, 0) + 1
            assert answer.status_code in (200, 400, 413), (body[:200], answer.text)
            reply = answer.json()
            if answer.status_code == 200:
                sent = len(json.loads(body)["events"])
                counted = reply["accepted"] + reply["duplicates"]
                assert counted + len(reply["invalid_events"]) == sent
            else:
                assert reply["reason"] in ("COMMON.REQUEST_VALIDATION", "COMMON.PAYLOAD_TOO_LARGE")
    assert set(seen) == {200, 400, 413}
    assert post(server, batch(user_created("still-alive"))).json()["accepted"] == 1


def test_all_bad_events_in_one_batch_are_reported_at_their_index(server: LiveServer) -> None:
    """Each bad event refused alone, at its own index; the one good event stored."""
    events = bad_events()
    events.insert(7, user_created("the-good-one"))
    answer = post(server, {"events": events})
    assert answer.status_code == 200, answer.text
    reply = answer.json()
    assert reply["accepted"] == 1
    # same event_id and content twice counts as a duplicate, not as an invalid event
    indexes = [i["index"] for i in reply["invalid_events"]]
    assert 7 not in indexes
    assert len(indexes) + reply["duplicates"] == len(events) - 1
    assert indexes == sorted(indexes)
    for item in reply["invalid_events"]:
        assert item["error"].split(":")[0] in (item["field"], item["code"])
    kept = rejected(server)
    assert sorted(r["index"] for r in kept) == indexes
    for row in kept:
        assert json.loads(row["raw"]) == events[row["index"]]
    assert user(server, "the-good-one") is not None
    assert user(server, "u1") is None
