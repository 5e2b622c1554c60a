"""DESIGN sections 1-3 on real SQLite: precedence of live events over the preexisting sync,
tombstones, entities known only by id, associations, unsubscribes, and tenant isolation
through a live server.

State scenarios run in both arrival orders, one request per event, so each rule is checked
against the order that would break a naive implementation.
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Callable
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from syncline.schemas.collect import CollectResponse
from syncline.services import ingest, spaces, views
from syncline.storage.interface import Storage
from tests.support.events import event
from tests.support.server import LiveServer, Tenant

ORDERS = ["as_listed", "reversed"]
NOW = now_ms()
ORIGINAL = 1_556_849_038_000


def at(seconds_ago: int) -> int:
    return NOW - seconds_ago * 1000


def send(storage: Storage, space: str, *events: dict[str, Any]) -> CollectResponse:
    """One Collect request through the real decoding and commit path."""
    now = now_ms()
    decoded = ingest.decode_request(
        json.dumps({"events": list(events)}).encode(), now, ingest.Limits()
    )
    with storage.unit_of_work() as uow:
        return ingest.commit(uow, space, decoded, now)


def deliver(storage: Storage, space: str, events: list[dict[str, Any]], order: str) -> None:
    """Each event in its own request, in the given order; every one must be accepted."""
    for e in events if order == "as_listed" else events[::-1]:
        answer = send(storage, space, e)
        assert (answer.accepted, answer.invalid_events) == (1, []), answer


def open_sync(storage: Storage, space: str) -> None:
    assert send(storage, space, event("preexisting_sync_started", {})).accepted == 1


def user_view(storage: Storage, space: str, user_id: str) -> dict[str, Any]:
    return views.user(storage.reader(), space, user_id)


def thing_view(storage: Storage, space: str, thing_id: str) -> dict[str, Any]:
    return views.thing(storage.reader(), space, thing_id)


# live events win over the preexisting sync ----------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_newer_preexisting_user_fills_gaps_but_never_overwrites_live(
    storage: Storage, space: str, order: str
) -> None:
    open_sync(storage, space)
    live = event(
        "user_created",
        {"user_id": "u1", "first_name": "Live", "email": "live@example.com"},
        timestamp=at(600),
    )
    backfill = event(
        "preexisting_user_created",
        {
            "user_id": "u1",
            "first_name": "Backfill",
            "last_name": "Filled",
            "email": "backfill@example.com",
            "utc_offset": "+0100",
            "original_creation_date": ORIGINAL,
        },
        timestamp=at(1),  # much newer than the live event: precedence still decides
    )
    deliver(storage, space, [live, backfill], order)
    view = user_view(storage, space, "u1")
    assert view["first_name"] == "Live"
    assert view["email"] == "live@example.com"
    assert view["last_name"] == "Filled"
    assert view["utc_offset"] == "+0100"
    assert view["original_creation_date"] == ORIGINAL
    assert (view["created"], view["deleted"]) == (True, False)
    assert view["first_seen"] == at(600)


@pytest.mark.parametrize("order", ORDERS)
def test_newer_preexisting_thing_and_link_never_overwrite_live(
    storage: Storage, space: str, order: str
) -> None:
    open_sync(storage, space)
    events = [
        event("thing_created", {"thing_id": "t1", "model": "live-model"}, timestamp=at(600)),
        event("user_created", {"user_id": "u1"}, timestamp=at(600)),
        event("user_thing_associated", {"user_id": "u1", "thing_id": "t1"}, timestamp=at(500)),
        event("user_thing_disassociated", {"user_id": "u1", "thing_id": "t1"}, timestamp=at(400)),
        event(
            "preexisting_thing_created",
            {"thing_id": "t1", "model": "old-model", "firmware_version": "1.2"},
            timestamp=at(1),
        ),
        event(
            "preexisting_user_thing_associated",
            {"user_id": "u1", "thing_id": "t1", "original_association_date": ORIGINAL},
            timestamp=at(1),
        ),
    ]
    deliver(storage, space, events, order)
    thing = thing_view(storage, space, "t1")
    assert thing["model"] == "live-model"
    assert thing["firmware_version"] == "1.2"
    [link] = storage.reader().associations_of_user(space, "u1")
    assert (link.associated, link.since) == (False, None)
    assert user_view(storage, space, "u1")["things"] == []


@pytest.mark.parametrize("order", ORDERS)
def test_preexisting_link_fills_a_gap(storage: Storage, space: str, order: str) -> None:
    open_sync(storage, space)
    events = [
        event("user_created", {"user_id": "u1"}, timestamp=at(60)),
        event(
            "preexisting_user_thing_associated",
            {"user_id": "u1", "thing_id": "t1", "original_association_date": ORIGINAL},
            timestamp=at(30),
        ),
    ]
    deliver(storage, space, events, order)
    assert user_view(storage, space, "u1")["things"] == [{"thing_id": "t1", "since": ORIGINAL}]


# deletion is a tombstone ----------------------------------------------------------------------


@pytest.mark.parametrize("order", ORDERS)
def test_backfill_never_resurrects_a_live_deletion(
    storage: Storage, space: str, order: str
) -> None:
    open_sync(storage, space)
    events = [
        event("user_created", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(600)),
        event("user_deleted", {"user_id": "u1"}, timestamp=at(500)),
        event(
            "preexisting_user_created",
            {"user_id": "u1", "first_name": "Ghost", "original_creation_date": ORIGINAL},
            timestamp=at(1),
        ),
    ]
    deliver(storage, space, events, order)
    view = user_view(storage, space, "u1")
    assert view["deleted"] is True
    assert view["first_name"] == "Ann"


@pytest.mark.parametrize("order", ORDERS)
@pytest.mark.parametrize(
    ("kind", "seconds_ago", "deleted"),
    [
        pytest.param("user_updated", 100, False, id="newer-update-undeletes"),
        pytest.param("user_created", 100, False, id="newer-create-undeletes"),
        pytest.param("user_updated", 900, True, id="older-update-does-not"),
        pytest.param("user_created", 900, True, id="older-create-does-not"),
    ],
)
def test_live_write_undeletes_only_when_newer(
    storage: Storage, space: str, order: str, kind: str, seconds_ago: int, deleted: bool
) -> None:
    events = [
        event("user_created", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(1000)),
        event("user_deleted", {"user_id": "u1"}, timestamp=at(500)),
        event(kind, {"user_id": "u1", "last_name": "Lee"}, timestamp=at(seconds_ago)),
    ]
    deliver(storage, space, events, order)
    view = user_view(storage, space, "u1")
    assert view["deleted"] is deleted
    assert view["first_name"] == "Ann"


def test_equal_timestamps_break_the_tie_by_event_id(storage: Storage, space: str) -> None:
    ts = at(100)
    deliver(
        storage,
        space,
        [
            event("user_deleted", {"user_id": "u1"}, event_id="b-delete", timestamp=ts),
            event("user_updated", {"user_id": "u1"}, event_id="a-update", timestamp=ts),
            event("user_deleted", {"user_id": "u2"}, event_id="a-delete", timestamp=ts),
            event("user_updated", {"user_id": "u2"}, event_id="b-update", timestamp=ts),
        ],
        "as_listed",
    )
    assert user_view(storage, space, "u1")["deleted"] is True
    assert user_view(storage, space, "u2")["deleted"] is False


# a re-reported value keeps its newer clock ----------------------------------------------------

REREPORTS: dict[str, tuple[list[dict[str, Any]], Callable[[Storage, str], Any], Any]] = {
    "thing": (
        [
            event("thing_updated", {"thing_id": "t1", "model": "m1"}, timestamp=at(300)),
            event("thing_updated", {"thing_id": "t1", "model": "m1"}, timestamp=at(100)),
            event("thing_updated", {"thing_id": "t1", "model": "m2"}, timestamp=at(200)),
        ],
        lambda storage, space: thing_view(storage, space, "t1")["model"],
        "m1",
    ),
    "user": (
        [
            event("user_deleted", {"user_id": "u1"}, timestamp=at(50)),
            event("user_updated", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(300)),
            event("user_updated", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(100)),
            event("user_updated", {"user_id": "u1", "first_name": "Bob"}, timestamp=at(200)),
        ],
        lambda storage, space: user_view(storage, space, "u1")["first_name"],
        "Ann",
    ),
    "custom": (
        [
            event(
                "user_updated",
                {"user_id": "u1", "custom_properties": {"plan": "a"}},
                timestamp=at(300),
            ),
            event(
                "user_updated",
                {"user_id": "u1", "custom_properties": {"plan": "a"}},
                timestamp=at(100),
            ),
            event(
                "user_updated",
                {"user_id": "u1", "custom_properties": {"plan": "b"}},
                timestamp=at(200),
            ),
            event("user_deleted", {"user_id": "u1"}, timestamp=at(50)),
        ],
        lambda storage, space: user_view(storage, space, "u1")["custom_properties"]["plan"],
        "a",
    ),
}


@pytest.mark.parametrize("entity", sorted(REREPORTS))
def test_a_rereported_equal_value_outranks_an_older_write_in_every_order(
    storage: Storage, entity: str
) -> None:
    """Regression: a winning write of an equal value used to move the register's clock in
    memory only (the state was not saved), so an older write arriving later could win."""
    events, read, expected = REREPORTS[entity]
    results = set()
    for order in itertools.permutations(events):
        with storage.unit_of_work() as uow:  # a fresh space per order: state is per space
            space = spaces.create_space(uow, 1, "t", now_ms()).api_space_id
        deliver(storage, space, list(order), "as_listed")
        results.add(read(storage, space))
    assert results == {expected}


# entities known only by id --------------------------------------------------------------------

REFERENCES = [
    pytest.param(
        "user_thing_associated", {"user_id": "u1", "thing_id": "t1"}, True, True, id="assoc"
    ),
    pytest.param(
        "user_thing_disassociated", {"user_id": "u1", "thing_id": "t1"}, True, True, id="dis"
    ),
    pytest.param(
        "thing_status_changed",
        {"thing_id": "t1", "status_key": "power", "status_value": "on", "user_id": "u1"},
        True,
        True,
        id="status-with-user",
    ),
    pytest.param("thing_created", {"thing_id": "t9", "user_id": "u1"}, True, False, id="thing"),
    pytest.param(
        "custom_event", {"subtype": "click", "user_id": "u1"}, True, False, id="custom-user"
    ),
    pytest.param(
        "custom_event", {"subtype": "click", "thing_id": "t1"}, False, True, id="custom-thing"
    ),
    pytest.param("thing_connected", {"thing_id": "t1", "user_id": "u1"}, True, True, id="conn"),
    pytest.param(
        "firmware_upgrade_completed",
        {"thing_id": "t1", "firmware_version": "2.0", "user_id": "u1"},
        True,
        True,
        id="firmware",
    ),
    pytest.param(
        "consumable_usage", {"thing_id": "t1", "consumable_type": "filter"}, False, True, id="cons"
    ),
]


@pytest.mark.parametrize(("kind", "payload", "users", "things"), REFERENCES)
def test_unknown_ids_are_created_known_only_by_id(
    storage: Storage,
    space: str,
    kind: str,
    payload: dict[str, Any],
    users: bool,
    things: bool,
) -> None:
    deliver(storage, space, [event(kind, payload, timestamp=at(300))], "as_listed")
    reader = storage.reader()
    user = reader.user(space, "u1")
    if users:
        assert user is not None
        assert user.view() == {
            "user_id": "u1",
            "deleted": False,
            "unsubscribed": False,
            "created": False,
        }
        assert user.first_seen == at(300)
    else:
        assert user is None
    thing = reader.thing(space, "t1")
    if things:
        assert thing is not None
        assert (thing.created, thing.first_seen) == (False, at(300))
        assert "model" not in thing.view()
    else:
        assert thing is None

    # a later *_created fills them in; first_seen keeps the earliest event
    later = [event("user_created", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(10))]
    later.append(event("thing_created", {"thing_id": "t1", "model": "m1"}, timestamp=at(10)))
    deliver(storage, space, later, "as_listed")
    view = user_view(storage, space, "u1")
    assert (view["created"], view["first_name"]) == (True, "Ann")
    assert view["first_seen"] == (at(300) if users else at(10))
    thing_state = thing_view(storage, space, "t1")
    assert (thing_state["created"], thing_state["model"]) == (True, "m1")
    assert thing_state["first_seen"] == (at(300) if things else at(10))


@pytest.mark.parametrize("order", ORDERS)
def test_created_fills_in_an_entity_first_known_by_id(
    storage: Storage, space: str, order: str
) -> None:
    events = [
        event("user_thing_associated", {"user_id": "u1", "thing_id": "t1"}, timestamp=at(500)),
        event("user_created", {"user_id": "u1", "first_name": "Ann"}, timestamp=at(600)),
        event("thing_created", {"thing_id": "t1", "model": "m1"}, timestamp=at(700)),
    ]
    deliver(storage, space, events, order)
    user = user_view(storage, space, "u1")
    assert (user["created"], user["first_name"], user["first_seen"]) == (True, "Ann", at(600))
    assert user["things"] == [{"thing_id": "t1", "since": at(500)}]
    thing = thing_view(storage, space, "t1")
    assert (thing["created"], thing["model"], thing["first_seen"]) == (True, "m1", at(700))
    assert thing["owners"] == [{"user_id": "u1", "since": at(500)}]


def test_thing_created_user_id_is_not_an_association(storage: Storage, space: str) -> None:
    deliver(
        storage,
        space,
        [
            event("user_created", {"user_id": "u1"}, timestamp=at(60)),
            event("thing_created", {"thing_id": "t1", "user_id": "u1"}, timestamp=at(50)),
            event("thing_updated", {"thing_id": "t2", "user_id": "u1"}, timestamp=at(40)),
            event("preexisting_sync_started", {}, timestamp=at(35)),
            event(
                "preexisting_thing_created", {"thing_id": "t3", "user_id": "u1"}, timestamp=at(30)
            ),
        ],
        "as_listed",
    )
    reader = storage.reader()
    assert reader.associations_of_user(space, "u1") == []
    for thing_id in ("t1", "t2", "t3"):
        assert reader.associations_of_thing(space, thing_id) == []
        thing = thing_view(storage, space, thing_id)
        assert (thing["user_id"], thing["owners"]) == ("u1", [])
    assert user_view(storage, space, "u1")["things"] == []


# unsubscribe by email -------------------------------------------------------------------------


def test_unsubscribe_marks_existing_and_later_users_case_insensitively(
    storage: Storage, space: str
) -> None:
    deliver(
        storage,
        space,
        [
            event("user_created", {"user_id": "ann", "email": "Ann.Lee@Example.com"}),
            event("user_created", {"user_id": "bob", "email": "bob@example.org"}),
            event("user_created", {"user_id": "dan", "email": "dan@example.org"}),
        ],
        "as_listed",
    )
    deliver(storage, space, [event("unsubscribe", {"email": "ann.lee@EXAMPLE.COM"})], "as_listed")
    assert user_view(storage, space, "ann")["unsubscribed"] is True
    assert user_view(storage, space, "bob")["unsubscribed"] is False

    deliver(
        storage,
        space,
        [
            event("user_created", {"user_id": "cat", "email": "ANN.LEE@example.com"}),
            event("user_updated", {"user_id": "dan", "email": "ann.lee@example.com"}),
        ],
        "as_listed",
    )
    assert user_view(storage, space, "cat")["unsubscribed"] is True
    assert user_view(storage, space, "dan")["unsubscribed"] is True
    assert user_view(storage, space, "bob")["unsubscribed"] is False


def test_unsubscribe_in_the_same_request_as_the_user(storage: Storage, space: str) -> None:
    answer = send(
        storage,
        space,
        event("unsubscribe", {"email": "eve@example.net"}),
        event("user_created", {"user_id": "eve", "email": "Eve@Example.net"}),
        event("user_created", {"user_id": "fay", "email": "fay@example.net"}),
    )
    assert (answer.accepted, answer.invalid_events) == (3, [])
    assert user_view(storage, space, "eve")["unsubscribed"] is True
    assert user_view(storage, space, "fay")["unsubscribed"] is False


def test_unsubscribe_of_another_space_changes_nothing(storage: Storage, space: str) -> None:
    with storage.unit_of_work() as uow:
        other = spaces.create_space(uow, 2, "other", now_ms()).api_space_id
    deliver(
        storage, space, [event("user_created", {"user_id": "ann", "email": "a@b.io"})], "as_listed"
    )
    deliver(storage, other, [event("unsubscribe", {"email": "a@b.io"})], "as_listed")
    deliver(
        storage, other, [event("user_created", {"user_id": "ann", "email": "a@b.io"})], "as_listed"
    )
    assert user_view(storage, space, "ann")["unsubscribed"] is False
    assert user_view(storage, other, "ann")["unsubscribed"] is True


# tenancy through the live server --------------------------------------------------------------


def collect(server: LiveServer, tenant: Tenant, *events: dict[str, Any]) -> httpx.Response:
    with server.collect_client(tenant) as client:
        return client.post("/v2/collect", json={"events": list(events)})


def test_collect_credentials_of_another_space_never_touch_this_one(server: LiveServer) -> None:
    a, b = server.tenant, server.new_tenant(account=2)
    answer = collect(
        server, a, event("user_created", {"user_id": "u1", "first_name": "Alice"}, timestamp=at(60))
    )
    assert answer.json()["accepted"] == 1
    answer = collect(
        server,
        b,
        event("user_created", {"user_id": "u1", "first_name": "Mallory"}, timestamp=at(30)),
        event("user_thing_associated", {"user_id": "u1", "thing_id": "t1"}, timestamp=at(20)),
        event("user_deleted", {"user_id": "u1"}, timestamp=at(10)),
    )
    assert answer.json()["accepted"] == 3
    with server.api_client(a) as api:
        mine = api.get(f"/apispaces/{a.space}/users/u1")
        assert mine.status_code == 200
        assert api.get(f"/apispaces/{a.space}/things/t1").status_code == 404
        log = api.get(f"/apispaces/{a.space}/events").json()["items"]
    assert (mine.json()["first_name"], mine.json()["deleted"]) == ("Alice", False)
    assert mine.json()["things"] == []
    assert [e["type"] for e in log] == ["user_created"]
    with server.api_client(b) as api:
        theirs = api.get(f"/apispaces/{b.space}/users/u1").json()
    assert (theirs["first_name"], theirs["deleted"]) == ("Mallory", True)


def test_api_token_of_another_space_gets_404(server: LiveServer) -> None:
    a, b = server.tenant, server.new_tenant(account=2)
    answer = collect(
        server,
        b,
        event("user_created", {"user_id": "u1"}),
        event("thing_created", {"thing_id": "t1"}),
        event("preexisting_user_created", {"user_id": "u2"}),  # rejected: no sync open
    )
    assert len(answer.json()["invalid_events"]) == 1
    reads = [
        f"/apispaces/{b.space}/users/u1",
        f"/apispaces/{b.space}/users/u1/events",
        f"/apispaces/{b.space}/things/t1",
        f"/apispaces/{b.space}/things/t1/events",
        f"/apispaces/{b.space}/rejected",
        f"/apispaces/{b.space}/events",
        f"/apispaces/{b.space}/sync",
    ]
    writes = [f"/apispaces/{b.space}/sync/reopen", f"/apispaces/{b.space}/rejected/replay"]
    with server.api_client(b) as owner:  # the paths exist and answer their own space
        for path in reads:
            assert owner.get(path).status_code == 200, path
    with server.api_client(a) as intruder:
        for path in reads:
            got = intruder.get(path)
            assert (got.status_code, got.json()["reason"]) == (404, "COMMON.NOT_FOUND"), path
        for path in writes:
            got = intruder.post(path, json={})
            assert (got.status_code, got.json()["reason"]) == (404, "COMMON.NOT_FOUND"), path
        assert (
            intruder.get("/apispaces/00000000-0000-0000-0000-000000000000/sync").status_code == 404
        )
    with server.api_client(b) as owner:  # the refused writes changed nothing
        assert owner.get(f"/apispaces/{b.space}/sync").json()["status"] == "not_started"
        [pending] = owner.get(f"/apispaces/{b.space}/rejected").json()["items"]
        assert (pending["status"], pending["replay_count"]) == ("pending", 0)


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_wrong_or_revoked_credentials_get_401(server: LiveServer) -> None:
    tenant = server.new_tenant(account=3)
    path = f"/apispaces/{tenant.space}/sync"
    prefix, credential_id, _ = tenant.api_token.split(".")
    refused: list[dict[str, str]] = [
        {},
        bearer("nope"),
        bearer(f"{prefix}.{credential_id}.wrong-secret"),
        bearer(f"{prefix}.{'0' * 32}.wrong-secret"),
        {"Authorization": "Basic " + tenant.api_token},
    ]
    with httpx.Client(base_url=server.url, timeout=30) as client:
        assert client.get(path, headers=bearer(tenant.api_token)).status_code == 200
        for headers in refused:
            got = client.get(path, headers=headers)
            assert (got.status_code, got.json()["reason"]) == (401, "AUTH.UNAUTHORIZED"), headers

        with server.storage.unit_of_work() as uow:
            issued = spaces.rotate(
                uow, server.storage.reader(), tenant.space, spaces.API_TOKEN, NOW
            )
            spaces.rotate(uow, server.storage.reader(), tenant.space, spaces.COLLECT, NOW)
        revoked = client.get(path, headers=bearer(tenant.api_token))
        assert (revoked.status_code, revoked.json()["reason"]) == (401, "AUTH.UNAUTHORIZED")
        assert client.get(path, headers=bearer(issued["apiToken"])).status_code == 200

    stale = collect(server, tenant, event("user_created", {"user_id": "u1"}))
    assert stale.status_code == 401
    wrong = Tenant(tenant.space, tenant.client_id, "not-the-secret", tenant.api_token)
    assert collect(server, wrong, event("user_created", {"user_id": "u1"})).status_code == 401
    with server.api_client(Tenant(tenant.space, "", "", issued["apiToken"])) as api:
        assert api.get(f"/apispaces/{tenant.space}/users/u1").status_code == 404
