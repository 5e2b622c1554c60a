"""DESIGN section 4 against a live server: the Comapi-compatible Profiles and Things API.

Profiles are built through `POST /v2/collect` and through the API's own writes, then read back
over HTTP: the mapped document and its system fields, ETag and `If-None-Match`, revision rules,
every query operator with `Link` pagination, replace/merge with `If-Match`, soft delete and
undelete, history, things, and tenant isolation.

One server per module; every test works in its own API space (or on ids of its own), so tests
never see each other's profiles.
"""

from __future__ import annotations

import base64
import re
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from syncline.schemas.canonical import etag
from tests.support.databases import Databases
from tests.support.server import LiveServer, Tenant, live_server

pytestmark = pytest.mark.timeout(120)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")
ETAG_FORM = re.compile(r'^"[0-9a-f]+-[A-Za-z0-9+/]{27}"$')
ORIGINAL = 1_556_849_038_123  # 2019-05-03T02:03:58.123Z


def iso(millis: int) -> str:
    """ISO 8601 UTC with milliseconds, computed here independently of syncline."""
    moment = datetime.fromtimestamp(millis // 1000, tz=UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S") + f".{millis % 1000:03d}Z"


def content(doc: dict[str, Any]) -> dict[str, Any]:
    """The document without its system fields: what the ETag covers."""
    return {k: v for k, v in doc.items() if not k.startswith("_")}


@dataclass
class Hub:
    """One API space of the live server: collect events, call the Profiles API."""

    server: LiveServer
    tenant: Tenant
    collector: httpx.Client
    api: httpx.Client
    base: int = field(default_factory=lambda: now_ms() - 120_000)

    @property
    def space(self) -> str:
        return self.tenant.space

    @property
    def credential(self) -> str:
        """The API token's credential id (the token is `sl.<credential id>.<secret>`)."""
        return self.tenant.api_token.split(".")[1]

    def ev(
        self, type: str, payload: dict[str, Any], at: int = 0, event_id: str | None = None
    ) -> dict[str, Any]:
        """An event at `base + at` ms: explicit timestamps, so order never depends on luck."""
        return {
            "type": type,
            "event_id": event_id or f"{type}-{uuid.uuid4()}",
            "timestamp": self.base + at,
            "payload": payload,
        }

    def send(self, *events: dict[str, Any]) -> dict[str, Any]:
        answer = self.collector.post("/v2/collect", json={"events": list(events)})
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        assert body["invalid_events"] == [], body
        assert body["accepted"] + body["duplicates"] == len(events), body
        return body

    def url(self, suffix: str = "") -> str:
        return f"/apispaces/{self.space}/profiles{suffix}"

    def get(self, pid: str, **headers: str) -> httpx.Response:
        return self.api.get(self.url(f"/{pid}"), headers=headers)

    def doc(self, pid: str) -> dict[str, Any]:
        answer = self.get(pid)
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    def put(self, pid: str, body: Any, **headers: str) -> httpx.Response:
        return self.api.put(self.url(f"/{pid}"), json=body, headers=headers)

    def patch(self, pid: str, body: Any, **headers: str) -> httpx.Response:
        return self.api.patch(self.url(f"/{pid}"), json=body, headers=headers)

    def delete(self, pid: str, **headers: str) -> httpx.Response:
        return self.api.delete(self.url(f"/{pid}"), headers=headers)

    def undelete(self, pid: str) -> httpx.Response:
        return self.api.post(self.url(f"/{pid}/undelete"))

    def history(self, pid: str) -> list[dict[str, Any]]:
        answer = self.api.get(self.url(f"/{pid}/history"), params={"limit": 1000})
        assert answer.status_code == 200, answer.text
        assert answer.json()["next_cursor"] is None
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def query(self, query: str) -> list[dict[str, Any]]:
        answer = self.api.get(self.url(f"?{query}" if query else ""))
        assert answer.status_code == 200, answer.text
        assert "link" not in answer.headers
        docs: list[dict[str, Any]] = answer.json()
        return docs

    def events(self, user_id: str, type: str) -> list[dict[str, Any]]:
        answer = self.api.get(
            f"/apispaces/{self.space}/users/{user_id}/events", params={"type": type}
        )
        assert answer.status_code == 200, answer.text
        items: list[dict[str, Any]] = answer.json()["items"]
        return items

    def create(self, pid: str, at: int = 0, **fields: Any) -> dict[str, Any]:
        event = self.ev("user_created", {"user_id": pid, **fields}, at=at)
        self.send(event)
        return event


@pytest.fixture(scope="module")
def live(databases: Databases) -> Iterator[LiveServer]:
    with (
        databases.fresh("profiles-api") as url,
        live_server(
            url,
        ) as server,
    ):
        yield server


def open_hub(server: LiveServer, tenant: Tenant | None = None) -> Hub:
    tenant = tenant or server.new_tenant()
    return Hub(server, tenant, server.collect_client(tenant), server.api_client(tenant))


def close_hub(hub: Hub) -> None:
    hub.collector.close()
    hub.api.close()


@pytest.fixture
def hub(live: LiveServer) -> Iterator[Hub]:
    """A fresh API space of the module's server."""
    made = open_hub(live)
    yield made
    close_hub(made)


# the document -------------------------------------------------------------------------------


def test_collected_user_is_served_as_a_mapped_document(hub: Hub) -> None:
    created = hub.create(
        "u-doc",
        at=1,
        first_name="Juanita",
        last_name="Ortiz",
        email="Juanita@Example.com",
        utc_offset="-0500",
        copilot_analysis_consent=True,
        custom_properties={
            "plan": "pro",
            "seats": 3,
            "score": 2.5,
            "beta": False,
            # never over a standard field, the id, `unsubscribed` or a system field
            "email": "custom@example.com",
            "firstName": "Custom",
            "id": "other",
            "unsubscribed": True,
            "_createdOn": "custom",
        },
    )
    answer = hub.get("u-doc")
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert content(doc) == {
        "id": "u-doc",
        "firstName": "Juanita",
        "lastName": "Ortiz",
        "email": "Juanita@Example.com",
        "utcOffset": "-0500",
        "analysisConsent": True,
        "plan": "pro",
        "seats": 3,
        "score": 2.5,
        "beta": False,
        "unsubscribed": False,
    }
    assert doc["_createdOn"] == iso(created["timestamp"])  # first seen
    assert ISO_MS.match(doc["_updatedOn"]), doc
    assert doc["_updatedOn"] >= doc["_createdOn"]
    assert doc["_revision"] == 0
    assert answer.headers["ETag"] == etag(content(doc))
    assert ETAG_FORM.match(answer.headers["ETag"])
    assert answer.headers["X-Revision"] == "0"
    [item] = hub.history("u-doc")
    assert (item["revision"], item["name"], item["etag"]) == (0, "create", answer.headers["ETag"])
    assert item["at"] == doc["_updatedOn"]


def test_created_on_is_the_original_creation_date_when_given(hub: Hub) -> None:
    hub.send(
        hub.ev("preexisting_sync_started", {}, at=1),
        hub.ev(
            "preexisting_user_created",
            {"user_id": "u-old", "first_name": "Old", "original_creation_date": ORIGINAL},
            at=2,
        ),
        hub.ev("preexisting_sync_completed", {}, at=3),
    )
    doc = hub.doc("u-old")
    assert doc["_createdOn"] == iso(ORIGINAL) == "2019-05-03T02:03:58.123Z"
    # a later live update changes the document, never the creation date
    hub.send(hub.ev("user_updated", {"user_id": "u-old", "last_name": "Timer"}, at=4))
    later = hub.doc("u-old")
    assert (later["_createdOn"], later["lastName"], later["_revision"]) == (
        iso(ORIGINAL),
        "Timer",
        1,
    )
    assert later["_updatedOn"] >= doc["_updatedOn"]


def test_created_on_is_the_earliest_event_naming_the_user(hub: Hub) -> None:
    hub.create("u-seen", at=50, first_name="Late")
    hub.send(hub.ev("user_updated", {"user_id": "u-seen", "last_name": "Early"}, at=10))
    assert hub.doc("u-seen")["_createdOn"] == iso(hub.base + 10)


@pytest.mark.parametrize("order", ["unsubscribe_first", "user_first"])
def test_unsubscribe_by_email_is_case_insensitive(hub: Hub, order: str) -> None:
    user = hub.ev("user_created", {"user_id": "u-unsub", "email": "Mixed.Case@Example.COM"}, at=1)
    unsub = hub.ev("unsubscribe", {"email": "mixed.case@example.com"}, at=2)
    other = hub.ev("user_created", {"user_id": "u-other", "email": "other@example.com"}, at=1)
    for e in [unsub, user, other] if order == "unsubscribe_first" else [user, other, unsub]:
        hub.send(e)
    doc = hub.doc("u-unsub")
    assert doc["unsubscribed"] is True
    assert hub.doc("u-other")["unsubscribed"] is False
    if order == "user_first":
        assert doc["_revision"] == 1
        last = hub.history("u-unsub")[-1]
        assert (last["name"], last["changes"]) == ("update", {"unsubscribed": [False, True]})
        assert last["cause"]["eventId"] == unsub["event_id"]
    else:
        assert doc["_revision"] == 0


def test_unsubscribed_follows_the_current_email(hub: Hub) -> None:
    hub.create("u-mail", at=1, email="gone@example.com")
    hub.send(hub.ev("unsubscribe", {"email": "GONE@example.com"}, at=2))
    assert hub.doc("u-mail")["unsubscribed"] is True
    assert hub.patch("u-mail", {"email": "new@example.com"}).json()["unsubscribed"] is False
    assert hub.patch("u-mail", {"email": "Gone@Example.com"}).json()["unsubscribed"] is True
    assert hub.patch("u-mail", {"email": None}).json()["unsubscribed"] is False
    assert [h["revision"] for h in hub.history("u-mail")] == [0, 1, 2, 3, 4]


def test_if_none_match(hub: Hub) -> None:
    hub.create("u-inm", first_name="Ann")
    current = hub.get("u-inm").headers["ETag"]
    for header in [current, f"W/{current}", f'"nope", {current}', "*"]:
        answer = hub.get("u-inm", **{"If-None-Match": header})
        assert answer.status_code == 304, header
        assert answer.content == b""
        assert answer.headers["ETag"] == current
    for header in ['"nope"', '"8d-WCtPEHVD7ATsorawaayxpYDPrxA"']:
        assert hub.get("u-inm", **{"If-None-Match": header}).status_code == 200
    # after a change the old tag is stale
    assert hub.patch("u-inm", {"firstName": "Bea"}).status_code == 200
    answer = hub.get("u-inm", **{"If-None-Match": current})
    assert answer.status_code == 200
    assert answer.json()["firstName"] == "Bea"
    assert answer.headers["ETag"] != current
    assert answer.headers["ETag"] == etag(content(answer.json()))


def test_unknown_profile_is_404(hub: Hub) -> None:
    for pid in ["nobody", "bad%20id"]:
        answer = hub.get(pid)
        assert answer.status_code == 404
        assert answer.json()["reason"] == "COMMON.NOT_FOUND"


# revisions ----------------------------------------------------------------------------------


def test_revision_counts_only_changes_that_alter_the_document(hub: Hub) -> None:
    created = hub.create("u-rev", at=1, first_name="Ann", custom_properties={"plan": "pro"})
    assert hub.doc("u-rev")["_revision"] == 0

    update = hub.ev("user_updated", {"user_id": "u-rev", "last_name": "Lee"}, at=2)
    hub.send(update)
    doc = hub.doc("u-rev")
    assert (doc["_revision"], doc["lastName"]) == (1, "Lee")

    # resent events are duplicates: nothing applied twice
    assert hub.send(update, created)["duplicates"] == 2
    # the same values again, in new events: nothing changes, nothing is counted
    hub.send(
        hub.ev(
            "user_updated",
            {"user_id": "u-rev", "first_name": "Ann", "custom_properties": {"plan": "pro"}},
            at=3,
        ),
        hub.ev("user_updated", {"user_id": "u-rev", "last_name": "Lee"}, at=4),
    )
    # an older write that loses to newer ones changes nothing either
    hub.send(hub.ev("user_updated", {"user_id": "u-rev", "last_name": "Older"}, at=1))
    same = hub.doc("u-rev")
    assert same == doc
    assert [h["revision"] for h in hub.history("u-rev")] == [0, 1]

    hub.send(hub.ev("user_updated", {"user_id": "u-rev", "custom_properties": {"n": 1}}, at=5))
    doc = hub.doc("u-rev")
    assert (doc["_revision"], doc["n"]) == (2, 1)
    history = hub.history("u-rev")
    assert [(h["revision"], h["name"]) for h in history] == [
        (0, "create"),
        (1, "update"),
        (2, "update"),
    ]
    assert history[1]["changes"] == {"lastName": [None, "Lee"]}
    assert history[2]["changes"] == {"n": [None, 1]}
    assert history[2]["etag"] == hub.get("u-rev").headers["ETag"]
    assert hub.get("u-rev").headers["X-Revision"] == "2"


# queries ------------------------------------------------------------------------------------

QUERY_USERS: dict[str, dict[str, Any]] = {
    "a": {
        "first_name": "Ann",
        "last_name": "Lee",
        "email": "ann@example.com",
        "utc_offset": "0000",
        "copilot_analysis_consent": True,
        "custom_properties": {"plan": "pro", "seats": 9, "score": 2.5, "beta": True, "code": "11"},
    },
    "b": {
        "first_name": "Bob",
        "last_name": "Stone",
        "email": "bob@example.org",
        "utc_offset": "+0100",
        "copilot_analysis_consent": False,
        "custom_properties": {"plan": "max", "seats": 10, "score": 10.0, "beta": False},
    },
    "c": {
        "first_name": "Annabel",
        "email": "ANNABEL@Sample.net",
        "custom_properties": {"plan": "free", "seats": 100, "score": -1, "code": 11},
    },
    "d": {},
    "e": {  # deleted below: matches many queries, must never be listed
        "first_name": "Ann",
        "email": "ann@example.com",
        "custom_properties": {"plan": "pro", "seats": 9, "beta": True},
    },
    "f": {
        "first_name": "Fay",
        "email": "fay@example.com",
        "custom_properties": {"plan": "pro_plus"},
    },
}
VISIBLE = ["a", "b", "c", "d", "f"]

QUERIES: list[tuple[str, list[str]]] = [
    ("", VISIBLE),
    ("firstName=Ann", ["a"]),
    ("firstName=!Ann", ["b", "c", "d", "f"]),
    ("firstName=>B", ["b", "f"]),
    ("firstName=^ann", ["a", "c"]),
    ("firstName=^Ann&plan=free", ["c"]),
    ("seats=9&firstName=Ann", ["a"]),
    # numbers compare as numbers ("100" < "9" as strings)
    ("seats=>9", ["b", "c"]),
    ("seats=<10", ["a"]),
    ("seats=>=10", ["b", "c"]),
    ("seats=<=10", ["a", "b"]),
    ("seats=>=9&seats=<100", ["a", "b"]),
    ("score=>2", ["a", "b"]),
    ("score=<=-1", ["c"]),
    ("score=2.5", ["a"]),
    ("score=10", ["b"]),
    ("code=11", ["a", "c"]),  # the string "11" and the number 11
    ("email=$EXAMPLE.COM", ["a", "f"]),
    ("email=~@sample", ["c"]),
    ("lastName=$ee", ["a"]),
    ("lastName=", ["a", "b"]),
    ("utcOffset=", ["a", "b"]),
    ("utcOffset=!", ["c", "d", "f"]),
    ("utcOffset=0000", ["a"]),
    ("utcOffset=%2B0100", ["b"]),
    ("analysisConsent=true", ["a"]),
    ("analysisConsent=false", ["b"]),
    ("beta=true", ["a"]),
    ("beta=!true", ["b", "c", "d", "f"]),
    ("plan[]=pro&plan[]=max", ["a", "b"]),
    ("plan[]=!pro&plan[]=!max", ["c", "d", "f"]),
    ("plan[]=!free", ["a", "b", "d", "f"]),
    ("plan%5B%5D=max", ["b"]),
    ("id=b", ["b"]),
    ("id[]=a&id[]=d&id[]=e", ["a", "d"]),
    ("unsubscribed=true", ["f"]),
    ("unsubscribed=false", ["a", "b", "c", "d"]),
    # LIKE wildcards in a value are literal characters
    ("plan=^pr_", []),
    ("plan=~o%25", []),
    ("plan=~o_p", ["f"]),
    ("nothere=", []),
    ("nothere=!", VISIBLE),
]


@pytest.fixture(scope="module")
def query_hub(live: LiveServer) -> Iterator[Hub]:
    made = open_hub(live)
    made.send(
        *[
            made.ev("user_created", {"user_id": pid, **fields}, at=1)
            for pid, fields in QUERY_USERS.items()
        ],
        made.ev("user_deleted", {"user_id": "e"}, at=2),
        made.ev("unsubscribe", {"email": "FAY@example.com"}, at=2),
    )
    yield made
    close_hub(made)


@pytest.mark.parametrize(("query", "expected"), QUERIES)
def test_query_operators(query_hub: Hub, query: str, expected: list[str]) -> None:
    docs = query_hub.query(query)
    assert [d["id"] for d in docs] == expected


def test_query_answers_served_documents(query_hub: Hub) -> None:
    [doc] = query_hub.query("id=a")
    assert doc == query_hub.doc("a")
    assert doc["_revision"] == 0


def test_deleted_profiles_are_not_found(query_hub: Hub) -> None:
    assert query_hub.get("e").status_code == 404


def test_query_value_with_a_form_encoded_space(hub: Hub) -> None:
    hub.create("u-space", first_name="Ann Marie")
    answer = hub.api.get(hub.url(), params={"firstName": "Ann Marie"})  # firstName=Ann+Marie
    assert [d["id"] for d in answer.json()] == ["u-space"]


def test_query_pages_follow_link_headers(hub: Hub) -> None:
    ids = [f"pg-{n}" for n in range(7)]
    hub.send(
        *[
            hub.ev("user_created", {"user_id": pid, "custom_properties": {"n": i}}, at=1)
            for i, pid in enumerate(ids)
        ],
        hub.ev("user_created", {"user_id": "pg-gone"}, at=1),
        hub.ev("user_deleted", {"user_id": "pg-gone"}, at=2),
    )

    def walk(first: str) -> list[list[str]]:
        pages: list[list[str]] = []
        url: str | None = first
        while url is not None:
            assert len(pages) < 20, "the listing never ended"
            answer = hub.api.get(url)
            assert answer.status_code == 200, answer.text
            pages.append([d["id"] for d in answer.json()])
            link = answer.headers.get("Link")
            if link is None:
                url = None
            else:
                found = re.fullmatch(r'<([^>]+)>; rel="next"', link)
                assert found, link
                url = found.group(1)
        return pages

    assert walk(hub.url("?limit=2")) == [ids[0:2], ids[2:4], ids[4:6], ids[6:7]]
    assert walk(hub.url("?limit=7")) == [ids]
    assert walk(hub.url("?n=>=2&plan[]=!x&limit=2")) == [ids[2:4], ids[4:6], ids[6:7]]
    assert walk(hub.url("?limit=1000")) == [ids]
    assert walk(hub.url()) == [ids]  # default limit 100


@pytest.mark.parametrize(
    ("raw", "named"),
    [
        ("email=>", "email="),
        ("email=>=", "email="),
        ("email=^", "email="),
        ("first%20name=Ann", "first%20name=Ann"),
        ("%ZZ=1", "%ZZ=1"),
        ("email", "email"),
        ("a[]b=1", "a[]b=1"),
        ("plan=pro&bad%ZZkey=1", "bad%ZZkey=1"),
    ],
)
def test_unparsable_query_term_is_a_400_naming_it(query_hub: Hub, raw: str, named: str) -> None:
    answer = query_hub.api.get(query_hub.url(f"?{raw}"))
    assert answer.status_code == 400, answer.text
    body = answer.json()
    assert body["reason"] == "COMMON.REQUEST_VALIDATION"
    assert named in body["error_message"], body


@pytest.mark.parametrize("limit", ["0", "1001", "-1", "abc", ""])
def test_query_limit_out_of_range_is_a_400(query_hub: Hub, limit: str) -> None:
    answer = query_hub.api.get(query_hub.url(f"?limit={limit}"))
    assert answer.status_code == 400, answer.text
    assert "limit" in answer.json()["error_message"]


# writes -------------------------------------------------------------------------------------


def test_patch_merges_and_null_removes(hub: Hub) -> None:
    hub.create(
        "u-patch",
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        custom_properties={"plan": "pro", "seats": 3},
    )
    answer = hub.patch("u-patch", {"lastName": None, "seats": None, "plan": "max", "tier": 2})
    assert answer.status_code == 200, answer.text
    doc = answer.json()
    assert content(doc) == {
        "id": "u-patch",
        "firstName": "Ann",
        "email": "ann@example.com",
        "plan": "max",
        "tier": 2,
        "unsubscribed": False,
    }
    assert doc["_revision"] == 1
    assert answer.headers["ETag"] == etag(content(doc))
    assert answer.headers["X-Revision"] == "1"
    assert hub.doc("u-patch") == doc
    [logged] = hub.events("u-patch", "profile.merge")
    assert logged["payload"] == {"lastName": None, "seats": None, "plan": "max", "tier": 2}
    last = hub.history("u-patch")[-1]
    assert last["changes"] == {
        "lastName": ["Lee", None],
        "plan": ["pro", "max"],
        "seats": [3, None],
        "tier": [None, 2],
    }
    assert last["cause"]["by"] == f"access:{hub.credential}"
    assert last["cause"]["eventId"] == logged["event_id"]
    assert last["cause"]["type"] == "profile.merge"


def test_put_replaces_removing_what_is_not_sent(hub: Hub) -> None:
    hub.create(
        "u-put",
        first_name="Ann",
        last_name="Lee",
        email="ann@example.com",
        utc_offset="Z",
        copilot_analysis_consent=True,
        custom_properties={"plan": "pro", "seats": 3, "email": "hidden@example.com"},
    )
    answer = hub.put("u-put", {"firstName": "Bea", "color": "blue"})
    assert answer.status_code == 200, answer.text
    expected = {"id": "u-put", "firstName": "Bea", "color": "blue", "unsubscribed": False}
    assert content(answer.json()) == expected
    doc = hub.doc("u-put")
    assert content(doc) == expected
    assert doc["_revision"] == 1
    [logged] = hub.events("u-put", "profile.replace")
    assert logged["payload"] == {"firstName": "Bea", "color": "blue"}
    assert hub.query("plan=") == []
    assert [d["id"] for d in hub.query("color=blue")] == ["u-put"]


def test_put_creates_a_missing_profile(hub: Hub) -> None:
    before = now_ms()
    answer = hub.put("u-new", {"id": "u-new", "firstName": "New", "utcOffset": "+1459"})
    after = now_ms()
    assert answer.status_code == 201, answer.text
    doc = answer.json()
    assert content(doc) == {
        "id": "u-new",
        "firstName": "New",
        "utcOffset": "+1459",
        "unsubscribed": False,
    }
    assert doc["_revision"] == 0
    assert iso(before) <= doc["_createdOn"] <= iso(after)
    assert hub.doc("u-new") == doc
    assert list(doc) == list(hub.doc("u-new"))  # the same field order as a GET
    assert list(doc)[:4] == ["firstName", "id", "unsubscribed", "utcOffset"]
    [created] = hub.history("u-new")
    assert (created["revision"], created["name"]) == (0, "create")
    assert created["cause"]["by"] == f"access:{hub.credential}"
    # PUT again: an existing profile, so 200
    again = hub.put("u-new", {"firstName": "Newer"})
    assert (again.status_code, again.json()["_revision"]) == (200, 1)


def test_patch_or_delete_of_a_missing_profile_is_404(hub: Hub) -> None:
    assert hub.patch("u-none", {"firstName": "X"}).status_code == 404
    assert hub.delete("u-none").status_code == 404
    assert hub.undelete("u-none").status_code == 404
    assert hub.get("u-none").status_code == 404


@pytest.mark.parametrize("method", ["put", "patch"])
def test_if_match(hub: Hub, method: str) -> None:
    write = hub.put if method == "put" else hub.patch
    hub.create("u-match", first_name="Ann", custom_properties={"plan": "pro"})
    first = hub.get("u-match")
    tag = first.headers["ETag"]

    answer = write("u-match", {"firstName": "Bea"}, **{"If-Match": tag})
    assert answer.status_code == 200, answer.text
    second = hub.get("u-match")
    assert second.json()["_revision"] == 1
    events_before = len(
        hub.events("u-match", f"profile.{'replace' if method == 'put' else 'merge'}")
    )

    # the first tag is now stale: nothing changes
    for stale in [tag, f"W/{second.headers['ETag']}", '"x-y"']:
        refused = write("u-match", {"firstName": "Cid", "plan": None}, **{"If-Match": stale})
        assert refused.status_code == 412, stale
        assert refused.json()["reason"] == "COMMON.PRECONDITION_FAILED"
    now = hub.get("u-match")
    assert now.json() == second.json()
    assert now.headers["ETag"] == second.headers["ETag"]
    assert len(hub.history("u-match")) == 2
    kind = f"profile.{'replace' if method == 'put' else 'merge'}"
    assert len(hub.events("u-match", kind)) == events_before

    # a list holding the current tag, and `*` on an existing profile, match
    listed = write(
        "u-match", {"firstName": "Dee"}, **{"If-Match": f'"x-y", {second.headers["ETag"]}'}
    )
    assert listed.status_code == 200, listed.text
    star = write("u-match", {"firstName": "Eve"}, **{"If-Match": "*"})
    assert (star.status_code, star.json()["firstName"], star.json()["_revision"]) == (
        200,
        "Eve",
        3,
    )


def test_concurrent_writes_with_one_etag_let_exactly_one_through(
    live: LiveServer, hub: Hub
) -> None:
    hub.create("u-race", first_name="Ann")
    tag = hub.get("u-race").headers["ETag"]

    def write(n: int) -> int:
        with live.api_client(hub.tenant) as api:
            answer = api.patch(
                hub.url("/u-race"), json={"firstName": f"w{n}"}, headers={"If-Match": tag}
            )
            return answer.status_code

    with ThreadPoolExecutor(8) as pool:
        statuses = sorted(pool.map(write, range(16)))
    assert statuses == [200] + [412] * 15
    doc = hub.doc("u-race")
    assert doc["_revision"] == 1
    assert [h["revision"] for h in hub.history("u-race")] == [0, 1]


def test_if_match_star_on_a_missing_profile_is_412(hub: Hub) -> None:
    answer = hub.put("u-star", {"firstName": "X"}, **{"If-Match": "*"})
    assert answer.status_code == 412, answer.text
    assert hub.get("u-star").status_code == 404
    answer = hub.put("u-star", {"firstName": "X"}, **{"If-Match": '"1-abc"'})
    assert answer.status_code == 412, answer.text
    assert hub.get("u-star").status_code == 404


def test_delete_with_a_stale_if_match_is_412(hub: Hub) -> None:
    hub.create("u-del-match", first_name="Ann")
    tag = hub.get("u-del-match").headers["ETag"]
    assert hub.delete("u-del-match", **{"If-Match": '"1-stale"'}).status_code == 412
    assert hub.get("u-del-match").status_code == 200
    assert hub.delete("u-del-match", **{"If-Match": tag}).status_code == 204
    assert hub.get("u-del-match").status_code == 404


BAD_BODIES: list[tuple[Any, str]] = [
    ({"email": 5}, "email"),
    ({"email": "not-an-email"}, "email"),
    ({"email": ["a@example.com"]}, "email"),
    ({"utcOffset": "+1500"}, "utcOffset"),
    ({"utcOffset": "0060"}, "utcOffset"),
    ({"utcOffset": 100}, "utcOffset"),
    ({"analysisConsent": "yes"}, "analysisConsent"),
    ({"analysisConsent": 1}, "analysisConsent"),
    ({"firstName": 42}, "firstName"),
    ({"lastName": "x" * 257}, "lastName"),
    ({"tags": [1, 2]}, "tags"),
    ({"meta": {"a": 1}}, "meta"),
    ({"id": "someone-else"}, "id"),
    ({"_secret": 1}, "_secret"),
    ({"unsubscribed": "no"}, "unsubscribed"),
    ({"unsubscribed": True}, "unsubscribed"),  # read-only: follows unsubscribe events
    ([{"firstName": "x"}], "body"),
    ("firstName", "body"),
]


@pytest.fixture(scope="module")
def write_hub(live: LiveServer) -> Iterator[Hub]:
    made = open_hub(live)
    made.create("u-bad", first_name="Ann", email="ann@example.com", custom_properties={"n": 1})
    yield made
    close_hub(made)


@pytest.mark.parametrize("method", ["put", "patch"])
@pytest.mark.parametrize(("body", "named"), BAD_BODIES)
def test_invalid_write_is_a_400_naming_the_field(
    write_hub: Hub, method: str, body: Any, named: str
) -> None:
    before = write_hub.get("u-bad")
    write = write_hub.put if method == "put" else write_hub.patch
    answer = write("u-bad", body)
    assert answer.status_code == 400, answer.text
    reply = answer.json()
    assert reply["reason"] == "COMMON.REQUEST_VALIDATION"
    assert reply["error_message"].startswith(f"{named}"), reply
    after = write_hub.get("u-bad")
    assert after.json() == before.json()
    assert after.headers["ETag"] == before.headers["ETag"]
    # and a missing profile is not created by a rejected PUT
    assert write_hub.put("u-bad-new", body).status_code == 400
    assert write_hub.get("u-bad-new").status_code == 404


def test_non_json_body_is_a_400(write_hub: Hub) -> None:
    for raw in [b"{bad", b"", b"\xff"]:
        answer = write_hub.api.put(
            write_hub.url("/u-bad"), content=raw, headers={"Content-Type": "application/json"}
        )
        assert answer.status_code == 400, (raw, answer.text)
        assert answer.json()["reason"] == "COMMON.REQUEST_VALIDATION"


def test_a_read_document_written_back_changes_nothing(hub: Hub) -> None:
    hub.create(
        "u-back",
        at=1,
        first_name="Ann",
        last_name="Lee",
        email="Ann.Back@Example.com",
        utc_offset="0000",
        copilot_analysis_consent=False,
        custom_properties={"plan": "pro", "seats": 3, "score": 10.0, "beta": True},
    )
    hub.send(hub.ev("unsubscribe", {"email": "ann.back@example.com"}, at=2))
    answer = hub.get("u-back")
    doc = answer.json()
    assert doc["unsubscribed"] is True
    assert doc["_revision"] == 1
    history = hub.history("u-back")

    for write in (hub.put, hub.patch):
        again = write("u-back", doc, **{"If-Match": answer.headers["ETag"]})
        assert again.status_code == 200, again.text
        assert again.json() == doc
        assert again.headers["ETag"] == answer.headers["ETag"]
        assert hub.doc("u-back") == doc  # same revision and _updatedOn
        assert hub.history("u-back") == history
    # the writes themselves are in the event log, newest first
    assert [e["type"] for e in hub.events("u-back", "profile.replace")] == ["profile.replace"]
    assert hub.events("u-back", "profile.merge")[0]["payload"] == doc


# ordering -----------------------------------------------------------------------------------


def test_api_write_is_a_live_change_at_its_time(hub: Hub) -> None:
    hub.create("u-order", at=0, first_name="Collected", custom_properties={"plan": "pro"})
    assert hub.put("u-order", {"firstName": "Api"}).status_code == 200
    doc = hub.doc("u-order")
    assert "plan" not in doc

    # older than the API write (but newer than the creation): changes nothing
    older = now_ms() - 5_000 - hub.base
    hub.send(
        hub.ev(
            "user_updated",
            {"user_id": "u-order", "first_name": "Old", "custom_properties": {"plan": "old"}},
            at=older,
        )
    )
    assert hub.doc("u-order") == doc

    # newer than the API write: wins
    newer = now_ms() + 60_000 - hub.base
    hub.send(
        hub.ev(
            "user_updated",
            {"user_id": "u-order", "first_name": "New", "custom_properties": {"plan": "new"}},
            at=newer,
        )
    )
    doc = hub.doc("u-order")
    assert (doc["firstName"], doc["plan"], doc["_revision"]) == ("New", "new", 2)


def test_api_delete_is_a_live_change_at_its_time(hub: Hub) -> None:
    hub.create("u-order-del", at=0, first_name="Ann")
    assert hub.delete("u-order-del").status_code == 204
    older = now_ms() - 5_000 - hub.base
    hub.send(hub.ev("user_updated", {"user_id": "u-order-del", "last_name": "Old"}, at=older))
    assert hub.get("u-order-del").status_code == 404  # the older update does not undelete
    newer = now_ms() + 60_000 - hub.base
    hub.send(hub.ev("user_updated", {"user_id": "u-order-del", "first_name": "Back"}, at=newer))
    doc = hub.doc("u-order-del")
    assert (doc["firstName"], doc["lastName"]) == ("Back", "Old")
    assert [h["name"] for h in hub.history("u-order-del")] == ["create", "delete", "undelete"]


def test_sequential_writes_in_one_millisecond_apply_in_order(
    hub: Hub, monkeypatch: pytest.MonkeyPatch
) -> None:
    hub.create("u-same-ms", first_name="Ann")
    frozen = now_ms()  # the in-thread server reads its clock here: every write at one instant
    monkeypatch.setattr("syncline.http.routes.profiles.now_ms", lambda: frozen)
    shown = []
    for n in range(20):
        answer = hub.patch("u-same-ms", {"firstName": f"v{n}"})
        assert answer.status_code == 200, answer.text
        shown.append(answer.json()["firstName"])
    assert shown == [f"v{n}" for n in range(20)]
    assert hub.doc("u-same-ms")["firstName"] == "v19"


# delete, undelete, history ------------------------------------------------------------------


def test_delete_undelete_and_history_as_the_seed(hub: Hub) -> None:
    created = hub.create("u-life", first_name="Ann", email="ann@example.com")
    assert hub.patch("u-life", {"lastName": "Two"}).status_code == 200
    before = hub.get("u-life")

    deleted = hub.delete("u-life")
    assert (deleted.status_code, deleted.content) == (204, b"")
    assert hub.get("u-life").status_code == 404
    assert hub.query("id=u-life") == []
    assert hub.query("") == []
    assert hub.delete("u-life").status_code == 404  # already deleted
    assert [h["name"] for h in hub.history("u-life")][-1] == "delete"  # readable while deleted
    assert hub.patch("u-life", {"lastName": "X"}).status_code == 404

    restored = hub.undelete("u-life")
    assert restored.status_code == 200, restored.text
    assert content(restored.json()) == content(before.json())
    assert restored.headers["ETag"] == before.headers["ETag"]
    assert restored.json()["_revision"] == 3
    assert restored.headers["X-Revision"] == "3"
    assert content(hub.doc("u-life")) == content(before.json())
    assert [d["id"] for d in hub.query("")] == ["u-life"]

    history = hub.history("u-life")
    assert [(h["revision"], h["name"]) for h in history] == [
        (0, "create"),
        (1, "update"),
        (2, "delete"),
        (3, "undelete"),
    ]
    for item in history:
        assert isinstance(item["changes"], dict)
        assert ISO_MS.match(item["at"])
        assert ETAG_FORM.match(item["etag"])
    assert history[0]["changes"] == {
        "email": [None, "ann@example.com"],
        "firstName": [None, "Ann"],
        "id": [None, "u-life"],
        "unsubscribed": [None, False],
    }
    assert history[1]["changes"] == {"lastName": [None, "Two"]}
    assert history[0]["cause"]["eventId"] == created["event_id"]
    assert "by" not in history[0]["cause"]
    by = f"access:{hub.credential}"
    assert [h["cause"].get("by") for h in history[1:]] == [by, by, by]
    assert [h["cause"]["type"] for h in history[1:]] == [
        "profile.merge",
        "profile.delete",
        "profile.undelete",
    ]
    logged = [e["event_id"] for e in hub.events("u-life", "profile.delete")]
    assert logged == [history[2]["cause"]["eventId"]]
    assert history[3]["etag"] == history[1]["etag"] == restored.headers["ETag"]


def test_collected_delete_is_a_delete_revision(hub: Hub) -> None:
    hub.create("u-coll-del", at=1, first_name="Ann")
    gone = hub.ev("user_deleted", {"user_id": "u-coll-del"}, at=2)
    hub.send(gone)
    assert hub.get("u-coll-del").status_code == 404
    assert hub.undelete("u-coll-del").status_code == 200
    history = hub.history("u-coll-del")
    assert [h["name"] for h in history] == ["create", "delete", "undelete"]
    assert history[1]["cause"]["eventId"] == gone["event_id"]


def test_history_pages(hub: Hub) -> None:
    hub.create("u-hist", first_name="v0")
    for n in range(1, 6):
        assert hub.patch("u-hist", {"firstName": f"v{n}"}).status_code == 200

    def pages(limit: int) -> list[list[int]]:
        out: list[list[int]] = []
        cursor: str | None = None
        while True:
            assert len(out) < 20
            params: dict[str, Any] = {"limit": limit}
            if cursor is not None:
                params["cursor"] = cursor
            answer = hub.api.get(hub.url("/u-hist/history"), params=params)
            assert answer.status_code == 200, answer.text
            out.append([item["revision"] for item in answer.json()["items"]])
            cursor = answer.json()["next_cursor"]
            if cursor is None:
                return out

    assert pages(2) == [[0, 1], [2, 3], [4, 5]]
    assert pages(4) == [[0, 1, 2, 3], [4, 5]]
    assert pages(6) == [[0, 1, 2, 3, 4, 5]]
    assert pages(1000) == [[0, 1, 2, 3, 4, 5]]
    names = [h["name"] for h in hub.history("u-hist")]
    assert names == ["create"] + ["update"] * 5
    for limit in ["0", "1001", "x"]:
        answer = hub.api.get(hub.url("/u-hist/history"), params={"limit": limit})
        assert answer.status_code == 400, limit
    assert hub.api.get(hub.url("/nobody/history")).status_code == 404


def test_history_cursor_not_issued_by_the_server_is_a_400(live: LiveServer, hub: Hub) -> None:
    hub.create("u-cursor", first_name="Ann")
    with live.api_client(hub.tenant) as api:  # its own connection: a 500 closes it
        answer = api.get(hub.url("/u-cursor/history"), params={"cursor": "YWJj"})
    assert answer.status_code == 400, answer.text


# things -------------------------------------------------------------------------------------


def test_things_of_a_profile_and_a_thing_with_its_owners(hub: Hub) -> None:
    status_date = hub.base - 3_600_000
    hub.send(
        hub.ev("user_created", {"user_id": "u1", "first_name": "Ann"}, at=1),
        hub.ev("user_created", {"user_id": "u2", "first_name": "Bob"}, at=1),
        hub.ev(
            "thing_created",
            {
                "thing_id": "t1",
                "model": "kettle",
                "firmware_version": "1.0",
                "custom_properties": {"color": "red", "size": 3},
            },
            at=2,
        ),
        hub.ev("thing_created", {"thing_id": "t2", "model": "toaster"}, at=2),
        hub.ev(
            "thing_status_changed",
            {
                "thing_id": "t1",
                "status_key": "power",
                "status_value": "on",
                "status_date": status_date,
            },
            at=3,
        ),
        hub.ev("thing_connected", {"thing_id": "t1"}, at=4),
        hub.ev("firmware_upgrade_completed", {"thing_id": "t1", "firmware_version": "2.0"}, at=5),
        hub.ev("consumable_usage", {"thing_id": "t1", "consumable_type": "filter"}, at=6),
        hub.ev("consumable_usage", {"thing_id": "t1", "consumable_type": "filter"}, at=7),
        hub.ev("user_thing_associated", {"user_id": "u1", "thing_id": "t1"}, at=10),
        hub.ev("user_thing_associated", {"user_id": "u2", "thing_id": "t1"}, at=20),
        hub.ev("user_thing_associated", {"user_id": "u1", "thing_id": "t2"}, at=11),
        hub.ev("user_thing_disassociated", {"user_id": "u1", "thing_id": "t2"}, at=12),
    )
    answer = hub.api.get(f"/apispaces/{hub.space}/things/t1")
    assert answer.status_code == 200, answer.text
    thing = answer.json()
    assert thing["id"] == "t1"
    assert thing["model"] == "kettle"
    assert thing["properties"] == {"color": "red", "size": 3}
    assert "firmwareVersion" in thing
    assert thing["status"] == {"power": {"value": "on", "date": iso(status_date)}}
    assert thing["lastConnectedAt"] == iso(hub.base + 4)
    assert thing["firmwareUpgrade"]["state"] == "completed"
    assert thing["firmwareUpgrade"]["version"] == "2.0"
    assert thing["counters"]["consumables.filter"] == 2
    assert thing["owners"] == [
        {"profileId": "u2", "since": iso(hub.base + 20)},
        {"profileId": "u1", "since": iso(hub.base + 10)},
    ]
    assert thing["owner"] == "u2"

    answer = hub.api.get(hub.url("/u1/things"))
    assert answer.status_code == 200, answer.text
    [mine] = answer.json()  # t2 was disassociated
    assert (mine["id"], mine["model"]) == ("t1", "kettle")
    assert mine["associatedSince"] == iso(hub.base + 10)
    assert mine["properties"] == {"color": "red", "size": 3}
    assert hub.api.get(hub.url("/u2/things")).json()[0]["associatedSince"] == iso(hub.base + 20)

    toaster = hub.api.get(f"/apispaces/{hub.space}/things/t2").json()
    assert (toaster["model"], toaster["owners"], toaster["owner"]) == ("toaster", [], None)

    # a deleted profile no longer owns anything visible
    assert hub.delete("u2").status_code == 204
    thing = hub.api.get(f"/apispaces/{hub.space}/things/t1").json()
    assert ([o["profileId"] for o in thing["owners"]], thing["owner"]) == (["u1"], "u1")
    assert hub.api.get(hub.url("/u2/things")).status_code == 404


def test_unknown_thing_or_profile_things_is_404(hub: Hub) -> None:
    for path in [
        f"/apispaces/{hub.space}/things/nothing",
        f"/apispaces/{hub.space}/things/bad%20id",
        hub.url("/nobody/things"),
    ]:
        answer = hub.api.get(path)
        assert answer.status_code == 404, path
        assert answer.json()["reason"] == "COMMON.NOT_FOUND"


# tenancy ------------------------------------------------------------------------------------


def test_another_spaces_token_gets_404_everywhere(live: LiveServer) -> None:
    a, b = open_hub(live), open_hub(live)
    try:
        for hub, name in [(a, "A"), (b, "B")]:
            hub.send(
                hub.ev("user_created", {"user_id": "shared", "first_name": name}, at=1),
                hub.ev("thing_created", {"thing_id": "t-shared", "model": name}, at=1),
                hub.ev(
                    "user_thing_associated", {"user_id": "shared", "thing_id": "t-shared"}, at=2
                ),
            )
        b_before = b.get("shared")
        tag = b_before.headers["ETag"]
        base = f"/apispaces/{b.space}"
        calls = [
            ("GET", f"{base}/profiles/shared", None),
            ("GET", f"{base}/profiles", None),
            ("GET", f"{base}/profiles?firstName=B", None),
            ("GET", f"{base}/profiles/shared/history", None),
            ("GET", f"{base}/profiles/shared/things", None),
            ("GET", f"{base}/things/t-shared", None),
            ("GET", f"{base}/profiles/missing", None),
            ("PUT", f"{base}/profiles/shared", {"firstName": "A was here"}),
            ("PUT", f"{base}/profiles/created-by-a", {"firstName": "A"}),
            ("PATCH", f"{base}/profiles/shared", {"firstName": "A was here"}),
            ("DELETE", f"{base}/profiles/shared", None),
            ("POST", f"{base}/profiles/shared/undelete", None),
        ]
        for method, path, body in calls:
            answer = a.api.request(method, path, json=body, headers={"If-Match": tag})
            assert answer.status_code == 404, (method, path, answer.status_code)
            assert answer.json()["reason"] == "COMMON.NOT_FOUND"
            assert "A was here" not in answer.text
            assert '"B"' not in answer.text
        b_after = b.get("shared")
        assert b_after.json() == b_before.json()
        assert b_after.headers["ETag"] == tag
        assert b.get("created-by-a").status_code == 404
        assert a.doc("shared")["firstName"] == "A"
    finally:
        close_hub(a)
        close_hub(b)


def test_missing_or_wrong_token_is_401(live: LiveServer, hub: Hub) -> None:
    hub.create("u-auth", first_name="Ann")
    other = live.new_tenant()
    credential = hub.credential
    wrong = {
        "none": None,
        "garbage": "Bearer garbage",
        "empty bearer": "Bearer",
        "wrong secret": f"Bearer sl.{credential}.not-the-secret",
        "unknown credential": f"Bearer sl.{uuid.uuid4().hex}.secret",
        "collect secret": f"Bearer {hub.tenant.client_secret}",
        "basic": "Basic "
        + base64.b64encode(f"{hub.tenant.client_id}:{hub.tenant.client_secret}".encode()).decode(),
        "other space's token, mangled": f"Bearer {other.api_token}x",
    }
    paths = [
        ("GET", hub.url("/u-auth")),
        ("GET", hub.url("?firstName=Ann")),
        ("GET", hub.url("/u-auth/history")),
        ("GET", hub.url("/u-auth/things")),
        ("GET", f"/apispaces/{hub.space}/things/t"),
        ("PUT", hub.url("/u-auth")),
        ("PATCH", hub.url("/u-auth")),
        ("DELETE", hub.url("/u-auth")),
    ]
    with httpx.Client(base_url=live.url, timeout=30) as anonymous:
        for label, header in wrong.items():
            headers = {} if header is None else {"Authorization": header}
            for method, path in paths:
                body = {"firstName": "Mallory"} if method in ("PUT", "PATCH") else None
                answer = anonymous.request(method, path, json=body, headers=headers)
                assert answer.status_code == 401, (label, method, path, answer.text)
                assert answer.json()["reason"] == "AUTH.UNAUTHORIZED"
                assert answer.headers["www-authenticate"] == 'Bearer realm="syncline"'
    doc = hub.doc("u-auth")
    assert (doc["firstName"], doc["_revision"]) == ("Ann", 0)
