"""PostgreSQL, several writers: a batch of live events locks the users and things it names,
not its whole space. Each test holds one writer's transaction open (as a slow process would)
and watches what a second writer, on its own connection, can do meanwhile."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from concurrent import futures
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import psycopg
import pytest

from syncline.clock import now_ms
from syncline.errors import ConcurrentChange
from syncline.schemas.collect import CollectResponse
from syncline.services import ingest, spaces
from syncline.storage import postgres
from syncline.storage.interface import Storage
from syncline.storage.writer import GroupCommitWriter
from tests.support.databases import fresh_postgres, open_storage
from tests.support.events import associated, event, thing_created, user_created

pytestmark = [pytest.mark.timeout(60)]
WAIT = 0.5  # long enough for a second writer that is not blocked to finish


@pytest.fixture
def two(tmp_path: Path) -> Iterator[tuple[Storage, Storage, str, str]]:
    with fresh_postgres(tmp_path, "locks") as url:
        first, second = open_storage(url), open_storage(url)
        with first.unit_of_work() as uow:
            space = spaces.create_space(uow, 1, "locks", now_ms()).api_space_id
        try:
            yield first, second, space, url
        finally:
            first.close()
            second.close()


def decoded(*events: dict[str, Any]) -> tuple[list[ingest.Decoded], int]:
    now = now_ms()
    body = json.dumps({"events": list(events)}).encode()
    return ingest.decode_request(body, now, ingest.Limits()), now


def send(storage: Storage, space: str, *events: dict[str, Any]) -> CollectResponse:
    with storage.unit_of_work() as uow:
        return ingest.commit_many(uow, space, [decoded(*events)])[0]


@contextmanager
def held_open(storage: Storage, space: str, *events: dict[str, Any]) -> Iterator[CollectResponse]:
    """The batch applied in a transaction that commits when the block ends."""
    with storage.unit_of_work() as uow:
        yield ingest.commit_many(uow, space, [decoded(*events)])[0]


def waiting(future: futures.Future[Any]) -> bool:
    return bool(futures.wait([future], timeout=WAIT).not_done)


@pytest.fixture
def background() -> Iterator[futures.ThreadPoolExecutor]:
    with futures.ThreadPoolExecutor(2) as pool:
        yield pool


def revisions(storage: Storage, space: str, user_id: str) -> list[int]:
    return [h.revision for h in storage.reader().history(space, user_id, None, 100)]


def test_batches_naming_other_users_commit_meanwhile_the_same_user_waits(
    two: Any, background: futures.ThreadPoolExecutor
) -> None:
    first, second, space, _ = two
    with held_open(first, space, user_created("u1", first_name="Ada")) as answer:
        assert answer.accepted == 1
        other = background.submit(send, second, space, user_created("u2"))
        assert other.result(10).accepted == 1  # not held up by the open transaction
        update = event("user_updated", {"user_id": "u1", "last_name": "Lovelace"})
        same = background.submit(send, second, space, update)
        assert waiting(same)  # u1 is locked until the first batch commits
    assert same.result(30).accepted == 1
    assert revisions(first, space, "u1") == [0, 1]
    user = first.reader().user(space, "u1")
    assert user is not None
    assert (user.fields["first_name"][0], user.fields["last_name"][0]) == ("Ada", "Lovelace")
    # each connection counted into its own shard; a reader sees the sums
    assert ("user_created", "accepted", 2) in first.reader().event_totals(space)


def test_a_thing_changing_locks_the_users_it_is_linked_to(
    two: Any, background: futures.ThreadPoolExecutor
) -> None:
    first, second, space, url = two
    send(first, space, user_created("u1"), thing_created("t1", model="K"), associated("u1", "t1"))
    before = revisions(first, space, "u1")
    changed = event("thing_updated", {"thing_id": "t1", "model": "K", "firmware_version": "2"})
    with held_open(first, space, changed):
        # the firmware shows in u1's devices: u1 is locked although the batch names only t1
        assert can_share_space(url, space)  # locked up front, not by taking the whole space
        update = event("user_updated", {"user_id": "u1", "last_name": "L"})
        renamed = background.submit(send, second, space, update)
        assert waiting(renamed)
    assert renamed.result(30).accepted == 1
    history = first.reader().history(space, "u1", None, 100)
    assert [h.revision for h in history] == list(range(len(before) + 2))  # no skip, no repeat
    assert {h.name for h in history[len(before) :]} == {"devicesUpdated", "update"}


def test_an_event_id_taken_meanwhile_with_other_content_is_reported_reused(two: Any) -> None:
    first, second, space, _ = two
    writer = GroupCommitWriter(second)
    writer.start()
    try:
        taken = user_created("u1")
        reused = {**user_created("u2"), "event_id": taken["event_id"]}
        batch, now = decoded(reused)
        with held_open(first, space, taken):
            late = writer.submit(lambda uow: ingest.commit(uow, space, batch, now))
            assert waiting(late)  # it found the event_id free, applied, and now waits at its key
        # its COPY waited for the first commit, met the key, and the writer ran it again
        answer = late.result(30)
    finally:
        writer.stop()
    assert [e.code for e in answer.invalid_events] == ["event_id.reused"]
    assert first.reader().user(space, "u2") is None  # nothing of it written


def test_linking_a_user_with_other_things_keeps_to_entity_locks(two: Any) -> None:
    first, _, space, url = two
    send(first, space, associated("u1", "t1"), associated("u1", "t2"))
    with held_open(first, space, associated("u1", "t3")) as answer:
        assert answer.accepted == 1
        assert can_share_space(url, space)  # t1 and t2 were read for u1's devices, not locked
    last = first.reader().history(space, "u1", None, 100)[-1]
    assert last.name == "devicesUpdated"
    _, now = json.loads(last.changes)["things"]
    assert [d["thingId"] for d in now] == ["t1", "t2", "t3"]


def test_reaching_an_entity_it_did_not_lock_takes_the_whole_space(two: Any) -> None:
    first, _, space, url = two
    with first.unit_of_work() as uow:
        ingest.commit_many(uow, space, [decoded(user_created("u1"))])
        assert can_share_space(url, space)  # only u1 is locked
        uow.load_users(space, ["u2"])  # as a later job of the same transaction might
        assert not can_share_space(url, space)


def test_a_lock_taken_in_a_rolled_back_savepoint_is_taken_again(two: Any) -> None:
    first, _, space, url = two
    with first.unit_of_work() as uow:
        with pytest.raises(RuntimeError):
            lock_then_fail(uow, space)
        uow.known_digests(space, ["e"])
        assert not can_share_space(url, space)


def test_writers_waiting_for_each_other_are_a_change_to_run_again(
    two: Any, background: futures.ThreadPoolExecutor
) -> None:
    first, second, space, _ = two
    both_hold_one = threading.Barrier(2, timeout=10)

    def cross(storage: Storage, mine: str, theirs: str) -> None:
        with storage.unit_of_work() as uow:
            uow.lock_subjects(space, {mine}, set())
            both_hold_one.wait()
            uow.lock_subjects(space, {theirs}, set())  # as a later job of the transaction might

    runs = [background.submit(cross, first, "a", "b"), background.submit(cross, second, "b", "a")]
    errors = [run.exception(30) for run in runs]
    # PostgreSQL ends one of the two; that is a change the writer runs again, not a plain 503
    assert errors.count(None) == 1
    assert any(isinstance(error, ConcurrentChange) for error in errors)


def lock_then_fail(uow: Any, space: str) -> None:
    with uow.savepoint():
        uow.known_digests(space, ["e"])  # takes the space's lock...
        raise RuntimeError  # ...which PostgreSQL releases with the savepoint


@pytest.mark.parametrize(("users", "exclusive"), [(2, False), (3, True)])
def test_a_batch_naming_too_many_entities_locks_the_space(
    two: Any, monkeypatch: pytest.MonkeyPatch, users: int, exclusive: bool
) -> None:
    first, _, space, url = two
    monkeypatch.setattr(postgres, "MAX_ENTITY_LOCKS", 2)
    with held_open(first, space, *(user_created(f"u{n}") for n in range(users))):
        assert can_share_space(url, space) is not exclusive


def can_share_space(url: str, space: str) -> bool:
    with psycopg.connect(postgres.driver_url(url), autocommit=True) as conn:
        row = conn.execute(
            "SELECT pg_try_advisory_lock_shared(%s, hashtext(%s))",
            (postgres.LOCK_NAMESPACE, space),
        ).fetchone()
        assert row is not None
        return bool(row[0])
