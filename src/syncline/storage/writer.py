"""One writer with group commit.

Requests hand the writer a function of a unit of work. The writer takes everything queued,
runs each function under its own savepoint inside one transaction, commits once, and only then
resolves every request's future: each answer follows the commit that holds its writes.

A request may instead hand over a *mergeable* job: an item plus a function that handles a list
of items at once. Queued items of the same key run as one call (one set of bulk queries for many
small requests); if that call fails, each item runs again alone, so one bad request never
takes its neighbours down.
"""

from __future__ import annotations

import asyncio
import queue
import threading
import time
from collections.abc import Callable, Hashable
from concurrent.futures import Future
from dataclasses import dataclass
from typing import Any, TypeVar

import structlog

from syncline.errors import ConcurrentChange, StorageUnavailable, SynclineError
from syncline.storage.interface import Storage, UnitOfWork

T = TypeVar("T")
log = structlog.get_logger("syncline.writer")
_STOP = object()
_RETRIES = 3  # runs of one job that met a concurrent change (PostgreSQL, several processes)


@dataclass(slots=True)
class _Job:
    fn: Callable[[UnitOfWork], Any]
    future: Future[Any]


@dataclass(slots=True)
class _Mergeable:
    key: Hashable
    item: Any
    many: Callable[[UnitOfWork, list[Any]], list[Any]]
    future: Future[Any]


class GroupCommitWriter:
    def __init__(
        self,
        storage: Storage,
        max_jobs: int = 512,
        on_commit: Callable[[int, float], None] | None = None,
    ) -> None:
        self.storage = storage
        self.max_jobs = max_jobs
        self.on_commit = on_commit
        self._queue: queue.SimpleQueue[Any] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None

    @property
    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop, name="syncline-writer", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Finish everything already queued, then stop."""
        if self._thread is not None:
            self._queue.put(_STOP)
            self._thread.join()
            self._thread = None

    def submit(self, fn: Callable[[UnitOfWork], T]) -> Future[T]:
        future: Future[T] = Future()
        if not self.alive:
            future.set_exception(StorageUnavailable("the writer is not running"))
            return future
        self._queue.put(_Job(fn, future))
        return future

    async def run(self, fn: Callable[[UnitOfWork], T]) -> T:
        return await asyncio.wrap_future(self.submit(fn))

    async def run_merged(
        self, key: Hashable, item: Any, many: Callable[[UnitOfWork, list[Any]], list[T]]
    ) -> T:
        """Run `many(uow, [item, ...])` together with other queued items of the same key."""
        future: Future[T] = Future()
        if not self.alive:
            future.set_exception(StorageUnavailable("the writer is not running"))
        else:
            self._queue.put(_Mergeable(key, item, many, future))
        return await asyncio.wrap_future(future)

    def _loop(self) -> None:
        while True:
            first = self._queue.get()
            if first is _STOP:
                return
            jobs = [first]
            stop = False
            while len(jobs) < self.max_jobs:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is _STOP:
                    stop = True
                    break
                jobs.append(item)
            self._commit(jobs)
            if stop:
                return

    def _commit(self, jobs: list[_Job | _Mergeable]) -> None:
        # A job whose caller gave up (cancelled) before it ran is skipped; a running one can no
        # longer be cancelled, so its result always finds its future.
        jobs = [job for job in jobs if job.future.set_running_or_notify_cancel()]
        if not jobs:
            return
        started = time.perf_counter()
        results: list[tuple[_Job | _Mergeable, Any, BaseException | None]] = []
        try:
            with self.storage.unit_of_work() as uow:
                for group in _groups(jobs):
                    if isinstance(group, _Job):
                        results.append(_attempt(uow, group, group.fn))
                    else:
                        results.extend(_attempt_merged(uow, group))
        except Exception as exc:
            log.error("group commit failed", error=str(exc), jobs=len(jobs))
            failure = exc if isinstance(exc, StorageUnavailable) else StorageUnavailable(str(exc))
            for job in jobs:
                job.future.set_exception(failure)
            return
        if self.on_commit is not None:
            self.on_commit(len(jobs), time.perf_counter() - started)
        for job, value, error in results:
            if error is None:
                job.future.set_result(value)
            else:
                job.future.set_exception(error)


def _groups(jobs: list[_Job | _Mergeable]) -> list[_Job | list[_Mergeable]]:
    """Plain jobs alone, mergeable ones by key, in the order each key first appeared."""
    out: list[_Job | list[_Mergeable]] = []
    merged: dict[Hashable, list[_Mergeable]] = {}
    for job in jobs:
        if isinstance(job, _Job):
            out.append(job)
        elif job.key in merged:
            merged[job.key].append(job)
        else:
            merged[job.key] = [job]
            out.append(merged[job.key])
    return out


def _attempt(
    uow: UnitOfWork, job: _Job | _Mergeable, fn: Callable[[UnitOfWork], Any]
) -> tuple[_Job | _Mergeable, Any, BaseException | None]:
    runs = 1
    while True:
        try:
            with uow.savepoint():
                return job, fn(uow), None
        except ConcurrentChange as exc:
            if runs == _RETRIES:
                return job, None, exc
            runs += 1
        except Exception as exc:
            if not isinstance(exc, SynclineError):
                log.exception("request failed inside the writer")
            return job, None, exc


def _attempt_merged(
    uow: UnitOfWork, group: list[_Mergeable]
) -> list[tuple[_Job | _Mergeable, Any, BaseException | None]]:
    many = group[0].many
    if len(group) > 1:
        try:
            with uow.savepoint():
                values = many(uow, [job.item for job in group])
            return [(job, value, None) for job, value in zip(group, values, strict=True)]
        except Exception:
            pass
    return [_attempt(uow, job, _alone(many, job.item)) for job in group]


def _alone(
    many: Callable[[UnitOfWork, list[Any]], list[Any]], item: Any
) -> Callable[[UnitOfWork], Any]:
    return lambda uow: many(uow, [item])[0]
