"""The profile document, its ETag and the revision rules, as pure functions."""

from __future__ import annotations

from typing import Any

import pytest

from syncline.domain import profiles
from syncline.domain.ordering import LIVE, PREEXISTING
from syncline.domain.users import ProfileMark, UserState
from syncline.schemas.canonical import canonical, etag

# Values computed independently: the Node `etag` package's own test vectors, and one by hand
# (printf '{"id":"a","unsubscribed":false}' | openssl sha1 -binary | base64 | cut -c1-27).
ETAG_VECTORS: list[tuple[bytes, str]] = [
    (b"", '"0-2jmj7l5rSw0yVb/vlWAYkK/YBwk"'),
    (b"beep boop", '"9-fINXV39R1PCo05OqGqr7KIY9lCE"'),
    (b'{"id":"a","unsubscribed":false}', '"1f-Lem8Ws4fHno//s7n+rrK6yq6sjg"'),
]


@pytest.mark.parametrize(("body", "expected"), ETAG_VECTORS)
def test_etag_form_matches_independent_values(body: bytes, expected: str) -> None:
    assert profiles.etag_of_bytes(body) == expected


def test_etag_is_over_compact_sorted_json_without_system_fields() -> None:
    doc = {"unsubscribed": False, "id": "a"}
    assert canonical(doc) == b'{"id":"a","unsubscribed":false}'
    assert etag(doc) == '"1f-Lem8Ws4fHno//s7n+rrK6yq6sjg"'
    # 28 bytes give the seed's "1c-" prefix
    doc28 = {"id": "abcdefghijklmnopqrs"}
    assert len(canonical(doc28)) == 0x1C
    assert etag(doc28).startswith('"1c-')
    assert len(etag(doc28)) == len('"1c-') + 27 + 1


def test_canonical_json_is_utf8_not_escaped() -> None:
    assert canonical({"id": "a", "name": "Zoë"}) == '{"id":"a","name":"Zoë"}'.encode()


def test_canonical_json_sorts_nested_keys_and_keeps_types_apart() -> None:
    doc = {"z": [{"b": 1, "a": None}], "a": {"y": 2.5, "x": "\u0001"}}
    assert canonical(doc) == b'{"a":{"x":"\\u0001","y":2.5},"z":[{"a":null,"b":1}]}'
    assert len({canonical({"v": v}) for v in (True, 1, 1.0)}) == 3


def _user(**fields: Any) -> UserState:
    user = UserState("u1")
    clock = (LIVE, 1000, "e1")
    user.assign({k: v for k, v in fields.items() if k in profiles.STANDARD}, clock)
    user.assign_custom({k: v for k, v in fields.items() if k not in profiles.STANDARD}, clock)
    return user


def test_document_maps_copilot_fields_to_comapi_names() -> None:
    user = _user(
        first_name="Ada",
        last_name="Lovelace",
        email="Ada@Example.com",
        utc_offset="+0100",
        copilot_analysis_consent=True,
        plan="pro",
        email_alias="x",
    )
    assert profiles.document(user, unsubscribed=True) == {
        "id": "u1",
        "firstName": "Ada",
        "lastName": "Lovelace",
        "email": "Ada@Example.com",
        "utcOffset": "+0100",
        "analysisConsent": True,
        "plan": "pro",
        "email_alias": "x",
        "unsubscribed": True,
    }


@pytest.mark.parametrize("key", ["email", "firstName", "id", "unsubscribed", "_createdOn"])
def test_custom_properties_never_shadow_standard_or_system_fields(key: str) -> None:
    user = _user(first_name="Ada")
    user.assign_custom({key: "custom"}, (LIVE, 2000, "e2"))
    doc = profiles.document(user, unsubscribed=False)
    assert doc.get(key) != "custom"


def test_cleared_fields_are_absent() -> None:
    user = _user(first_name="Ada", plan="pro")
    user.write({"first_name": None}, {"plan": None}, (LIVE, 2000, "e2"))
    assert profiles.document(user, unsubscribed=False) == {"id": "u1", "unsubscribed": False}


# revisions ---------------------------------------------------------------------------------
DOC_A = {"id": "u1", "unsubscribed": False}
DOC_B = {"id": "u1", "unsubscribed": False, "firstName": "Ada"}

# (steps of (document, deleted)) -> the names of the revisions they make, None for no revision
REVISION_TABLE: list[tuple[str, list[tuple[dict[str, Any], bool]], list[str | None]]] = [
    ("create", [(DOC_A, False)], ["create"]),
    ("same again bumps nothing", [(DOC_A, False), (DOC_A, False)], ["create", None]),
    ("update", [(DOC_A, False), (DOC_B, False)], ["create", "update"]),
    (
        "seed sequence",
        [(DOC_A, False), (DOC_B, False), (DOC_B, True), (DOC_B, False)],
        ["create", "update", "delete", "undelete"],
    ),
    (
        "a type flip is a change (True is not 1)",
        [({**DOC_A, "tier": True}, False), ({**DOC_A, "tier": 1}, False)],
        ["create", "update"],
    ),
    ("born deleted is never visible", [(DOC_A, True)], [None]),
    ("born deleted, then revived", [(DOC_A, True), (DOC_B, False)], [None, "create"]),
    (
        "changes while deleted are silent",
        [(DOC_A, False), (DOC_A, True), (DOC_B, True)],
        ["create", "delete", None],
    ),
]


@pytest.mark.parametrize(
    ("name", "steps", "expected"), REVISION_TABLE, ids=[r[0] for r in REVISION_TABLE]
)
def test_revisions(
    name: str, steps: list[tuple[dict[str, Any], bool]], expected: list[str | None]
) -> None:
    mark = ProfileMark()
    seen: list[str | None] = []
    revisions: list[int] = []
    for at, (doc, deleted) in enumerate(steps):
        change = profiles.observe(mark, dict(doc), deleted, at, canonical)
        seen.append(change.name if change else None)
        if change is not None:
            revisions.append(change.revision)
            assert change.etag == etag(doc)
            assert mark.updated_on == at
    assert seen == expected
    assert revisions == list(range(len(revisions)))  # 0, 1, 2, ...: never skips, never repeats


def test_change_lists_what_changed() -> None:
    mark = ProfileMark()
    profiles.observe(mark, dict(DOC_A), False, 1, canonical)
    change = profiles.observe(mark, dict(DOC_B), False, 2, canonical)
    assert change is not None
    assert change.changes == {"firstName": [None, "Ada"]}


@pytest.mark.parametrize(
    "after", [{}, {"b": 1, "a": None}, {"z": [1], "a": {"x": None}, "m": False, "n": 0}]
)
def test_diff_of_a_create_is_the_general_rule_from_nothing(after: dict[str, Any]) -> None:
    general = profiles.diff({"~": 0}, after)  # the general rule, with one key that goes away
    assert general.pop("~") == [0, None]
    assert profiles.diff({}, after) == general
    assert list(profiles.diff({}, after)) == list(general)  # the same key order


def test_undelete_carries_changes_made_while_deleted() -> None:
    mark = ProfileMark()
    profiles.observe(mark, dict(DOC_A), False, 1, canonical)
    profiles.observe(mark, dict(DOC_A), True, 2, canonical)
    profiles.observe(mark, dict(DOC_B), True, 3, canonical)
    change = profiles.observe(mark, dict(DOC_B), False, 4, canonical)
    assert change is not None
    assert (change.name, change.changes) == ("undelete", {"firstName": [None, "Ada"]})


def test_served_adds_system_fields_in_iso_utc_with_milliseconds() -> None:
    out = profiles.served(dict(DOC_A), 1_556_849_038_000, 1_556_849_038_007, 3)
    assert out["_createdOn"] == "2019-05-03T02:03:58.000Z"
    assert out["_updatedOn"] == "2019-05-03T02:03:58.007Z"
    assert out["_revision"] == 3


def test_created_on_prefers_original_creation_date() -> None:
    user = _user(first_name="Ada")
    user.see(5_000)
    assert profiles.created_on(user) == 5_000
    user.set_created_on(1_000, (PREEXISTING, 6_000, "p1"))
    assert profiles.created_on(user) == 1_000
