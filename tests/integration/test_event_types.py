"""Every event type of DESIGN.md section 2, sent to a live server and read back applied.

Users, things and their links through `/apispaces/{space}/users|things/{id}`, device events
through the thing's summary (status per key, last connection, firmware, counters), the consent
endpoint, and the event log of a user and of a thing (newest first, cursor pages).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from tests.support.server import LiveServer

pytestmark = pytest.mark.timeout(60)

CONSENT = "/v2/api/report/user_copilot_analysis_consent_changed"

# DESIGN.md section 2, the event catalogue, in its order.
CATALOGUE = [
    "user_created",
    "user_updated",
    "user_deleted",
    "thing_created",
    "thing_updated",
    "user_thing_associated",
    "user_thing_disassociated",
    "thing_status_changed",
    "thing_connected",
    "thing_interaction",
    "consumable_usage",
    "firmware_upgrade_started",
    "firmware_upgrade_completed",
    "custom_event",
    "unsubscribe",
    "preexisting_sync_started",
    "preexisting_sync_completed",
    "preexisting_user_created",
    "preexisting_thing_created",
    "preexisting_user_thing_associated",
]


@dataclass
class Space:
    """The live server's space, with clock-controlled events and JSON reads."""

    server: LiveServer
    collector: httpx.Client
    api: httpx.Client
    base: int  # a timestamp a minute ago: events at base + n are ordered by n

    @property
    def id(self) -> str:
        return self.server.tenant.space

    def event(
        self, type: str, payload: dict[str, Any], at: int = 0, prefix: str = ""
    ) -> dict[str, Any]:
        return {
            "type": type,
            "event_id": f"{prefix}{type}-{uuid.uuid4()}",
            "timestamp": self.base + at,
            "payload": payload,
        }

    def send(self, *events: dict[str, Any]) -> list[dict[str, Any]]:
        answer = self.collector.post("/v2/collect", json={"events": list(events)})
        assert answer.status_code == 200, answer.text
        body = answer.json()
        assert body["invalid_events"] == [], body
        assert body["accepted"] == len(events), body
        return list(events)

    def user(self, user_id: str) -> dict[str, Any]:
        return self.get(f"/users/{user_id}")

    def thing(self, thing_id: str) -> dict[str, Any]:
        return self.get(f"/things/{thing_id}/state")

    def get(self, path: str, **params: Any) -> dict[str, Any]:
        answer = self.api.get(f"/apispaces/{self.id}{path}", params=params)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def pages(self, path: str, limit: int = 2, **query: Any) -> list[list[dict[str, Any]]]:
        """Every page of an event listing, following `next_cursor` (bounded)."""
        out: list[list[dict[str, Any]]] = []
        cursor: str | None = None
        for _ in range(100):
            params: dict[str, Any] = {**query, "limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            page = self.get(path, **params)
            out.append(page["items"])
            cursor = page["next_cursor"]
            if cursor is None:
                return out
        raise AssertionError("the listing never ended")


@pytest.fixture
def space(server: LiveServer) -> Iterator[Space]:
    with server.collect_client() as collector, server.api_client() as api:
        yield Space(server, collector, api, now_ms() - 60_000)


# users ------------------------------------------------------------------------------------


def test_user_created_and_updated_merge_fields_and_custom_properties(space: Space) -> None:
    space.send(
        space.event(
            "user_created",
            {
                "user_id": "u-1",
                "first_name": "Juanita",
                "last_name": "Ortiz",
                "email": "juanita@example.com",
                "copilot_analysis_consent": True,
                "utc_offset": "-0500",
                "custom_properties": {"plan": "pro", "seats": 3, "beta": False},
            },
            at=1,
        ),
        space.event(
            "user_updated",
            {
                "user_id": "u-1",
                "last_name": "Ortiz-Diaz",
                "custom_properties": {"seats": 5, "vip": True},
            },
            at=2,
        ),
    )
    user = space.user("u-1")
    assert user["first_name"] == "Juanita"  # kept: the update did not name it
    assert user["last_name"] == "Ortiz-Diaz"
    assert user["email"] == "juanita@example.com"
    assert user["copilot_analysis_consent"] is True
    assert user["utc_offset"] == "-0500"
    assert user["custom_properties"] == {"plan": "pro", "seats": 5, "beta": False, "vip": True}
    assert user["created"] is True
    assert user["deleted"] is False
    assert user["unsubscribed"] is False
    assert user["things"] == []

    # An older update arriving late changes nothing it lost to a newer write (its event_id
    # sorts last, so only the timestamp can make it lose).
    space.send(
        space.event(
            "user_updated",
            {
                "user_id": "u-1",
                "last_name": "Old",
                "custom_properties": {"seats": 1, "region": "eu"},
            },
            at=0,
            prefix="zz-",
        )
    )
    user = space.user("u-1")
    assert user["last_name"] == "Ortiz-Diaz"
    assert user["custom_properties"] == {
        "plan": "pro",
        "seats": 5,
        "beta": False,
        "vip": True,
        "region": "eu",
    }


def test_user_deleted_hides_the_user_until_a_newer_live_update(space: Space) -> None:
    space.send(
        space.event("user_created", {"user_id": "gone", "first_name": "Gus"}, at=1),
        space.event("thing_created", {"thing_id": "gone-thing"}, at=1),
        space.event("user_thing_associated", {"user_id": "gone", "thing_id": "gone-thing"}, at=2),
        space.event("user_deleted", {"user_id": "gone"}, at=3),
    )
    user = space.user("gone")
    assert user["deleted"] is True
    assert user["first_name"] == "Gus"
    assert space.thing("gone-thing")["owners"] == []  # kept, not listed while deleted

    space.send(space.event("user_updated", {"user_id": "gone", "first_name": "Stale"}, at=2))
    assert space.user("gone")["deleted"] is True  # older than the deletion: a no-op on it

    space.send(space.event("user_updated", {"user_id": "gone", "last_name": "Back"}, at=4))
    user = space.user("gone")
    assert user["deleted"] is False
    assert user["last_name"] == "Back"
    assert [o["user_id"] for o in space.thing("gone-thing")["owners"]] == ["gone"]


def test_unsubscribe_marks_users_of_that_email(space: Space) -> None:
    space.send(
        space.event("user_created", {"user_id": "mail-1", "email": "Pat@Example.com"}, at=1),
        space.event("user_created", {"user_id": "mail-2", "email": "other@example.com"}, at=1),
        space.event("unsubscribe", {"email": "PAT@example.COM"}, at=2),
    )
    assert space.user("mail-1")["unsubscribed"] is True
    assert space.user("mail-2")["unsubscribed"] is False
    # A user who takes that address later is unsubscribed too.
    space.send(space.event("user_updated", {"user_id": "mail-2", "email": "pat@example.com"}, at=3))
    assert space.user("mail-2")["unsubscribed"] is True


# things and links -------------------------------------------------------------------------


def test_thing_created_and_updated(space: Space) -> None:
    space.send(
        space.event(
            "thing_created",
            {
                "thing_id": "63:64:78:26:b1:c7",
                "user_id": "owner-1",
                "model": "X1",
                "firmware_version": "1.0.0",
                "custom_properties": {"color": "red", "size": 2},
            },
            at=1,
        ),
        space.event(
            "thing_updated",
            {
                "thing_id": "63:64:78:26:b1:c7",
                "firmware_version": "1.0.1",
                "custom_properties": {"size": 3, "refurbished": True},
            },
            at=2,
        ),
    )
    thing = space.thing("63:64:78:26:b1:c7")
    assert thing["model"] == "X1"
    assert thing["firmware_version"] == "1.0.1"
    assert thing["user_id"] == "owner-1"
    assert thing["custom_properties"] == {"color": "red", "size": 3, "refurbished": True}
    assert thing["created"] is True
    # A user_id on a thing event is not an association.
    assert thing["owners"] == []
    assert space.user("owner-1")["things"] == []


def test_association_and_disassociation(space: Space) -> None:
    space.send(
        space.event("user_created", {"user_id": "assoc-u"}, at=1),
        space.event("thing_created", {"thing_id": "assoc-t1"}, at=1),
        space.event("user_thing_associated", {"user_id": "assoc-u", "thing_id": "assoc-t1"}, at=2),
        space.event("user_thing_associated", {"user_id": "assoc-u", "thing_id": "assoc-t2"}, at=3),
    )
    assert space.user("assoc-u")["things"] == [
        {"thing_id": "assoc-t1", "since": space.base + 2},
        {"thing_id": "assoc-t2", "since": space.base + 3},
    ]
    assert space.thing("assoc-t1")["owners"] == [{"user_id": "assoc-u", "since": space.base + 2}]
    # A thing first named by an association exists, known only by its id.
    ghost = space.thing("assoc-t2")
    assert ghost["created"] is False
    assert ghost["owners"] == [{"user_id": "assoc-u", "since": space.base + 3}]

    space.send(
        space.event(
            "user_thing_disassociated", {"user_id": "assoc-u", "thing_id": "assoc-t1"}, at=4
        )
    )
    assert space.user("assoc-u")["things"] == [{"thing_id": "assoc-t2", "since": space.base + 3}]
    assert space.thing("assoc-t1")["owners"] == []
    # An association older than the disassociation arrives late: still disassociated.
    space.send(
        space.event("user_thing_associated", {"user_id": "assoc-u", "thing_id": "assoc-t1"}, at=3)
    )
    assert space.thing("assoc-t1")["owners"] == []


# device events ----------------------------------------------------------------------------


def test_thing_status_changed_keeps_the_latest_status_per_key(space: Space) -> None:
    d = space.base
    space.send(
        space.event(
            "thing_status_changed",
            {
                "thing_id": "st-1",
                "status_key": "battery",
                "status_value": 80,
                "status_date": d + 10,
            },
            at=10,
        ),
        space.event(
            "thing_status_changed",
            {"thing_id": "st-1", "status_key": "battery", "status_value": 90, "status_date": d + 5},
            at=11,
        ),
        space.event(
            "thing_status_changed",
            {
                "thing_id": "st-1",
                "status_key": "door",
                "status_value": "open",
                "user_id": "st-user",
            },
            at=12,
        ),
    )
    thing = space.thing("st-1")
    assert thing["status"] == {
        "battery": {"value": 80, "date": d + 10},  # the newer status_date wins, not arrival
        "door": {"value": "open", "date": d + 12},  # no status_date: the event's timestamp
    }
    assert thing["counters"]["status_changes"] == 3
    assert space.user("st-user")["user_id"] == "st-user"  # named, so it exists


def test_thing_connected_records_last_connection_and_count(space: Space) -> None:
    space.send(
        space.event("thing_connected", {"thing_id": "conn-1"}, at=20),
        space.event("thing_connected", {"thing_id": "conn-1", "user_id": "conn-u"}, at=30),
        space.event("thing_connected", {"thing_id": "conn-1"}, at=25),
    )
    thing = space.thing("conn-1")
    assert thing["last_connected_at"] == space.base + 30
    assert thing["counters"]["connections"] == 3


def test_interactions_consumables_and_custom_events_are_counted(space: Space) -> None:
    space.send(
        space.event(
            "thing_interaction", {"thing_id": "cnt-1", "button": "power", "times": 2}, at=1
        ),
        space.event("thing_interaction", {"thing_id": "cnt-1", "user_id": "cnt-u"}, at=2),
        space.event("consumable_usage", {"thing_id": "cnt-1", "consumable_type": "filter"}, at=3),
        space.event(
            "consumable_usage",
            {"thing_id": "cnt-1", "consumable_type": "filter", "user_id": "cnt-u"},
            at=4,
        ),
        space.event("consumable_usage", {"thing_id": "cnt-1", "consumable_type": "pod"}, at=5),
        space.event("custom_event", {"subtype": "descaled", "thing_id": "cnt-1", "level": 3}, at=6),
        space.event("custom_event", {"subtype": "app_opened", "user_id": "cnt-u"}, at=7),
    )
    counters = space.thing("cnt-1")["counters"]
    assert counters == {
        "interactions": 2,
        "consumables.filter": 2,
        "consumables.pod": 1,
        "custom_events.descaled": 1,
    }
    # Free-form fields are kept in the log as sent.
    [interaction] = space.get("/events", type="thing_interaction", thing_id="cnt-1", limit=1)[
        "items"
    ]
    assert interaction["payload"] == {"thing_id": "cnt-1", "user_id": "cnt-u"}
    [custom] = space.get("/users/cnt-u/events", type="custom_event")["items"]
    assert custom["payload"] == {"subtype": "app_opened", "user_id": "cnt-u"}


def test_firmware_upgrade_started_then_completed(space: Space) -> None:
    space.send(
        space.event("thing_created", {"thing_id": "fw-1", "firmware_version": "1.0"}, at=1),
        space.event(
            "firmware_upgrade_started", {"thing_id": "fw-1", "firmware_version": "2.0"}, at=2
        ),
    )
    thing = space.thing("fw-1")
    assert thing["firmware_upgrade"] == {"state": "started", "version": "2.0"}
    assert thing["firmware_version"] == "1.0"  # not yet

    space.send(
        space.event(
            "firmware_upgrade_completed",
            {"thing_id": "fw-1", "firmware_version": "2.0", "user_id": "fw-u"},
            at=3,
        )
    )
    thing = space.thing("fw-1")
    assert thing["firmware_upgrade"] == {"state": "completed", "version": "2.0"}
    assert thing["firmware_version"] == "2.0"
    assert thing["counters"]["firmware_upgrades_started"] == 1
    assert thing["counters"]["firmware_upgrades_completed"] == 1


# the preexisting sync ----------------------------------------------------------------------


def test_preexisting_events_fill_gaps_and_never_overwrite_live_ones(space: Space) -> None:
    space.send(space.event("user_created", {"user_id": "pre-u", "first_name": "Live"}, at=1))
    space.send(
        space.event("preexisting_sync_started", {}),
        space.event(
            "preexisting_user_created",
            {
                "user_id": "pre-u",
                "first_name": "Backfill",
                "last_name": "Filled",
                "original_creation_date": 1_556_849_038_000,
            },
            at=50,
        ),
        space.event(
            "preexisting_thing_created",
            {
                "thing_id": "pre-t",
                "model": "M",
                "firmware_version": "0.9",
                "original_creation_date": 1_556_849_039_000,
            },
            at=50,
        ),
        space.event(
            "preexisting_user_thing_associated",
            {
                "user_id": "pre-u",
                "thing_id": "pre-t",
                "original_association_date": 1_556_849_040_000,
            },
            at=50,
        ),
        space.event("preexisting_sync_completed", {}),
    )
    user = space.user("pre-u")
    assert user["first_name"] == "Live"  # live wins whatever the timestamps
    assert user["last_name"] == "Filled"  # the backfill fills the gap
    assert user["original_creation_date"] == 1_556_849_038_000
    assert user["things"] == [{"thing_id": "pre-t", "since": 1_556_849_040_000}]
    thing = space.thing("pre-t")
    assert (thing["model"], thing["firmware_version"]) == ("M", "0.9")
    assert thing["original_creation_date"] == 1_556_849_039_000
    sync = space.get("/sync")
    assert sync["status"] == "completed"
    assert sync["report"]["totals"] == {"users": 1, "things": 1, "associations": 1, "rejected": 0}


def test_every_catalogued_type_is_accepted_and_logged(space: Space) -> None:
    payloads: dict[str, dict[str, Any]] = {
        "preexisting_sync_started": {},
        "preexisting_user_created": {"user_id": "all-pre-u"},
        "preexisting_thing_created": {"thing_id": "all-pre-t"},
        "preexisting_user_thing_associated": {"user_id": "all-pre-u", "thing_id": "all-pre-t"},
        "preexisting_sync_completed": {},
        "user_created": {"user_id": "all-u"},
        "user_updated": {"user_id": "all-u", "first_name": "A"},
        "thing_created": {"thing_id": "all-t"},
        "thing_updated": {"thing_id": "all-t", "model": "m"},
        "user_thing_associated": {"user_id": "all-u", "thing_id": "all-t"},
        "user_thing_disassociated": {"user_id": "all-u", "thing_id": "all-t"},
        "thing_status_changed": {"thing_id": "all-t", "status_key": "k", "status_value": True},
        "thing_connected": {"thing_id": "all-t"},
        "thing_interaction": {"thing_id": "all-t"},
        "consumable_usage": {"thing_id": "all-t", "consumable_type": "ink"},
        "firmware_upgrade_started": {"thing_id": "all-t"},
        "firmware_upgrade_completed": {"thing_id": "all-t"},
        "custom_event": {"subtype": "s", "thing_id": "all-t"},
        "unsubscribe": {"email": "all@example.com"},
        "user_deleted": {"user_id": "all-u"},
    }
    assert sorted(payloads) == sorted(CATALOGUE)
    sent = space.send(*(space.event(t, p, at=i) for i, (t, p) in enumerate(payloads.items())))
    for event in sent:
        [logged] = space.get("/events", type=event["type"])["items"]
        assert logged["event_id"] == event["event_id"]
        assert logged["timestamp"] == event["timestamp"]


# the consent endpoint ---------------------------------------------------------------------


def test_consent_endpoint_changes_the_user(space: Space, server: LiveServer) -> None:
    space.send(
        space.event(
            "user_created", {"user_id": "consent-u", "copilot_analysis_consent": False}, at=1
        )
    )
    answer = space.collector.post(CONSENT, json={"user_id": "consent-u", "consent_value": True})
    assert answer.status_code == 204
    assert answer.content == b""
    assert space.user("consent-u")["copilot_analysis_consent"] is True
    [logged] = space.get("/users/consent-u/events", type="user_updated")["items"]
    assert logged["payload"]["copilot_analysis_consent"] is True

    answer = space.collector.post(CONSENT, json={"user_id": "consent-u", "consent_value": False})
    assert answer.status_code == 204
    assert space.user("consent-u")["copilot_analysis_consent"] is False


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"user_id": "consent-u"}, "consent_value"),
        ({"user_id": "consent-u", "consent_value": "yes"}, "consent_value"),
        ({"consent_value": True}, "user_id"),
        ({"user_id": "not valid!", "consent_value": True}, "user_id"),
        ({"user_id": "consent-u", "consent_value": True, "extra": 1}, "extra"),
    ],
)
def test_consent_endpoint_names_the_bad_field(
    space: Space, body: dict[str, Any], field: str
) -> None:
    answer = space.collector.post(CONSENT, json=body)
    assert answer.status_code == 400
    error = answer.json()
    assert error["reason"] == "COMMON.REQUEST_VALIDATION"
    assert field in error["error_message"]
    assert space.get("/events", type="user_updated")["items"] == []  # nothing written


def test_consent_endpoint_requires_collect_credentials(space: Space, server: LiveServer) -> None:
    body = {"user_id": "consent-u", "consent_value": True}
    wrong = server.tenant.client_id, "not-the-secret"
    refused = [
        httpx.post(f"{server.url}{CONSENT}", json=body, auth=wrong, timeout=10),
        httpx.post(f"{server.url}{CONSENT}", json=body, timeout=10),
        httpx.post(
            f"{server.url}{CONSENT}",
            json=body,
            timeout=10,
            headers={"Authorization": f"Bearer {server.tenant.api_token}"},
        ),
    ]
    for answer in refused:
        assert answer.status_code == 401
        assert answer.json()["reason"] == "AUTH.UNAUTHORIZED"
    # Another tenant's credentials change only that tenant's users.
    other = server.new_tenant()
    with server.collect_client(other) as client:
        assert client.post(CONSENT, json=body).status_code == 204
    assert space.api.get(f"/apispaces/{space.id}/users/consent-u").status_code == 404


# the event log ----------------------------------------------------------------------------


def test_events_of_a_user_and_of_a_thing_newest_first_in_pages(space: Space) -> None:
    sent = space.send(
        space.event("user_created", {"user_id": "log-u"}, at=1),
        space.event("thing_created", {"thing_id": "log-t"}, at=2),
        space.event("user_thing_associated", {"user_id": "log-u", "thing_id": "log-t"}, at=3),
        space.event("thing_connected", {"thing_id": "log-t", "user_id": "log-u"}, at=4),
        space.event(
            "thing_status_changed",
            {"thing_id": "log-t", "status_key": "k", "status_value": 1},
            at=5,
        ),
        # Two events at the same millisecond: the event_id orders them.
        space.event("user_updated", {"user_id": "log-u"}, at=6),
        space.event("user_updated", {"user_id": "log-u", "first_name": "Tie"}, at=6),
        space.event("user_created", {"user_id": "somebody-else"}, at=7),
    )

    def newest_first(events: list[dict[str, Any]]) -> list[str]:
        ordered = sorted(events, key=lambda e: (e["timestamp"], e["event_id"]), reverse=True)
        return [e["event_id"] for e in ordered]

    of_user = [e for e in sent if e["payload"].get("user_id") == "log-u"]
    of_thing = [e for e in sent if e["payload"].get("thing_id") == "log-t"]
    for path, expected in (("/users/log-u/events", of_user), ("/things/log-t/events", of_thing)):
        pages = space.pages(path, limit=2)
        assert [len(p) for p in pages[:-1]] == [2] * (len(pages) - 1)
        assert 1 <= len(pages[-1]) <= 2
        listed = [item["event_id"] for page in pages for item in page]
        assert listed == newest_first(expected)
        assert len(pages) == (len(expected) + 1) // 2
    # The query-string form lists the same.
    by_query = space.pages("/events", limit=3, user_id="log-u")
    assert [i["event_id"] for p in by_query for i in p] == newest_first(of_user)

    bad = space.api.get(f"/apispaces/{space.id}/users/log-u/events", params={"cursor": "%%%"})
    assert bad.status_code == 400
    assert "cursor" in bad.json()["error_message"]
