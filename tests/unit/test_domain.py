"""The pure rules of syncline's state (src/syncline/domain), table-driven.

Every register is ordered by (precedence, timestamp, event_id); live (1) outranks preexisting
(0) whatever the timestamps. The final value depends only on the set of writes, so several
tests apply the same writes in every order and expect one result.
"""

from __future__ import annotations

import itertools
from typing import Any

import pytest

from syncline.domain import sync
from syncline.domain.associations import AssociationState
from syncline.domain.ordering import LIVE, PREEXISTING, clock_of, make, merge, wins
from syncline.domain.things import ThingState
from syncline.domain.users import UserState

T = 1_700_000_000_000  # a fixed instant: the domain never reads a clock


def live(ts: int, event_id: str = "e") -> tuple[int, int, str]:
    return (LIVE, ts, event_id)


def pre(ts: int, event_id: str = "e") -> tuple[int, int, str]:
    return (PREEXISTING, ts, event_id)


# ordering -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("clock", "register", "expected"),
    [
        pytest.param(live(T), None, True, id="empty-register"),
        pytest.param(pre(T), None, True, id="empty-register-preexisting"),
        pytest.param(live(T + 1), make("x", live(T)), True, id="newer-timestamp"),
        pytest.param(live(T - 1), make("x", live(T)), False, id="older-timestamp"),
        pytest.param(live(T, "b"), make("x", live(T, "a")), True, id="tie-higher-event-id"),
        pytest.param(live(T, "a"), make("x", live(T, "b")), False, id="tie-lower-event-id"),
        pytest.param(live(T, "a"), make("x", live(T, "a")), False, id="same-clock"),
        pytest.param(live(T - 10**9), make("x", pre(T)), True, id="live-beats-newer-pre"),
        pytest.param(pre(T + 10**9), make("x", live(T)), False, id="pre-never-beats-live"),
        pytest.param(pre(T + 1), make("x", pre(T)), True, id="pre-vs-pre-by-timestamp"),
        pytest.param(pre(T, "z"), make("x", pre(T, "y")), True, id="pre-vs-pre-by-event-id"),
    ],
)
def test_wins(clock: tuple[int, int, str], register: list[Any] | None, expected: bool) -> None:
    assert wins(clock, register) is expected


def test_make_and_clock_of_round_trip() -> None:
    register = make("v", live(T, "id-1"))
    assert register == ["v", LIVE, T, "id-1"]
    assert clock_of(register) == live(T, "id-1")


@pytest.mark.parametrize(
    ("before", "value", "clock", "returned", "after"),
    [
        pytest.param(None, "a", live(T), True, ["a", LIVE, T, "e"], id="first-write"),
        pytest.param(
            ["a", LIVE, T, "e"], "b", live(T + 1), True, ["b", LIVE, T + 1, "e"], id="newer"
        ),
        pytest.param(
            ["a", LIVE, T, "e"], "b", live(T - 1), False, ["a", LIVE, T, "e"], id="older-ignored"
        ),
        pytest.param(
            ["a", LIVE, T, "e"],
            "a",
            live(T + 1),
            False,
            ["a", LIVE, T + 1, "e"],
            id="same-value-newer-clock-advances-but-reports-no-change",
        ),
        pytest.param(
            ["a", LIVE, T, "m"], "b", live(T, "n"), True, ["b", LIVE, T, "n"], id="tie-by-event-id"
        ),
        pytest.param(
            ["a", LIVE, T, "m"], "b", live(T, "l"), False, ["a", LIVE, T, "m"], id="tie-loses"
        ),
        pytest.param(
            ["a", PREEXISTING, T, "e"],
            "b",
            live(T - 10**6),
            True,
            ["b", LIVE, T - 10**6, "e"],
            id="older-live-over-preexisting",
        ),
        pytest.param(
            ["a", LIVE, T, "e"],
            "b",
            pre(T + 10**6),
            False,
            ["a", LIVE, T, "e"],
            id="newer-preexisting-under-live",
        ),
    ],
)
def test_merge(
    before: list[Any] | None,
    value: Any,
    clock: tuple[int, int, str],
    returned: bool,
    after: list[Any],
) -> None:
    registers = {} if before is None else {"name": list(before)}
    assert merge(registers, "name", value, clock) is returned
    assert registers == {"name": after}


WRITES = [
    ("pre-new", pre(T + 500, "p1")),
    ("pre-newer", pre(T + 900, "p2")),
    ("live-old", live(T, "b")),
    ("live-tie-a", live(T + 100, "a")),
    ("live-tie-c", live(T + 100, "c")),
    ("live-older", live(T + 50, "z")),
]


def test_merge_result_is_the_maximum_whatever_the_order() -> None:
    # live beats preexisting; among live writes at T+100, event_id "c" > "a" breaks the tie
    for order in itertools.permutations(WRITES):
        registers: dict[str, list[Any]] = {}
        for value, clock in order:
            merge(registers, "k", value, clock)
        assert registers["k"] == ["live-tie-c", LIVE, T + 100, "c"], order


def test_preexisting_writes_alone_are_ordered_by_timestamp() -> None:
    for order in itertools.permutations(WRITES[:2]):
        registers: dict[str, list[Any]] = {}
        for value, clock in order:
            merge(registers, "k", value, clock)
        assert registers["k"][0] == "pre-newer"


# users ----------------------------------------------------------------------------------------


def test_user_assign_merges_each_field_and_skips_absent_values() -> None:
    user = UserState("u1")
    user.assign({"first_name": "Ann", "last_name": "Lee", "email": None}, live(T, "a"))
    user.assign({"first_name": None, "last_name": "Kim"}, live(T + 1, "b"))
    user.assign({"first_name": "Old"}, live(T - 1, "c"))
    view = user.view()
    assert view["first_name"] == "Ann"
    assert view["last_name"] == "Kim"
    assert "email" not in view
    assert view["created"] is True


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        pytest.param(
            [("live", T, "Live"), ("pre", T + 10**7, "Backfill")], "Live", id="live-over-newer-pre"
        ),
        pytest.param([("pre", T, "Backfill")], "Backfill", id="pre-fills-a-gap"),
        pytest.param(
            [("pre", T, "P1"), ("pre", T + 1, "P2"), ("live", T - 1, "L")], "L", id="any-live-wins"
        ),
    ],
)
def test_user_live_beats_preexisting_regardless_of_timestamp(
    writes: list[tuple[str, int, str]], expected: str
) -> None:
    for order in itertools.permutations(writes):
        user = UserState("u1")
        for i, (kind, ts, name) in enumerate(order):
            clock = live(ts, f"e{i}") if kind == "live" else pre(ts, f"e{i}")
            user.assign({"first_name": name}, clock)
        assert user.view()["first_name"] == expected


@pytest.mark.parametrize(
    ("writes", "deleted"),
    [
        pytest.param([], False, id="never-deleted"),
        pytest.param([(True, live(T))], True, id="deleted"),
        pytest.param([(True, live(T)), (False, live(T + 1))], False, id="newer-live-undeletes"),
        pytest.param([(True, live(T)), (False, live(T - 1))], True, id="older-live-does-not"),
        pytest.param(
            [(True, live(T, "b")), (False, live(T, "a"))], True, id="tie-lower-id-does-not"
        ),
        pytest.param([(True, live(T, "a")), (False, live(T, "b"))], False, id="tie-higher-id"),
        pytest.param(
            [(True, live(T)), (False, pre(T + 10**8))], True, id="backfill-never-resurrects"
        ),
        pytest.param([(False, pre(T + 10**8)), (True, live(T))], True, id="delete-after-backfill"),
    ],
)
def test_user_deletion_register(writes: list[tuple[bool, Any]], deleted: bool) -> None:
    for order in itertools.permutations(writes):
        user = UserState("u1")
        for value, clock in order:
            user.set_deleted(value, clock)
        assert user.is_deleted is deleted
        assert user.view()["deleted"] is deleted


def test_user_attributes_keep_merging_while_deleted() -> None:
    # so the outcome does not depend on whether an update arrived before or after the delete
    user = UserState("u1")
    user.set_deleted(True, live(T + 10))
    user.assign({"last_name": "Kept"}, live(T + 5))
    assert user.is_deleted
    assert user.view()["last_name"] == "Kept"


@pytest.mark.parametrize(
    ("timestamps", "first_seen"),
    [([T], T), ([T, T - 5, T + 5], T - 5), ([T + 5, T + 5], T + 5)],
)
def test_first_seen_is_the_earliest_timestamp(timestamps: list[int], first_seen: int) -> None:
    for order in itertools.permutations(timestamps):
        user, thing = UserState("u"), ThingState("t")
        for ts in order:
            user.see(ts)
            thing.see(ts)
        assert user.first_seen == thing.first_seen == first_seen


def test_user_created_on_custom_properties_and_email() -> None:
    user = UserState("u1")
    user.set_created_on(1000, pre(T, "a"))
    user.set_created_on(2000, pre(T - 1, "b"))
    user.assign({"email": "Ann.Lee@Example.COM"}, live(T))
    user.assign_custom({"plan": "gold", "seats": 3}, live(T, "x"))
    user.assign_custom({"plan": "silver"}, live(T - 1, "y"))
    view = user.view()
    assert view["original_creation_date"] == 1000
    assert view["custom_properties"] == {"plan": "gold", "seats": 3}
    assert view["email"] == "Ann.Lee@Example.COM"
    assert user.email == "ann.lee@example.com"


def test_known_only_by_id_user() -> None:
    user = UserState("u1")
    user.see(T)
    assert user.view() == {
        "user_id": "u1",
        "deleted": False,
        "unsubscribed": False,
        "created": False,
    }
    user.assign({}, live(T))
    assert user.created is True


@pytest.mark.parametrize(
    "write",
    [
        pytest.param(lambda u: u.assign({"first_name": "Ann"}, live(T + 1, "z")), id="field"),
        pytest.param(lambda u: u.assign_custom({"plan": "gold"}, live(T + 1, "z")), id="custom"),
    ],
)
def test_user_write_that_wins_marks_the_state_dirty(write: Any) -> None:
    # A winning write with the same value still moves the register's clock; the state must be
    # saved, or an older write arriving later could beat the stale clock kept in storage.
    user = UserState("u1", created=True)
    user.assign({"first_name": "Ann"}, live(T, "a"))
    user.assign_custom({"plan": "gold"}, live(T, "a"))
    user.changed = False
    write(user)
    assert user.changed is True
    user.changed = False
    user.assign({"first_name": "Ann"}, live(T - 1, "b"))
    user.assign_custom({"plan": "gold"}, live(T - 1, "b"))
    assert user.changed is False


# things ---------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writes", "expected"),
    [
        pytest.param(
            [("on", T + 10, live(T, "a")), ("off", T + 20, live(T - 99, "b"))],
            {"value": "off", "date": T + 20},
            id="ordered-by-status-date-not-event-timestamp",
        ),
        pytest.param(
            [("on", T, live(T, "a")), ("off", T, live(T, "b"))],
            {"value": "off", "date": T},
            id="same-date-tie-by-event-id",
        ),
        pytest.param(
            [("on", T + 30, live(T, "a")), ("off", T + 20, live(T + 99, "b"))],
            {"value": "on", "date": T + 30},
            id="older-date-arriving-later-loses",
        ),
    ],
)
def test_thing_status_per_key(
    writes: list[tuple[str, int, tuple[int, int, str]]], expected: dict[str, Any]
) -> None:
    for order in itertools.permutations(writes):
        thing = ThingState("t1")
        thing.record_status("mode", "eco", T - 10**6, live(T - 10**6, "x"))
        for value, date, clock in order:
            thing.record_status("power", value, date, clock)
        view = thing.view()
        assert view["status"] == {"mode": {"value": "eco", "date": T - 10**6}, "power": expected}
        assert view["counters"] == {"status_changes": len(writes) + 1}


def test_last_connected_is_a_maximum() -> None:
    marks = [(T, "b"), (T + 7, "a"), (T - 3, "z"), (T + 7, "0")]
    for order in itertools.permutations(marks):
        thing = ThingState("t1")
        for ts, event_id in order:
            thing.record_connection(ts, event_id)
        assert thing.last_connected == [T + 7, "a"]
        assert thing.view()["last_connected_at"] == T + 7
        assert thing.counters == {"connections": 4}


def test_counters_count_each_event() -> None:
    thing = ThingState("t1")
    for name in ["interactions", "interactions", "consumables.filter", "custom_events.x"]:
        thing.count(name)
    assert thing.view()["counters"] == {
        "consumables.filter": 1,
        "custom_events.x": 1,
        "interactions": 2,
    }
    assert thing.changed is True


@pytest.mark.parametrize(
    ("events", "firmware_version", "upgrade"),
    [
        pytest.param(
            [("completed", "2.0", live(T))],
            "2.0",
            {"state": "completed", "version": "2.0"},
            id="completed-sets-version",
        ),
        pytest.param(
            [("started", "2.0", live(T))],
            "1.0",
            {"state": "started", "version": "2.0"},
            id="started-does-not",
        ),
        pytest.param(
            [("completed", None, live(T))],
            "1.0",
            {"state": "completed", "version": None},
            id="completed-without-version-keeps-it",
        ),
        pytest.param(
            [("completed", "2.0", live(T - 10**6))],
            "1.0",
            {"state": "completed", "version": "2.0"},
            id="older-than-the-thing-update",
        ),
        pytest.param(
            [("started", "3.0", live(T + 2)), ("completed", "3.0", live(T + 1))],
            "3.0",
            {"state": "started", "version": "3.0"},
            id="last-upgrade-event-is-the-register",
        ),
    ],
)
def test_firmware_upgrade(
    events: list[tuple[str, str | None, tuple[int, int, str]]],
    firmware_version: str,
    upgrade: dict[str, Any],
) -> None:
    for order in itertools.permutations(events):
        thing = ThingState("t1")
        thing.assign({"firmware_version": "1.0", "model": "m"}, live(T - 1000, "u"))
        for state, version, clock in order:
            thing.record_firmware(state, version, clock)
        view = thing.view()
        assert view["firmware_version"] == firmware_version
        assert view["firmware_upgrade"] == upgrade


def test_thing_fields_live_over_preexisting_and_view() -> None:
    thing = ThingState("t1")
    thing.see(T)
    assert thing.view() == {"thing_id": "t1", "created": False}
    thing.assign({"model": "live", "user_id": None}, live(T - 100, "a"))
    thing.assign({"model": "pre", "firmware_version": "0.9", "user_id": "u1"}, pre(T, "b"))
    thing.set_created_on(42, pre(T, "b"))
    thing.assign_custom({"color": "red"}, live(T, "c"))
    view = thing.view()
    assert view == {
        "thing_id": "t1",
        "firmware_version": "0.9",
        "model": "live",
        "user_id": "u1",
        "custom_properties": {"color": "red"},
        "created": True,
        "original_creation_date": 42,
    }


def test_thing_write_that_wins_marks_the_state_dirty() -> None:
    thing = ThingState("t1", created=True)
    thing.assign({"model": "m1"}, live(T, "a"))
    thing.assign_custom({"color": "red"}, live(T, "a"))
    thing.changed = False
    thing.assign({"model": "m1"}, live(T + 1, "b"))
    assert thing.changed is True
    thing.changed = False
    thing.assign_custom({"color": "red"}, live(T + 1, "b"))
    assert thing.changed is True
    thing.changed = False
    thing.assign({"model": "m1"}, live(T - 1, "c"))
    thing.assign_custom({"color": "red"}, live(T - 1, "c"))
    assert thing.changed is False


# associations ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("writes", "associated", "since"),
    [
        pytest.param([], False, None, id="never"),
        pytest.param([(True, 111, live(T))], True, 111, id="associated"),
        pytest.param(
            [(True, 111, live(T)), (False, 222, live(T + 1))], False, None, id="disassociated"
        ),
        pytest.param(
            [(True, 111, live(T + 1)), (False, 222, live(T))], True, 111, id="older-disassoc"
        ),
        pytest.param(
            [(False, 222, live(T)), (True, 333, pre(T + 10**6))],
            False,
            None,
            id="backfill-does-not-relink",
        ),
        pytest.param(
            [(True, 5, pre(T + 10**6)), (True, 111, live(T))], True, 111, id="live-since-wins"
        ),
        pytest.param(
            [(True, 5, pre(T, "a")), (True, 6, pre(T, "b"))], True, 6, id="pre-tie-by-event-id"
        ),
    ],
)
def test_association_register(
    writes: list[tuple[bool, int, tuple[int, int, str]]], associated: bool, since: int | None
) -> None:
    for order in itertools.permutations(writes):
        link = AssociationState("u1", "t1")
        for value, at, clock in order:
            link.set(value, at, clock)
        assert link.associated is associated
        assert link.since == since
        assert link.changed is bool(writes)


def test_association_losing_write_changes_nothing() -> None:
    link = AssociationState("u1", "t1")
    link.set(True, 1, live(T))
    link.changed = False
    link.set(False, 2, live(T - 1))
    assert (link.associated, link.since, link.changed) == (True, 1, False)


# the preexisting sync -------------------------------------------------------------------------


def completed_run() -> sync.SyncRun:
    run, _ = sync.start(None, "s1", T)
    assert run is not None
    assert sync.complete(run, T + 10, {"count": 0, "sample": []}) is None
    return run


def test_sync_start_opens_the_first_run() -> None:
    run, error = sync.start(None, "s1", T)
    assert error is None
    assert run is not None
    assert (run.run, run.status, run.opened_at, run.started_event_id) == (1, sync.OPEN, T, "s1")
    assert run.is_open
    assert run.changed


def test_sync_start_while_open_is_harmless() -> None:
    run, _ = sync.start(None, "s1", T)
    again, error = sync.start(run, "s2", T + 5)
    assert error is None
    assert again is run
    assert run is not None
    assert run.started_event_id == "s1"


def test_sync_start_after_completion_is_refused() -> None:
    run, error = sync.start(completed_run(), "s2", T + 20)
    assert (run, error) == (None, sync.ALREADY_COMPLETED)


@pytest.mark.parametrize(
    ("make_run", "expected"),
    [
        pytest.param(lambda: None, sync.NOT_OPEN, id="never-started"),
        pytest.param(completed_run, sync.NOT_OPEN, id="completed"),
        pytest.param(lambda: sync.start(None, "s", T)[0], None, id="open"),
        pytest.param(lambda: sync.reopen(completed_run(), T + 30), None, id="reopened"),
    ],
)
@pytest.mark.parametrize("event_type", sorted(sync.COUNTED))
def test_sync_admit(make_run: Any, expected: str | None, event_type: str) -> None:
    run = make_run()
    before = dict(run.counts) if run is not None else None
    assert sync.admit(run, event_type) == expected
    if run is None:
        return
    counted = sync.COUNTED[event_type]
    delta = 1 if expected is None else 0
    assert run.counts[counted] == before[counted] + delta  # type: ignore[index]


def test_sync_counts_and_report() -> None:
    run, _ = sync.start(None, "s1", T)
    for event_type in ["preexisting_user_created"] * 3 + ["preexisting_thing_created"] * 2:
        assert sync.admit(run, event_type) is None
    assert sync.admit(run, "preexisting_user_thing_associated") is None
    sync.count_rejected(run)
    orphans = {"count": 1, "sample": [{"userId": "u", "thingId": "t", "missing": ["thing"]}]}
    assert sync.complete(run, T + 1234, orphans) is None
    assert run is not None
    assert run.status == sync.COMPLETED
    assert run.completed_at == T + 1234
    assert run.report == {
        "totals": {"users": 3, "things": 2, "associations": 1, "rejected": 1},
        "orphans": orphans,
        "rejected": 1,
        "durationMs": 1234,
    }
    sync.count_rejected(run)  # closed: no longer counted
    assert run.counts["rejected"] == 1


@pytest.mark.parametrize(
    "make_run",
    [pytest.param(lambda: None, id="never-started"), pytest.param(completed_run, id="twice")],
)
def test_sync_complete_needs_an_open_run(make_run: Any) -> None:
    run = make_run()
    report = run.report if run is not None else None
    assert sync.complete(run, T + 99, {}) == sync.NOT_OPEN
    if run is not None:
        assert run.report == report


@pytest.mark.parametrize(
    ("make_run", "number", "same"),
    [
        pytest.param(lambda: None, 1, False, id="never-started"),
        pytest.param(completed_run, 2, False, id="after-completion"),
        pytest.param(lambda: sync.start(None, "s", T)[0], 1, True, id="while-open"),
    ],
)
def test_sync_reopen(make_run: Any, number: int, same: bool) -> None:
    current = make_run()
    run = sync.reopen(current, T + 50)
    assert run.is_open
    assert run.run == number
    assert (run is current) is same
    if not same:
        assert run.opened_at == T + 50
        assert run.counts == {"users": 0, "things": 0, "associations": 0, "rejected": 0}
        again, error = sync.start(run, "s9", T + 60)
        assert error is None
        assert again is run


def test_sync_full_cycle() -> None:
    run, _ = sync.start(None, "s1", T)
    assert sync.complete(run, T + 1, {}) is None
    assert sync.start(run, "s2", T + 2) == (None, sync.ALREADY_COMPLETED)
    assert sync.admit(run, "preexisting_user_created") == sync.NOT_OPEN
    second = sync.reopen(run, T + 3)
    assert sync.admit(second, "preexisting_user_created") is None
    assert sync.complete(second, T + 4, {}) is None
    assert second.run == 2
    assert second.report is not None
    assert second.report["totals"]["users"] == 1
    assert sync.complete(second, T + 5, {}) == sync.NOT_OPEN
