"""Delivery bookkeeping on real SQLite: claims and leases, per-profile order, health and
disabling after a long failure, retention pruning."""

from __future__ import annotations

import json

import pytest

from syncline.clock import now_ms
from syncline.services import ingest
from syncline.storage.interface import Storage
from syncline.storage.records import AttemptRow, OutboxRow, Settled, WebhookRow

HOUR = 3_600_000


def _hook(ordering: str = "profile") -> WebhookRow:
    return WebhookRow(
        webhook_id="w1",
        url="https://example.com/h",
        events=["profile.*"],
        secret="0123456789abcdef",
        include_preexisting=True,
        ordering=ordering,
        batch_max_events=None,
        batch_timeout_s=None,
        state="enabled",
        created_at=0,
    )


def _queue(storage: Storage, space: str, rows: list[tuple[str, int]], at: int) -> None:
    outbox = [
        OutboxRow(f"{user}-{rev}", user, rev, "profile.update", b"{}", False, at)
        for user, rev in rows
    ]
    with storage.unit_of_work() as uow:
        uow.save_webhook(space, _hook())
        uow.insert_outbox(space, outbox, [("w1", r) for r in outbox])


def test_claims_give_each_profile_its_oldest_open_revision_only(
    storage: Storage, space: str
) -> None:
    _queue(storage, space, [("a", 0), ("a", 1), ("a", 2), ("b", 0), ("b", 1)], at=1000)
    with storage.unit_of_work() as uow:
        first = uow.claim(space, _hook(), 2000, 10_000, 100)
        assert sorted(c.event_id for c in first) == ["a-0", "b-0"]
        assert uow.claim(space, _hook(), 2000, 10_000, 100) == []  # both in flight
        uow.settle_all(
            [
                Settled(space, "w1", ["a-0"], 10_000, "delivered", 2000, None, None),
                Settled(space, "w1", ["b-0"], 10_000, "pending", 5000, "HTTP 500", None),
            ],
            2000,
        )
        second = uow.claim(space, _hook(), 3000, 10_000, 100)
        assert [c.event_id for c in second] == ["a-1"]  # b-1 waits behind b-0's retry
        none_ordered = uow.claim(space, _hook("none"), 6000, 10_000, 100)
        assert sorted(c.event_id for c in none_ordered) == ["a-2", "b-0", "b-1"]


def test_an_expired_lease_makes_the_delivery_pending_again(storage: Storage, space: str) -> None:
    _queue(storage, space, [("a", 0)], at=1000)
    with storage.unit_of_work() as uow:
        assert len(uow.claim(space, _hook(), 2000, 3000, 10)) == 1
        assert uow.release_expired(2500) == 0  # still leased
        assert uow.release_expired(3001) == 1
        [again] = uow.claim(space, _hook(), 3002, 9000, 10)
        assert again.event_id == "a-0"


def test_failing_longer_than_allowed_disables_and_a_success_resets(
    storage: Storage, space: str
) -> None:
    _queue(storage, space, [], at=0)
    allowed = 72 * HOUR
    with storage.unit_of_work() as uow:
        assert uow.record_health(space, "w1", False, 1 * HOUR, allowed) is False
        assert uow.record_health(space, "w1", True, 2 * HOUR, allowed) is False
        assert uow.record_health(space, "w1", False, 3 * HOUR, allowed) is False
        assert uow.record_health(space, "w1", False, 74 * HOUR, allowed) is False  # 71 h
        assert uow.record_health(space, "w1", False, 75 * HOUR + 1, allowed) is True
    row = storage.reader().webhook(space, "w1")
    assert row is not None
    assert row.state == "disabled"
    assert row.failing_since == 3 * HOUR
    assert row.disabled_reason is not None


def test_a_sender_that_outlived_its_lease_no_longer_decides(storage: Storage, space: str) -> None:
    """Claimed by a sender that stalled past its lease, taken back and claimed again by
    another: the first sender's late outcome (a failure, or giving it back) changes nothing;
    the second's decides."""
    _queue(storage, space, [("a", 0)], at=1000)
    with storage.unit_of_work() as uow:
        [first] = uow.claim(space, _hook(), 2000, 5000, 10)
        assert uow.release_expired(6000) == 1  # its lease ran out
        [second] = uow.claim(space, _hook(), 6000, 9000, 10)
        assert (first.lease_until, second.lease_until) == (5000, 9000)
        uow.settle_all(
            [
                Settled(space, "w1", ["a-0"], 5000, "pending", 60_000, "HTTP 500", None),
                Settled(space, "w1", ["a-0"], 5000, "unclaimed", 0, None, None),
            ],
            7000,
        )
    assert storage.reader().delivery_counts(space, "w1")["inflight"] == 1  # still the second's
    with storage.unit_of_work() as uow:
        uow.settle_all([Settled(space, "w1", ["a-0"], 9000, "delivered", 7000, None, None)], 7000)
    counts = storage.reader().delivery_counts(space, "w1")
    assert (counts["delivered"], counts["inflight"], counts["pending"]) == (1, 0, 0)


def test_retention_prunes_what_is_done_and_keeps_what_is_not(storage: Storage, space: str) -> None:
    _queue(storage, space, [("a", 0), ("b", 0)], at=1000)
    with storage.unit_of_work() as uow:
        uow.claim(space, _hook(), 2000, 9000, 10)
        attempt = AttemptRow("t1", "a-0", ["a-0"], 2000, 200, 1.0, "ok", None, "delivered")
        uow.settle_all(
            [
                Settled(space, "w1", ["a-0"], 9000, "delivered", 2000, None, attempt),
                Settled(space, "w1", ["b-0"], 9000, "pending", 2000, "HTTP 503", None),
            ],
            2000,
        )
        assert uow.prune(before=10_000) == 1
    reader = storage.reader()
    assert reader.delivery_counts(space, "w1") == {
        "pending": 1,
        "inflight": 0,
        "delivered": 0,
        "dead": 0,
    }
    assert reader.attempts(space, "w1", None, 10) == []
    with storage.unit_of_work() as uow:
        # the pending one's envelope is still there to be sent
        [claimed] = uow.claim(space, _hook(), 3000, 9000, 10)
        assert claimed.event_id == "b-0"


def test_a_rolled_back_change_leaves_no_outbox_row(storage: Storage, space: str) -> None:
    with storage.unit_of_work() as uow:
        uow.save_webhook(space, _hook())
    body = {
        "events": [
            {
                "type": "user_created",
                "event_id": "rb-1",
                "timestamp": now_ms() - 1000,
                "payload": {"user_id": "rb"},
            }
        ]
    }
    decoded = ingest.decode_request(json.dumps(body).encode(), now_ms(), ingest.Limits())

    def fail_after_writing() -> None:
        with storage.unit_of_work() as uow:
            assert ingest.commit(uow, space, decoded, now_ms()).accepted == 1
            raise RuntimeError("the transaction fails after the change was written")

    with pytest.raises(RuntimeError):
        fail_after_writing()
    assert storage.reader().delivery_counts(space, "w1")["pending"] == 0
    assert storage.reader().profile(space, "rb") is None
    with storage.unit_of_work() as uow:  # the same change, committed: exactly one delivery
        ingest.commit(uow, space, decoded, now_ms())
    assert storage.reader().delivery_counts(space, "w1")["pending"] == 1
