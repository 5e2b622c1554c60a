"""The dashboard's pure parts: the session cookie, the chart, form input, summaries."""

from __future__ import annotations

from urllib.parse import unquote_plus

import pytest

from syncline.domain import query as q
from syncline.errors import RequestRejected
from syncline.http import chart, forms
from syncline.http.session import SessionSigner, session_key
from syncline.services import dashboard
from syncline.services.dashboard import Minute
from syncline.storage.records import AttemptRow

NOW = 1_800_000_000


def test_a_session_cookie_reads_back_until_it_expires() -> None:
    signer = SessionSigner(b"k" * 32, lifetime_seconds=60)
    made, cookie = signer.issue("space-1", "cred-1", NOW)
    assert signer.read(cookie, NOW + 59) == made
    assert signer.read(cookie, NOW + 60) is None
    assert made.may_see("space-1")
    assert not made.may_see("space-2")
    assert not made.is_admin
    assert made.csrf_ok(made.csrf)
    assert not made.csrf_ok(None)
    assert not made.csrf_ok(made.csrf + "x")


@pytest.mark.parametrize(
    "tamper",
    [
        lambda c: c.replace(".", ".x", 1),
        lambda c: "eyJ4IjoxfQ." + c.split(".")[1],  # another payload under the same signature
        lambda c: c + ".more",
        lambda c: "",
        lambda c: "garbage",
    ],
)
def test_a_forged_or_altered_cookie_is_no_session(tamper: object) -> None:
    signer = SessionSigner(b"k" * 32)
    _, cookie = signer.issue("space-1", "cred-1", NOW)
    assert callable(tamper)
    assert signer.read(tamper(cookie), NOW) is None


def test_another_key_rejects_the_cookie_and_the_admin_key_is_stable() -> None:
    _, cookie = SessionSigner(session_key("a" * 16)).issue("*", "admin", NOW)
    assert SessionSigner(session_key("a" * 16)).read(cookie, NOW) is not None
    assert SessionSigner(session_key("b" * 16)).read(cookie, NOW) is None
    assert SessionSigner(session_key(None)).read(cookie, NOW) is None
    admin = SessionSigner(session_key("a" * 16)).read(cookie, NOW)
    assert admin is not None
    assert admin.is_admin
    assert admin.may_see("any-space")


@pytest.mark.parametrize(
    ("typed", "field", "op", "value"),
    [
        ("email=ada@example.com", "email", q.EQ, "ada@example.com"),
        ("utcOffset=+0100", "utcOffset", q.EQ, "+0100"),
        ("firstName=~Ada Love", "firstName", q.CONTAINS, "Ada Love"),
        ("seats=>=2", "seats", q.GTE, "2"),
        (" plan[]=pro ", "plan", q.IN, "pro"),
        ("tag=a%20b", "tag", q.EQ, "a%20b"),
    ],
)
def test_a_typed_query_reads_as_typed(typed: str, field: str, op: str, value: str) -> None:
    (term,) = q.parse(forms.typed_query(typed)).terms
    assert (term.field, term.op, term.text) == (field, op, value)


def test_typed_terms_are_joined_and_empty_ones_dropped() -> None:
    raw = forms.typed_query("a=1&&b=!&")
    assert [unquote_plus(t) for t in raw.split("&")] == ["a=1", "b=!"]
    assert forms.typed_query("   ") == ""


def test_form_times_and_notes() -> None:
    assert forms.utc_ms("1970-01-01T00:01", "since") == 60_000
    assert forms.utc_ms("", "since") is None
    with pytest.raises(RequestRejected, match="since: not a date"):
        forms.utc_ms("yesterday", "since")
    assert forms.counts_note("1.0.2", 3) == [1, 0, 2]
    assert forms.counts_note("1.x.2", 3) is None
    assert forms.counts_note("1.2", 3) is None
    assert forms.fields(b"ids=a&ids=b&csrf=") == {"ids": ["a", "b"], "csrf": [""]}
    with pytest.raises(RequestRejected):
        forms.fields(b"\xff")


def test_minutes_are_filled_and_summed_over_types() -> None:
    rows = [
        (101, "user_created", "accepted", 5),
        (101, "thing_created", "accepted", 2),
        (101, "user_created", "rejected", 1),
        (103, "user_created", "accepted", 1),
        (99, "user_created", "accepted", 50),  # before the window
    ]
    assert dashboard.per_minute(rows, 100, 4) == [
        Minute(100, 0, 0),
        Minute(101, 7, 1),
        Minute(102, 0, 0),
        Minute(103, 1, 0),
    ]
    totals = dashboard.by_type([(k, o, n) for _, k, o, n in rows])
    assert [(t.type, t.accepted, t.rejected) for t in totals] == [
        ("user_created", 56, 1),
        ("thing_created", 2, 0),
    ]


def attempt(outcome: str, latency: float) -> AttemptRow:
    return AttemptRow("a", "m", ["e"], 0, 200, latency, None, None, outcome)


def test_health_of_recent_attempts() -> None:
    assert dashboard.health([]) == dashboard.Health(0, None, None, None)
    rows = [attempt("delivered", float(ms)) for ms in range(1, 20)] + [attempt("retry", 100.0)]
    health = dashboard.health(rows)
    assert health.attempts == 20
    assert health.success_rate == pytest.approx(0.95)
    assert health.p50_ms == 10.0
    assert health.p95_ms == 19.0


@pytest.mark.parametrize(
    ("n", "shown"), [(0, "0"), (9_999, "9,999"), (10_000, "10,000+"), (12_345, "10,000+")]
)
def test_capped_counts(n: int, shown: str) -> None:
    assert dashboard.capped(n) == shown


@pytest.mark.parametrize(("n", "top"), [(0, 1), (1, 1), (3, 5), (7, 10), (11, 20), (999, 1000)])
def test_the_scale_tops_at_a_round_number(n: int, top: int) -> None:
    assert chart.nice_ceiling(n) == top


def test_bars_stack_rejected_on_accepted() -> None:
    drawn = chart.bars([Minute(0, 0, 0), Minute(1, 6, 4)], width=200, height=120)
    assert drawn.peak == 10
    assert (drawn.accepted, drawn.rejected) == (6, 4)
    accepted, rejected = drawn.bars
    assert (accepted.kind, accepted.x, accepted.height) == ("accepted", 100, 60)
    assert (rejected.kind, rejected.y + rejected.height) == ("rejected", accepted.y)
    assert rejected.title == "00:01 UTC: 6 accepted, 4 rejected"
    assert drawn.labels == [(0, "00:00", "start"), (200, "00:01", "end")]
