"""Fuzzing the two parsers that read what clients send: the Collect decoder and the profile
query parser. Whatever arrives, each either answers with a typed result or refuses with an error
that names what it refused; nothing else escapes. The number of cases tried is printed
(`pytest -s`) and kept in docs/reliability.md.
"""

from __future__ import annotations

import json
import string
from collections.abc import Callable
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from syncline.domain import query as q
from syncline.errors import RequestRejected
from syncline.schemas import collect as c
from syncline.services.ingest import Limits, decode_request

NOW = 1_800_000_000_000
LIMITS = Limits(max_events=50)
CASES = 1500
TRIED: dict[str, int] = {}

json_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(2**70), 2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    st.text(max_size=40),
)
json_values = st.recursive(
    json_scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=5), st.dictionaries(st.text(max_size=12), inner, max_size=5)
    ),
    max_leaves=20,
)

VALID: dict[str, dict[str, Any]] = {
    "user_created": {"user_id": "u-1", "email": "a@example.com", "utc_offset": "+0100"},
    "thing_created": {"thing_id": "t-1", "model": "K-200", "firmware_version": "1.2.3"},
    "user_thing_associated": {"user_id": "u-1", "thing_id": "t-1"},
    "thing_status_changed": {"thing_id": "t-1", "status_key": "power", "status_value": "on"},
    "thing_connected": {"thing_id": "t-1", "user_id": "u-1"},
    "unsubscribe": {"email": "a@example.com"},
}
FIELDS = [
    "user_id",
    "thing_id",
    "email",
    "utc_offset",
    "first_name",
    "custom_properties",
    "status_key",
    "status_value",
    "model",
    "firmware_version",
    "copilot_analysis_consent",
]


def attempt(fn: Callable[[], Any], refusal: type[Exception]) -> tuple[Any, Exception | None]:
    """What `fn` answers, or the refusal it raised; any other exception fails the test."""
    try:
        return fn(), None
    except refusal as exc:
        return None, exc


@st.composite
def mutated_events(draw: st.DrawFn) -> Any:
    """A valid event with some parts replaced, removed or added: near misses reach deepest."""
    kind = draw(st.sampled_from(sorted(VALID)))
    event: dict[str, Any] = {
        "type": kind,
        "event_id": "e-1",
        "timestamp": NOW - 1000,
        "payload": dict(VALID[kind]),
    }
    for _ in range(draw(st.integers(1, 3))):
        payload = event.get("payload")
        target = payload if isinstance(payload, dict) and draw(st.booleans()) else event
        key = draw(st.sampled_from([*target.keys(), *FIELDS, "type", "timestamp", "event_id"]))
        action = draw(st.sampled_from(["replace", "delete", "string"]))
        if action == "delete":
            target.pop(key, None)
        elif action == "string":
            target[key] = draw(st.text(alphabet=string.printable + "é\u0000\u2028", max_size=30))
        else:
            target[key] = draw(json_values)
    return event


def bodies() -> st.SearchStrategy[bytes]:
    events = st.lists(st.one_of(mutated_events(), json_values), min_size=0, max_size=60)
    return st.one_of(
        st.binary(max_size=200),
        json_values.map(lambda v: json.dumps(v).encode()),
        events.map(lambda e: json.dumps({"events": e}).encode()),
        events.map(lambda e: json.dumps({"events": e}, ensure_ascii=False).encode()),
    )


@settings(max_examples=CASES, deadline=None, suppress_health_check=list(HealthCheck))
@given(bodies())
def test_the_collect_decoder_answers_or_refuses_cleanly(body: bytes) -> None:
    TRIED["collect"] = TRIED.get("collect", 0) + 1
    decoded, refused = attempt(lambda: decode_request(body, NOW, LIMITS), RequestRejected)
    if refused is not None:
        assert str(refused)
        return
    assert [d.index for d in decoded] == list(range(len(decoded)))
    for d in decoded:
        if isinstance(d.result, c.EventError):
            assert d.result.code
            assert d.result.field
            assert d.result.message
        else:
            assert c.event_type(d.result) in c.EVENT_TYPES


query_text = st.text(alphabet=string.ascii_letters + string.digits + "=!<>^$~[]&%+._-@:é ")


@settings(max_examples=CASES, deadline=None)
@given(
    st.one_of(
        query_text,
        st.lists(
            st.tuples(
                st.sampled_from(["firstName", "email", "plan", "n", "a.b", "", "x[]", "limit"]),
                st.sampled_from(["=", "=!", "=>", "=<", "=>=", "=<=", "=^", "=$", "=~", ""]),
                query_text,
            ),
            max_size=4,
        ).map(lambda terms: "&".join(f + op + v for f, op, v in terms)),
    ),
    st.dictionaries(st.sampled_from(["firstName", "email", "plan", "n"]), json_scalars),
)
def test_the_query_parser_answers_or_names_the_term(raw: str, doc: dict[str, Any]) -> None:
    TRIED["query"] = TRIED.get("query", 0) + 1
    parsed, refused = attempt(lambda: q.parse(raw), q.QuerySyntaxError)
    if refused is not None:
        assert str(refused)
        return
    q.matches(doc, parsed)  # the reference matcher takes whatever the parser gives


@pytest.fixture(scope="module", autouse=True)
def report() -> Any:
    yield
    print(f"\nfuzz cases tried: {TRIED}")
