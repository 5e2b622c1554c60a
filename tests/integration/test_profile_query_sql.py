"""DESIGN section 4: the SQLite translation of a profile query agrees with its reference.

`syncline.domain.query.matches` is the reference semantics of Comapi's query operators;
`storage.profile_sql` turns the same terms into SQL over the stored JSON documents. Hypothesis
draws small sets of profiles (standard fields, custom properties of every scalar type over a few
shared keys, deletions and unsubscribes), writes them through the real Collect ingest path or
the Profiles API's write service, then draws query strings from every operator and checks that
the rows SQLite returns are exactly the visible profiles `matches` accepts, in id order, also
from a cursor and under a limit.

Values are drawn from a pool that makes collisions likely: the stored values themselves in every
spelling the query language reads (numbers, booleans, strings that look like numbers), their
prefixes and suffixes in another case, LIKE wildcards (`%`, `_`, `\\`) and non-ASCII letters.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import quote

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.clock import now_ms
from syncline.domain import query as q
from syncline.domain.profiles import STANDARD as API_NAMES
from syncline.schemas.profiles import decode_write
from syncline.services import ingest, profiles, spaces
from syncline.storage.interface import Storage

IDS = ["a", "b", "B", "c1", "c10", "c2", "d.e", "u-9", "x@y", "zz"]
CUSTOM_KEYS = ["plan", "n", "a.b", "x-y", "flag", "email", "firstName"]  # the last two shadowed
STANDARD = ["firstName", "lastName", "email", "utcOffset", "analysisConsent"]
QUERY_FIELDS = [*CUSTOM_KEYS, *STANDARD, "id", "unsubscribed", "missing"]
OPERATORS = ["eq", "ne", "gt", "gte", "lt", "lte", "starts", "ends", "contains"]
OPERATORS += ["exists", "missing", "in", "nin"]
PREFIX = {
    "eq": "",
    "ne": "!",
    "gt": ">",
    "gte": ">=",
    "lt": "<",
    "lte": "<=",
    "starts": "^",
    "ends": "$",
    "contains": "~",
}
STRINGS = [
    "",
    "a",
    "A",
    "ab",
    "Ab",
    "abc",
    "b",
    "1",
    "01",
    "11",
    "2.5",
    "-1",
    "1.0",
    "true",
    "false",
    "0000",
    "Z",
    "%",
    "_",
    "a_c",
    "a%c",
    "\\",
    "é",
    "É",
    "Ann",
    "ann marie",
]
EMAILS = ["ann@example.com", "Ann@Example.COM", "bob@example.org", "a_b@x.io"]

texts = st.one_of(st.sampled_from(STRINGS), st.text(alphabet="aAbB1_%\\é .", max_size=4))
ints = st.one_of(st.integers(-20, 20), st.sampled_from([100, 1000, -100, 11]))
floats = st.one_of(
    st.sampled_from([0.5, -1.5, 2.0, 2.5, 10.0, 0.1, 1.0]),
    st.floats(-100, 100, allow_nan=False, allow_infinity=False).map(lambda x: round(x, 2)),
)
scalars = st.one_of(texts, ints, floats, st.booleans())
names = st.sampled_from(["Ann", "ann", "Annabel", "Bob", "É", "a_c", "11", "true"])
COLLECT_FIELDS = {
    "first_name": names,
    "last_name": names,
    "email": st.sampled_from(EMAILS),
    "utc_offset": st.sampled_from(["Z", "0000", "+0100", "-0500"]),
    "copilot_analysis_consent": st.booleans(),
}


@dataclass
class Profile:
    user_id: str
    fields: dict[str, Any]  # Collect names
    custom: dict[str, Any]
    via_api: bool
    deleted: bool


@dataclass
class World:
    profiles: list[Profile]
    unsubscribed: list[str] = field(default_factory=list)


@st.composite
def worlds(draw: st.DrawFn) -> World:
    ids = draw(st.lists(st.sampled_from(IDS), unique=True, max_size=8))
    made = []
    for user_id in ids:
        via_api = draw(st.booleans())
        custom_keys = CUSTOM_KEYS[:-2] if via_api else CUSTOM_KEYS  # API names are standard
        made.append(
            Profile(
                user_id,
                draw(st.fixed_dictionaries({}, optional=COLLECT_FIELDS)),
                draw(st.dictionaries(st.sampled_from(custom_keys), scalars, max_size=5)),
                via_api,
                draw(st.integers(0, 4)) == 0,
            )
        )
    return World(made, draw(st.lists(st.sampled_from(EMAILS), max_size=2)))


def spellings(value: Any) -> list[str]:
    """How a stored value may be written in a query, and near misses of it."""
    if isinstance(value, bool):
        return ["true" if value else "false", "1" if value else "0"]
    if isinstance(value, int | float):
        out = [repr(value), repr(float(value)) if isinstance(value, int) else repr(int(value))]
        if value in (0, 1):
            out.append("true" if value == 1 else "false")  # a number is never a boolean
        return out
    text = str(value)
    out = [text, text.swapcase()]
    if len(text) > 1:
        half = len(text) // 2
        out += [text[:half].upper(), text[half:].lower(), text[1:-1]]
        # LIKE's wildcards in place of a character: literal in a query, so never a match
        out += ["_" + text[1:], text[:-1] + "%", text[:half] + "_" + text[half + 1 :]]
    return out


def stored(world: World) -> dict[str, list[Any]]:
    """Every value of each document field in the world, by its API name."""
    out: dict[str, list[Any]] = {"id": [], "unsubscribed": [True, False]}
    for p in world.profiles:
        out["id"].append(p.user_id)
        for name, value in p.fields.items():
            out.setdefault(API_NAMES[name], []).append(value)
        for key, value in p.custom.items():
            out.setdefault(key, []).append(value)
    return out


COMMON_VALUES = [*STRINGS, "10", "100", "-100", "0", "2", "1e3", "0.1", "+0100", "Ann@"]


@st.composite
def queries(draw: st.DrawFn, world: World) -> str:
    """1 to 3 terms joined with `&`, values percent-encoded as a client would send them.

    Fields are mostly ones the world holds, values mostly spellings of what that field holds,
    so that terms split the profiles rather than match none or all.
    """
    held = stored(world)
    terms = []
    for _ in range(draw(st.integers(1, 3))):
        key = draw(
            st.one_of(st.sampled_from(sorted(held)), st.sampled_from(QUERY_FIELDS))
            if draw(st.integers(0, 4))
            else st.sampled_from(QUERY_FIELDS)
        )
        near = [spelled for value in held.get(key, []) for spelled in spellings(value)]
        often = draw(st.integers(0, 3)) > 0
        values: st.SearchStrategy[str] = st.sampled_from(near) if near and often else st.nothing()
        values = st.one_of(values, st.sampled_from(COMMON_VALUES))
        op = draw(st.sampled_from(OPERATORS))
        if op == "exists":
            terms.append(f"{key}=")
        elif op == "missing":
            terms.append(f"{key}=!")
        elif op in ("in", "nin"):
            bang = "!" if op == "nin" else ""
            for item in draw(st.lists(values, min_size=1, max_size=3)):
                terms.append(f"{quote(key)}[]={bang}{quote(item, safe='')}")
        else:
            value = draw(values if op in ("eq", "ne") else values.filter(bool))
            terms.append(f"{key}={PREFIX[op]}{quote(value, safe='')}")
    return "&".join(terms)


def collect(storage: Storage, space: str, events: list[dict[str, Any]]) -> None:
    """One Collect request through the real decoding and commit path."""
    now = now_ms()
    decoded = ingest.decode_request(json.dumps({"events": events}).encode(), now, ingest.Limits())
    with storage.unit_of_work() as uow:
        answer = ingest.commit(uow, space, decoded, now)
    assert (answer.accepted, answer.invalid_events) == (len(events), []), answer


def write(storage: Storage, space: str, world: World) -> None:
    now = now_ms()
    events: list[dict[str, Any]] = []
    for n, p in enumerate(world.profiles):
        if p.via_api:
            body = {API_NAMES[k]: v for k, v in p.fields.items()} | p.custom
            change = decode_write(json.dumps(body).encode(), p.user_id)
            with storage.unit_of_work() as uow:
                profiles.replace(uow, space, p.user_id, change, None, "access:t", now - 20_000)
                if p.deleted:
                    profiles.delete(uow, space, p.user_id, None, "access:t", now - 10_000)
            continue
        payload = {"user_id": p.user_id, **p.fields}
        if p.custom:
            payload["custom_properties"] = p.custom
        events.append(event(f"c-{n}", "user_created", payload, now - 60_000))
        if p.deleted:
            events.append(event(f"d-{n}", "user_deleted", {"user_id": p.user_id}, now - 30_000))
    for n, email in enumerate(world.unsubscribed):
        events.append(event(f"u-{n}", "unsubscribe", {"email": email}, now - 45_000))
    if events:
        collect(storage, space, events)


def event(event_id: str, kind: str, payload: dict[str, Any], timestamp: int) -> dict[str, Any]:
    return {"type": kind, "event_id": event_id, "timestamp": timestamp, "payload": payload}


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(world=worlds(), data=st.data())
def test_sql_query_returns_exactly_what_matches_accepts(
    storage: Storage, world: World, data: st.DataObject
) -> None:
    with storage.unit_of_work() as uow:
        space = spaces.create_space(uow, 1, "prop", now_ms()).api_space_id
    write(storage, space, world)
    reader = storage.reader()

    everything = reader.profiles(space, q.parse(""), None, 1000)
    visible = sorted(p.user_id for p in world.profiles if not p.deleted)
    assert [r.user_id for r in everything] == visible
    docs = {r.user_id: r.doc for r in everything}
    for r in everything:
        assert (r.doc["id"], r.doc["unsubscribed"]) == (r.user_id, _unsubscribed(world, r.doc))

    for _ in range(4):
        query_string = data.draw(queries(world))
        query = q.parse(query_string)
        expected = [pid for pid in visible if q.matches(docs[pid], query)]
        got = [r.user_id for r in reader.profiles(space, query, None, 1000)]
        assert got == expected, (query_string, query, {pid: docs[pid] for pid in visible})

        after = data.draw(st.sampled_from([None, "", *IDS]))
        limit = data.draw(st.integers(1, 4))
        page = [r.user_id for r in reader.profiles(space, query, after, limit)]
        tail = [pid for pid in expected if after is None or pid > after]
        assert page == tail[:limit], (query_string, after, limit)


def _unsubscribed(world: World, doc: dict[str, Any]) -> bool:
    email = doc.get("email")
    return isinstance(email, str) and email.lower() in {e.lower() for e in world.unsubscribed}


def test_a_string_holding_nul_never_reaches_the_document() -> None:
    """SQLite's json_extract would cut it at the NUL and queries would disagree: refused."""
    from syncline.errors import RequestRejected
    from syncline.schemas.collect import EventError
    from syncline.schemas.profiles import decode_write
    from syncline.services import ingest

    body = json.dumps(
        {
            "events": [
                {
                    "type": "user_updated",
                    "event_id": "nul-1",
                    "timestamp": now_ms() - 1000,
                    "payload": {"user_id": "u1", "custom_properties": {"k": "a\x00b"}},
                }
            ]
        }
    ).encode()
    [decoded] = ingest.decode_request(body, now_ms(), ingest.Limits())
    assert isinstance(decoded.result, EventError)
    assert decoded.result.field.startswith("payload.custom_properties")
    with pytest.raises(RequestRejected, match=r"^k:"):
        decode_write(b'{"k": "a\\u0000b"}', "u1")
