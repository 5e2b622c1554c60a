"""The dashboard's counters and bounded reads, written in the ingest transaction."""

from __future__ import annotations

import msgspec

from syncline.services import ingest, profiles, replay
from syncline.storage.interface import Storage
from tests.support.events import event

LIMITS = ingest.Limits()


def send(storage: Storage, space: str, *events: dict[str, object], now: int) -> None:
    body = msgspec.json.encode({"events": list(events)})
    decoded = ingest.decode_request(body, now, LIMITS)
    with storage.unit_of_work() as uow:
        ingest.commit(uow, space, decoded, now)


def user(user_id: str, at: int) -> dict[str, object]:
    return event("user_created", {"user_id": user_id}, timestamp=at)


def test_counts_per_minute_and_in_total(storage: Storage, space: str) -> None:
    now = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
    ok = [user(f"u{i}", now) for i in range(3)]
    bad = event("user_created", {"user_id": "bad id"}, timestamp=now)
    early = event("preexisting_user_created", {"user_id": "p1"}, timestamp=now)
    send(storage, space, *ok, bad, early, now=now)
    send(storage, space, *ok, now=now + 60_000)  # duplicates count as nothing
    send(storage, space, user("u9", now), now=now + 60_000)
    reader = storage.reader()
    minute = now // 60_000
    assert reader.event_counts(space, minute) == [
        (minute, "preexisting_user_created", "rejected", 1),
        (minute, "user_created", "accepted", 3),
        (minute, "user_created", "rejected", 1),
        (minute + 1, "user_created", "accepted", 1),
    ]
    assert reader.event_counts(space, minute + 1) == [(minute + 1, "user_created", "accepted", 1)]
    assert reader.event_totals(space) == [
        ("preexisting_user_created", "rejected", 1),
        ("user_created", "accepted", 4),
        ("user_created", "rejected", 1),
    ]
    assert reader.rejected_count(space, "pending", None, None, 10) == 2
    assert reader.rejected_count(space, "pending", "sync.not_open", None, 10) == 1
    assert reader.rejected_count(space, None, None, "user_created", 10) == 1
    assert reader.rejected_count(space, None, None, None, 1) == 1  # capped


def test_replay_counts_what_it_accepts(storage: Storage, space: str) -> None:
    now = 1_800_000_000_000 - 1_800_000_000_000 % 60_000
    early = event("preexisting_user_created", {"user_id": "p1"}, timestamp=now)
    send(storage, space, early, now=now)
    send(storage, space, event("preexisting_sync_started", {}, timestamp=now), now=now)
    reader = storage.reader()
    (item,) = reader.rejected(
        space, status="pending", code=None, type=None, cursor=None, limit=10
    ).items
    row = reader.rejected_event(space, item["id"])
    assert row is not None
    assert row.code == "sync.not_open"
    assert b'"p1"' in row.raw
    assert reader.rejected_event(space, "nope") is None
    with storage.unit_of_work() as uow:
        assert replay.replay(uow, space, now + 120_000, LIMITS, ids=[row.rejected_id]).accepted
    assert (now // 60_000 + 2, "preexisting_user_created", "accepted", 1) in reader.event_counts(
        space, 0
    )
    assert ("preexisting_user_created", "accepted", 1) in reader.event_totals(space)
    assert reader.rejected_count(space, "pending", None, None, 10) == 0


def test_a_search_window_ends_where_the_dashboard_asks(storage: Storage, space: str) -> None:
    now = 1_800_000_000_000
    send(storage, space, *(user(f"u{i}", now) for i in range(6)), now=now)
    reader = storage.reader()
    assert reader.profile_window_end(space, None, 2) == "u1"
    assert reader.profile_window_end(space, "u1", 3) == "u4"
    assert reader.profile_window_end(space, "u4", 3) is None
    rows, _, _, after = profiles.find(reader, space, "id=!u2&limit=10", upto="u4")
    assert [r.user_id for r in rows] == ["u0", "u1", "u3", "u4"]
    assert after is None
