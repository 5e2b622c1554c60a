"""The writer's merged jobs: many small requests in one pass, each still answered on its own."""

from __future__ import annotations

import asyncio
import json
import threading

import pytest

from syncline.clock import now_ms
from syncline.errors import RequestRejected
from syncline.services import ingest
from syncline.services.ingest import Limits
from syncline.storage.interface import Storage, UnitOfWork
from syncline.storage.writer import GroupCommitWriter
from tests.support.events import batch, user_created


def _decoded(*events: dict[str, object]) -> list[ingest.Decoded]:
    return ingest.decode_request(json.dumps(batch(*events)).encode(), now_ms(), Limits())


def test_commit_many_equals_one_after_the_other(storage: Storage, space: str) -> None:
    shared = user_created("u-shared", first_name="Ada")
    first = _decoded(shared, user_created("u-1"))
    second = _decoded(shared, user_created("u-2"), {"type": "nope"})
    with storage.unit_of_work() as uow:
        answers = ingest.commit_many(uow, space, [(first, now_ms()), (second, now_ms())])
    assert [(a.accepted, a.duplicates, len(a.invalid_events)) for a in answers] == [
        (2, 0, 0),
        (1, 1, 1),
    ]
    assert answers[1].invalid_events[0].index == 2
    reader = storage.reader()
    page = reader.events(space, user_id=None, thing_id=None, type=None, cursor=None, limit=10)
    assert len(page.items) == 3
    rejected = reader.rejected(space, status=None, code=None, type=None, cursor=None, limit=10)
    assert len(rejected.items) == 1


@pytest.mark.parametrize("n", [1, 127, 128, 129, 383])
def test_bulk_writes_keep_every_row_of_a_batch(storage: Storage, space: str, n: int) -> None:
    """Rows go in many to a statement (128, then powers of two): none lost, none mixed up."""
    events = [user_created(f"u-{i}", email=f"u{i}@example.com") for i in range(n)]
    with storage.unit_of_work() as uow:
        (answer,) = ingest.commit_many(uow, space, [(_decoded(*events), now_ms())])
    assert (answer.accepted, answer.invalid_events) == (n, [])
    with storage.unit_of_work() as uow:
        users = uow.load_users(space, [f"u-{i}" for i in range(n)])
    assert {u: s.email for u, s in users.items()} == {
        f"u-{i}": f"u{i}@example.com" for i in range(n)
    }
    reader = storage.reader()
    page = reader.events(space, user_id=None, thing_id=None, type=None, cursor=None, limit=1000)
    assert sorted(e["event_id"] for e in page.items) == sorted(str(e["event_id"]) for e in events)


def test_writer_merges_queued_items_and_isolates_a_failing_one(storage: Storage) -> None:
    calls: list[list[str]] = []

    def many(uow: UnitOfWork, items: list[str]) -> list[str]:
        calls.append(list(items))
        if "bad" in items:
            raise RequestRejected("bad item")
        return [item.upper() for item in items]

    gate = threading.Event()

    async def scenario() -> list[str | BaseException]:
        writer = GroupCommitWriter(storage)
        writer.start()
        # A plain job holds the writer, so the next three queue up and are drained together.
        held = writer.submit(lambda uow: gate.wait(10))
        tasks = [
            asyncio.ensure_future(writer.run_merged("k", item, many)) for item in ("a", "bad", "c")
        ]
        await asyncio.sleep(0.05)
        gate.set()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        assert held.result(10) is True
        writer.stop()
        return results

    results = asyncio.run(scenario())
    assert results[0] == "A"
    assert results[2] == "C"
    assert isinstance(results[1], RequestRejected)
    assert calls[0] == ["a", "bad", "c"]  # merged first
    assert calls[1:] == [["a"], ["bad"], ["c"]]  # then one by one


@pytest.mark.parametrize("count", [1, 3])
def test_commit_many_counts(storage: Storage, space: str, count: int) -> None:
    requests = [(_decoded(user_created(f"u-{i}")), now_ms()) for i in range(count)]
    with storage.unit_of_work() as uow:
        answers = ingest.commit_many(uow, space, requests)
    assert [a.accepted for a in answers] == [1] * count


def test_a_cancelled_caller_never_kills_the_writer(storage: Storage) -> None:
    gate = threading.Event()

    async def scenario() -> str:
        writer = GroupCommitWriter(storage)
        writer.start()
        held = writer.submit(lambda uow: gate.wait(10))
        abandoned = asyncio.ensure_future(writer.run(lambda uow: "never needed"))
        await asyncio.sleep(0.02)
        abandoned.cancel()  # the caller goes away while its job is still queued
        gate.set()
        assert held.result(10) is True
        answer = await writer.run(lambda uow: "still writing")
        writer.stop()
        return answer

    assert asyncio.run(scenario()) == "still writing"
