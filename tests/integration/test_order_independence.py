"""DESIGN section 3: the state after a set of events does not depend on their arrival order.

Hypothesis draws a set of valid events over a small pool of ids and values (so registers
collide, timestamps tie and values repeat), then applies it to two fresh API spaces (on each
backend) in two permutations, each split into differently sized batches (one unit of work per
batch, through the real decoding path) with resent duplicates. Users, things, associations and
every profile's document and ETag must be identical.

Swarm testing: each example uses its own subset of event types, of ids and its own rate of
re-reported payloads, so that dense collisions on one register are common rather than rare.
`SYNCLINE_PROPERTY_EXAMPLES=2000` runs a deeper search.
"""

from __future__ import annotations

import json
import os
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.clock import now_ms
from syncline.schemas.canonical import etag
from syncline.schemas.collect import EventError
from syncline.services import ingest, spaces
from syncline.storage.interface import Storage

USERS = ["u1", "u2", "u3", "u4"]
THINGS = ["t1", "t2", "t3", "t4"]
EMAILS = ["ann@example.com", "ANN@Example.com", "bob@example.org"]
DAY = 86_400_000
EXAMPLES = int(os.environ.get("SYNCLINE_PROPERTY_EXAMPLES", "100"))

names = st.sampled_from(["Ann", "Bob"])
scalars = st.sampled_from(["a", "b", 1, True, 2.5])
custom = st.dictionaries(st.sampled_from(["plan", "tier"]), scalars, min_size=1, max_size=2)
dates = st.sampled_from([1_556_849_038_000, 1_600_000_000_000])
versions = st.sampled_from(["1.0", "2.0"])

USER_FIELDS = {
    "first_name": names,
    "last_name": names,
    "email": st.sampled_from(EMAILS),
    "copilot_analysis_consent": st.booleans(),
    "utc_offset": st.sampled_from(["Z", "-0500", "+0100"]),
}


def payloads(users: list[str], things: list[str]) -> dict[str, st.SearchStrategy[Any]]:
    """A payload strategy per event type, over the example's ids."""

    def payload(required: dict[str, Any], optional: dict[str, Any]) -> st.SearchStrategy[Any]:
        return st.fixed_dictionaries(required, optional=optional)

    user = {"user_id": st.sampled_from(users)}
    thing = {"thing_id": st.sampled_from(things)}
    thing_fields = {**user, "firmware_version": versions, "model": st.sampled_from(["m1", "m2"])}
    return {
        "user_created": payload(user, {**USER_FIELDS, "custom_properties": custom}),
        "user_updated": payload(user, {**USER_FIELDS, "custom_properties": custom}),
        "user_deleted": payload(user, {}),
        "preexisting_user_created": payload(user, {**USER_FIELDS, "original_creation_date": dates}),
        "thing_created": payload(thing, {**thing_fields, "custom_properties": custom}),
        "thing_updated": payload(thing, {**thing_fields, "custom_properties": custom}),
        "preexisting_thing_created": payload(
            thing, {**thing_fields, "original_creation_date": dates}
        ),
        "user_thing_associated": payload({**user, **thing}, {}),
        "user_thing_disassociated": payload({**user, **thing}, {}),
        "preexisting_user_thing_associated": payload(
            {**user, **thing}, {"original_association_date": dates}
        ),
        "thing_status_changed": payload(
            {
                **thing,
                "status_key": st.sampled_from(["power", "mode"]),
                "status_value": st.sampled_from(["on", "off", 1]),
            },
            {"status_date": dates, **user},
        ),
        "thing_connected": payload(thing, user),
        "firmware_upgrade_started": payload(thing, {"firmware_version": versions, **user}),
        "firmware_upgrade_completed": payload(thing, {"firmware_version": versions, **user}),
        "unsubscribe": payload({"email": st.sampled_from(EMAILS)}, {}),
        "consumable_usage": payload(
            {**thing, "consumable_type": st.sampled_from(["filter", "pods"])}, user
        ),
        "custom_event": payload(
            {"subtype": st.sampled_from(["x", "y"]), **user}, {**thing, "level": scalars}
        ),
    }


TYPES = sorted(payloads(USERS, THINGS))


def identity(kind: str) -> set[str]:
    """The keys naming what an event is about; the others are attributes a re-report may
    correct."""
    if "associated" in kind:
        return {"user_id", "thing_id"}
    if kind.startswith(("user_", "preexisting_user_")):
        return {"user_id"}
    if "thing" in kind or kind.startswith(("firmware_", "consumable_")):
        return {"thing_id"}
    return set()


# Timestamps within the last day; a few fixed slots make equal timestamps common.
offsets = st.one_of(st.sampled_from([0, 1, 60_000]), st.integers(0, DAY - 120_000))


@st.composite
def event_sets(
    draw: st.DrawFn,
    types: list[str] = TYPES,
    max_ids: int = 4,
    max_count: int = 30,
    echo_rates: tuple[int, ...] = (0, 1, 2, 3),
) -> list[dict[str, Any]]:
    """Distinct events (unique ids). Some re-report an earlier event's payload at another time,
    as clients resend the same attributes, so equal values with different clocks are common."""
    users = USERS[: draw(st.integers(1, max_ids))]
    things = THINGS[: draw(st.integers(1, max_ids))]
    chosen = draw(st.lists(st.sampled_from(types), min_size=1, max_size=len(types), unique=True))
    strategies = payloads(users, things)
    echo_rate = draw(st.sampled_from(echo_rates))  # out of 4
    count = draw(st.integers(1, max_count))
    ids = draw(
        st.lists(
            st.text("abcdef0123456789-", min_size=1, max_size=6),
            min_size=count,
            max_size=count,
            unique=True,
        )
    )
    events: list[dict[str, Any]] = []
    for event_id in ids:
        if events and draw(st.integers(0, 3)) < echo_rate:
            echoed = draw(st.sampled_from(events))
            kind, body = echoed["type"], dict(echoed["payload"])
            if draw(st.booleans()):  # a re-report that corrects one attribute
                fresh = draw(strategies[kind])
                attributes = sorted(set(fresh) - identity(kind))
                if attributes:
                    name = draw(st.sampled_from(attributes))
                    body[name] = fresh[name]
        else:
            kind = draw(st.sampled_from(chosen))
            body = draw(strategies[kind])
        offset = draw(offsets)
        events.append({"type": kind, "event_id": event_id, "offset": offset, "payload": body})
    return events


@st.composite
def arrivals(
    draw: st.DrawFn, events: list[dict[str, Any]], reverse_of: list[Any] | None = None
) -> list[list[dict[str, Any]]]:
    """One arrival: a permutation with resent duplicates, cut into batches of random sizes.
    With `reverse_of`, sometimes that arrival's order reversed (without its resends)."""
    if reverse_of is not None and draw(st.booleans()):
        seen: dict[str, dict[str, Any]] = {}
        for event in (e for batch in reversed(reverse_of) for e in reversed(batch)):
            seen.setdefault(event["event_id"], event)
        order = list(seen.values())
    else:
        order = list(draw(st.permutations(events)))
    for resent in draw(st.lists(st.sampled_from(events), max_size=4)):
        order.insert(draw(st.integers(0, len(order))), resent)
    batches: list[list[dict[str, Any]]] = []
    largest = draw(st.sampled_from([1, 3, len(order)]))  # one event per request, few, any
    while order:
        size = draw(st.integers(1, min(largest, len(order))))
        batches.append(order[:size])
        order = order[size:]
    return batches


def wire(events: list[dict[str, Any]], base: int) -> bytes:
    return json.dumps(
        {
            "events": [
                {
                    "type": e["type"],
                    "event_id": e["event_id"],
                    "timestamp": base + e["offset"],
                    "payload": e["payload"],
                }
                for e in events
            ]
        }
    ).encode()


SYNC_STARTED = {"type": "preexisting_sync_started", "event_id": "sync", "offset": 0, "payload": {}}


def apply_all(storage: Storage, batches: list[list[dict[str, Any]]], now: int) -> dict[str, Any]:
    """A fresh space (all state is per space), the sync opened first, then every batch in its
    own unit of work."""
    with storage.unit_of_work() as uow:
        space = spaces.create_space(uow, 1, "prop", now).api_space_id
    accepted = duplicates = 0
    for batch in [[SYNC_STARTED], *batches]:
        decoded = ingest.decode_request(wire(batch, now - DAY), now, ingest.Limits())
        assert [d.result for d in decoded if isinstance(d.result, EventError)] == []
        with storage.unit_of_work() as uow:
            answer = ingest.commit(uow, space, decoded, now)
        assert answer.invalid_events == []
        accepted += answer.accepted
        duplicates += answer.duplicates
    return {"counts": (accepted, duplicates), **snapshot(storage, space)}


def snapshot(storage: Storage, space: str) -> dict[str, Any]:
    reader = storage.reader()
    users, things, links, documents = {}, {}, {}, {}
    for uid in USERS:
        user = reader.user(space, uid)
        if user is not None:
            users[uid] = {**user.view(), "first_seen": user.first_seen}
        profile = reader.profile(space, uid)
        if profile is not None:
            assert profile.etag == etag(profile.doc)
            documents[uid] = (profile.doc, profile.etag, profile.created_on)
        links[uid] = [
            (link.thing_id, link.associated, link.since)
            for link in reader.associations_of_user(space, uid)
        ]
    for tid in THINGS:
        thing = reader.thing(space, tid)
        if thing is not None:
            things[tid] = {**thing.view(), "first_seen": thing.first_seen}
    log = reader.events(space, user_id=None, thing_id=None, type=None, cursor=None, limit=1000)
    run = reader.sync(space)
    assert run is not None
    return {
        "users": users,
        "things": things,
        "associations": links,
        "profiles": documents,
        "event_log": sorted((e["event_id"], e["type"], e["timestamp"]) for e in log.items),
        "sync_counts": run.counts,
    }


def check_order_independence(
    data: st.DataObject, events: list[dict[str, Any]], storage: Storage
) -> None:
    first = data.draw(arrivals(events), label="first arrival")
    second = data.draw(arrivals(events, reverse_of=first), label="second arrival")
    now = now_ms()
    a = apply_all(storage, first, now)
    b = apply_all(storage, second, now)
    # every distinct event accepted once (plus the sync start), every resend a duplicate
    for result, arrival in ((a, first), (b, second)):
        resent = sum(len(batch) for batch in arrival) - len(events)
        assert result["counts"] == (len(events) + 1, resent)
    # compared as JSON text: == alone would take True for 1 and miss a type flip
    assert strict(a["users"]) == strict(b["users"])
    assert strict(a["things"]) == strict(b["things"])
    assert a["associations"] == b["associations"]
    assert strict(a["profiles"]) == strict(
        b["profiles"]
    )  # document and ETag; revisions count arrivals
    assert a["event_log"] == b["event_log"]
    assert a["sync_counts"] == b["sync_counts"]


def strict(value: Any) -> str:
    return json.dumps(value, sort_keys=True)


PROPERTY = settings(
    max_examples=EXAMPLES,
    deadline=None,
    suppress_health_check=[
        HealthCheck.too_slow,
        HealthCheck.data_too_large,
        HealthCheck.function_scoped_fixture,  # one storage; every example has its own spaces
    ],
)


@PROPERTY
@given(data=st.data())
def test_state_does_not_depend_on_arrival_order(data: st.DataObject, storage: Storage) -> None:
    events = data.draw(event_sets(), label="events")
    check_order_independence(data, events, storage)


REGISTER_TYPES = [
    "user_created",
    "user_updated",
    "user_deleted",
    "preexisting_user_created",
    "thing_created",
    "thing_updated",
    "preexisting_thing_created",
    "user_thing_associated",
    "user_thing_disassociated",
    "preexisting_user_thing_associated",
]


@PROPERTY
@given(data=st.data())
def test_register_collisions_do_not_depend_on_arrival_order(
    data: st.DataObject, storage: Storage
) -> None:
    """Few entities, attribute events only, many re-reported payloads: every register sees
    equal values at different clocks, ties and live/preexisting mixes, across batches."""
    events = data.draw(
        event_sets(REGISTER_TYPES, max_ids=2, max_count=12, echo_rates=(1, 2, 3)), label="events"
    )
    check_order_independence(data, events, storage)
