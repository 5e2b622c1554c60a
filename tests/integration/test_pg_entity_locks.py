"""PostgreSQL, several writers: a batch of live events locks the users and things it names,
not its whole space. Each test holds one writer's transaction open (as a slow process would)
and watches what a second writer, on its own connection, can do meanwhile."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from concurrent import futures
from pathlib import Path
from typing import Any

import psycopg
import pytest

from syncline.clock import now_ms
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


def send(storage: Storage, space: str, *events: dict[str, Any]) -> CollectResponse:
    now = now_ms()
    decoded = ingest.decode_request(json.dumps({"events": list(events)}).encode(), now, LIMITS)
    with storage.unit_of_work() as uow:
        return ingest.commit_many(uow, space, [(decoded, now)])[0]


LIMITS = ingest.Limits()


class Background:
    """`fn` on a thread: `done` tells whether it finished, `result` what it returned."""

    def __init__(self, fn: Callable[[], Any]) -> None:
        self.result: Any = None
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, args=(fn,))
        self.thread.start()

    def _run(self, fn: Callable[[], Any]) -> None:
        try:
            self.result = fn()
        except BaseException as exc:  # raised again by finish()
            self.error = exc

    def done(self, within: float) -> bool:
        self.thread.join(within)
        return not self.thread.is_alive()

    def finish(self) -> Any:
        assert self.done(30)
        if self.error is not None:
            raise self.error
        return self.result


def held_open(storage: Storage, space: str, *events: dict[str, Any]) -> Any:
    """A context: the batch applied in a transaction that commits when the block ends."""
    now = now_ms()
    decoded = ingest.decode_request(json.dumps({"events": list(events)}).encode(), now, LIMITS)

    class Held:
        def __enter__(self) -> CollectResponse:
            self.cm = storage.unit_of_work()
            uow = self.cm.__enter__()
            return ingest.commit_many(uow, space, [(decoded, now)])[0]

        def __exit__(self, *exc: Any) -> None:
            self.cm.__exit__(*exc)

    return Held()


def revisions(storage: Storage, space: str, user_id: str) -> list[int]:
    return [h.revision for h in storage.reader().history(space, user_id, None, 100)]


def test_batches_naming_other_users_commit_meanwhile_the_same_user_waits(two: Any) -> None:
    first, second, space, _ = two
    with held_open(first, space, user_created("u1", first_name="Ada")) as answer:
        assert answer.accepted == 1
        other = Background(lambda: send(second, space, user_created("u2")))
        assert other.done(10)  # not held up by the open transaction
        assert other.finish().accepted == 1
        update = event("user_updated", {"user_id": "u1", "last_name": "Lovelace"})
        same = Background(lambda: send(second, space, update))
        assert not same.done(WAIT)  # u1 is locked until the first batch commits
    assert same.finish().accepted == 1
    assert revisions(first, space, "u1") == [0, 1]
    user = first.reader().user(space, "u1")
    assert user is not None
    assert (user.fields["first_name"][0], user.fields["last_name"][0]) == ("Ada", "Lovelace")
    # each connection counted into its own shard; a reader sees the sums
    assert ("user_created", "accepted", 2) in first.reader().event_totals(space)


def test_a_thing_changing_locks_the_users_it_is_linked_to(two: Any) -> None:
    first, second, space, _ = two
    send(first, space, user_created("u1"), thing_created("t1", model="K"), associated("u1", "t1"))
    before = revisions(first, space, "u1")
    changed = event("thing_updated", {"thing_id": "t1", "model": "K", "firmware_version": "2"})
    with held_open(first, space, changed):
        # the firmware shows in u1's devices: u1 is locked although the batch names only t1
        renamed = Background(
            lambda: send(second, space, event("user_updated", {"user_id": "u1", "last_name": "L"}))
        )
        assert not renamed.done(WAIT)
    assert renamed.finish().accepted == 1
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
        now = now_ms()
        decoded = ingest.decode_request(json.dumps({"events": [reused]}).encode(), now, LIMITS)
        with held_open(first, space, taken):
            late = writer.submit(lambda uow: ingest.commit(uow, space, decoded, now))
            _, waiting = futures.wait([late], timeout=WAIT)
            assert waiting  # it found the event_id free, applied, and now waits at its key
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
    now = now_ms()
    body = json.dumps({"events": [user_created("u1")]}).encode()
    with first.unit_of_work() as uow:
        ingest.commit(uow, space, ingest.decode_request(body, now, LIMITS), now)
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
