"""The profile query string: parsing table and the reference matching semantics."""

from __future__ import annotations

from typing import Any

import pytest

from syncline.domain import query as q

PARSE_TABLE: list[tuple[str, list[tuple[str, str, tuple[Any, ...]]]]] = [
    ("email=a@b.c", [("email", q.EQ, ("a@b.c",))]),
    ("email=!a@b.c", [("email", q.NE, ("a@b.c",))]),
    ("age=>18", [("age", q.GT, ("18", 18))]),
    ("age=>=18", [("age", q.GTE, ("18", 18))]),
    ("age=<18.5", [("age", q.LT, ("18.5", 18.5))]),
    ("age=<=-2", [("age", q.LTE, ("-2", -2))]),
    ("name=^Ad", [("name", q.STARTS, ("Ad",))]),
    ("name=$ce", [("name", q.ENDS, ("ce",))]),
    ("name=~la", [("name", q.CONTAINS, ("la",))]),
    ("email=", [("email", q.EXISTS, ())]),
    ("email=!", [("email", q.MISSING, ())]),
    ("ok=true", [("ok", q.EQ, ("true", True))]),
    ("utcOffset=0000", [("utcOffset", q.EQ, ("0000",))]),  # not a number: leading zeros
    ("name=Ann+Marie", [("name", q.EQ, ("Ann Marie",))]),  # form encoding: + is a space
    ("utcOffset=%2B0100", [("utcOffset", q.EQ, ("+0100",))]),
    ("plan[]=pro&plan[]=max", [("plan", q.IN, ("pro", "max"))]),
    ("plan[]=!free", [("plan", q.NOT_IN, ("free",))]),
    (
        "a=1&b=!x&limit=5&cursor=abc",
        [("a", q.EQ, ("1", 1)), ("b", q.NE, ("x",))],
    ),
    ("", []),
    ("a=1&&", [("a", q.EQ, ("1", 1))]),
]


@pytest.mark.parametrize(("raw", "expected"), PARSE_TABLE)
def test_parse(raw: str, expected: list[tuple[str, str, tuple[Any, ...]]]) -> None:
    parsed = q.parse(raw)
    assert [(t.field, t.op, t.values) for t in parsed.terms] == expected


def test_limit_and_cursor_are_parameters_not_terms() -> None:
    assert q.parse("a=1&limit=5&cursor=abc").params == {"limit": "5", "cursor": "abc"}


@pytest.mark.parametrize(
    "raw",
    ["email", "age=>", "age=>=", "name=^", "bad key=1", "%ZZ=1", "a=%ff", "x" * 129 + "=1", "=1"],
)
def test_unparsable_terms_are_named(raw: str) -> None:
    with pytest.raises(q.QuerySyntaxError) as caught:
        q.parse(f"ok=1&{raw}")
    assert repr(raw[:20])[1:-1] in str(caught.value) or raw[:20] in str(caught.value)


DOC = {"id": "u1", "name": "Ada Lovelace", "age": 36, "ok": True, "utcOffset": "0000", "s": "7"}

MATCH_TABLE: list[tuple[str, bool]] = [
    ("name=Ada Lovelace", True),
    ("name=ada lovelace", False),  # equality is exact
    ("name=^ada", True),  # string operators ignore ASCII case
    ("name=$LACE", True),
    ("name=~love", True),
    ("name=~hate", False),
    ("age=36", True),
    ("age=>35", True),
    ("age=>=36", True),
    ("age=<36", False),
    ("age=<=36", True),
    ("age=!36", False),
    ("age=!37", True),
    ("ok=true", True),
    ("ok=1", False),  # a boolean is not a number
    ("utcOffset=0000", True),
    ("s=7", True),  # the string "7" matches the reading "7"
    ("s=>6", True),  # compared as strings: "7" > "6"
    ("missing=!x", True),  # not-equal matches an absent field, as Mongo's $ne
    ("missing=", False),
    ("missing=!", True),
    ("name=", True),
    ("age[]=1&age[]=36", True),
    ("age[]=!36", False),
    ("name=^Ada&age=>40", False),
]


@pytest.mark.parametrize(("raw", "expected"), MATCH_TABLE)
def test_matches(raw: str, expected: bool) -> None:
    assert q.matches(DOC, q.parse(raw)) is expected
