"""The delivery worker: one loop per enabled webhook, claims through the writer, settles in bulk.

Each endpoint has its own loop and its own bound on requests in flight, so a slow or dead
endpoint only ever waits on itself. With `ordering=profile` a claim only ever returns each
profile's oldest open revision, and the next is claimable only once that one is settled
(delivered or dead-lettered): per-profile order, while other profiles keep flowing.
Outcomes are settled in one unit of work per handful, then the endpoints are woken.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import os
import random
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

import structlog

from syncline import __version__
from syncline.clock import now_ms
from syncline.delivery import http1, schedule, sender, signing
from syncline.settings import Settings
from syncline.storage.interface import Storage, UnitOfWork
from syncline.storage.records import AttemptRow, Claimed, Settled, WebhookRow
from syncline.storage.writer import GroupCommitWriter

log = structlog.get_logger("syncline.delivery")
IDLE_S = 1.0
REFRESH_S = 0.5
MAINTENANCE_S = 30.0


@dataclass(frozen=True, slots=True)
class Settlement:
    outcome: Settled  # what the storage records of the attempt
    ok: bool | None  # the endpoint's health: True answered, False failed, None unknown
    disable: str | None = None


class DeliveryWorker:
    def __init__(
        self,
        storage: Storage,
        writer: GroupCommitWriter,
        settings: Settings,
        on_attempt: Callable[[str, float], None] | None = None,
        sole: bool = True,
    ) -> None:
        self.storage, self.writer, self.settings = storage, writer, settings
        self.sole = sole  # the only deliverer: claims found at start are a dead one's
        self.lease_ms = settings.webhook_lease_seconds * 1000
        self.on_attempt = on_attempt
        self.endpoints: dict[tuple[str, str], Endpoint] = {}
        self._pending: list[Settlement] = []
        self._cycle = asyncio.Event()
        self._cycles: asyncio.Task[None] | None = None
        self._wake = asyncio.Event()
        self._stopping = False
        self._task: asyncio.Task[None] | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self.pool: http1.Pool | None = None

    # lifecycle --------------------------------------------------------------------------
    async def start(self) -> None:
        self._loop = asyncio.get_running_loop()
        self.pool = sender.new_pool(self.settings.webhooks_allow_private)
        # Alone, every claim left is a dead process's: take them back now. Beside other
        # workers, only claims whose lease ran out (another may still hold its own).
        until = now_ms() + (self.lease_ms if self.sole else 0)
        await self.writer.run(lambda uow: uow.release_expired(until))
        self._task = asyncio.create_task(self._run(), name="syncline-delivery")
        self._cycles = asyncio.create_task(self._run_cycles(), name="syncline-delivery-cycles")

    async def stop(self) -> None:
        """Stop claiming, let requests in flight finish (bounded), settle, give back the rest."""
        self._stopping = True
        self._wake.set()
        await asyncio.gather(*(e.stop() for e in self.endpoints.values()), return_exceptions=True)
        for task in (self._task, self._cycles):
            if task is not None:
                task.cancel()
                await asyncio.gather(task, return_exceptions=True)
        await self._flush()
        if self.pool is not None:
            await self.pool.close()

    def wake(self) -> None:
        """Thread-safe: new deliveries may be due (called after a commit)."""
        if self._loop is not None and not self._loop.is_closed():
            self._loop.call_soon_threadsafe(self._wake.set)

    # the loop ---------------------------------------------------------------------------
    async def _run(self) -> None:
        last_maintenance = last_refresh = last_release = 0.0
        # Lapsed claims (a dead worker's) go back to pending within about a quarter lease.
        release_s = min(max(self.lease_ms / 4000, 1.0), MAINTENANCE_S)
        while not self._stopping:
            try:
                if time.monotonic() - last_refresh > REFRESH_S:
                    last_refresh = time.monotonic()
                    await self._refresh()
                if time.monotonic() - last_maintenance > MAINTENANCE_S:
                    last_maintenance = last_release = time.monotonic()
                    await self._maintain()
                elif time.monotonic() - last_release > release_s:
                    last_release = time.monotonic()
                    await self._release_lapsed()
                await self._flush()
            except Exception:
                log.exception("delivery loop error; retrying")
            self._wake.clear()
            for endpoint in self.endpoints.values():
                endpoint.kick()
            await _wait(self._wake, REFRESH_S)

    async def _refresh(self) -> None:
        hooks = await asyncio.to_thread(lambda: self.storage.reader().enabled_webhooks())
        wanted = {(space, row.webhook_id): (space, row) for space, row in hooks}
        for key in [k for k in self.endpoints if k not in wanted]:
            await self.endpoints.pop(key).stop()
        for key, (space, row) in wanted.items():
            if key in self.endpoints:
                self.endpoints[key].row = row
            else:
                self.endpoints[key] = Endpoint(self, space, row)

    async def _release_lapsed(self) -> None:
        now = now_ms()
        await self.writer.run(lambda uow: uow.release_expired(now))

    async def _maintain(self) -> None:
        now = now_ms()
        before = now - self.settings.webhook_retention_days * 86_400_000

        def work(uow: UnitOfWork) -> None:
            uow.release_expired(now)
            uow.prune(before)

        await self.writer.run(work)

    # settling and claiming: one writer job a cycle -------------------------------------
    async def settle(self, item: Settlement) -> None:
        self._pending.append(item)
        self.request_cycle()

    def request_cycle(self) -> None:
        self._cycle.set()

    async def _run_cycles(self) -> None:
        """One cycle at a time; what arrives meanwhile waits for the next (like group commit)."""
        while True:
            await self._cycle.wait()
            self._cycle.clear()
            try:
                await self._flush(claiming=not self._stopping)
            except Exception:
                log.exception("delivery cycle error; retrying")

    async def _flush(self, claiming: bool = False) -> None:
        """Settle what finished and, in the same unit of work, claim for every single-event
        endpoint with room: the next revision of a delivered profile is claimable at once."""
        items, self._pending = self._pending, []
        claims = [(e, e.reserve()) for e in self.endpoints.values() if claiming and e.wants]
        claims = [(e, free) for e, free in claims if free > 0]
        if not items and not claims:
            return
        disable_after = self.settings.webhook_disable_after_hours * 3_600_000
        now = now_ms()

        outcomes = [s.outcome for s in items]

        def work(uow: UnitOfWork) -> list[list[Claimed]]:
            uow.settle_all(outcomes, now)
            health: dict[tuple[str, str], bool] = {}
            for s in items:
                hook = (s.outcome.space, s.outcome.webhook_id)
                if s.disable is not None:
                    uow.disable(*hook, s.disable)
                elif s.ok is not None:
                    health[hook] = s.ok  # the latest outcome decides
            for (space, webhook_id), ok in health.items():
                uow.record_health(space, webhook_id, ok, now, disable_after)
            return [uow.claim(e.space, e.row, now, now + self.lease_ms, free) for e, free in claims]

        try:
            claimed = await self.writer.run(work)
        except Exception:
            log.exception("settling deliveries failed; their leases will expire and retry")
            claimed = [[] for _ in claims]
        for (endpoint, free), got in zip(claims, claimed, strict=True):
            endpoint.release(free)
            endpoint.dispatch(got)
            if len(got) == free:  # there may be more
                endpoint.wants = True
                self.request_cycle()
        for endpoint in self.endpoints.values():
            if not endpoint.single:
                endpoint.kick()


class Endpoint:
    """The sending loop of one webhook."""

    def __init__(self, worker: DeliveryWorker, space: str, row: WebhookRow) -> None:
        self.worker, self.space, self.row = worker, space, row
        self.inflight: set[asyncio.Task[None]] = set()
        self.wants = False  # a single-event endpoint that wants its next claim in a cycle
        self.ready: deque[Claimed] = deque()  # claimed ahead, sent as soon as a slot frees
        self._reserved = 0
        self._kick = asyncio.Event()
        self._stopped = False
        self._task = asyncio.create_task(self._run(), name=f"webhook-{row.webhook_id}")

    @property
    def single(self) -> bool:
        return not self.row.batch_max_events

    def kick(self) -> None:
        self._kick.set()

    def reserve(self) -> int:
        """Room for this many more requests; held until `release` (a cycle's claim)."""
        if self._stopped:
            return 0
        self.wants = False
        room = 2 * self.worker.settings.webhook_max_inflight  # in flight, and as many ahead
        free = room - len(self.inflight) - len(self.ready) - self._reserved
        self._reserved += max(0, free)
        return max(0, free)

    def release(self, reserved: int) -> None:
        self._reserved -= reserved

    def dispatch(self, claimed: list[Claimed]) -> None:
        if self._stopped and claimed:  # stopped while the claim ran: give them back
            self._give_back(claimed)
            self.worker.request_cycle()
            return
        if self.single:
            self.ready.extend(claimed)
            self._pump()
            return
        size = self.row.batch_max_events or 1
        for start in range(0, len(claimed), size):
            self._start(claimed[start : start + size])

    def _give_back(self, claimed: list[Claimed]) -> None:
        """Untried claims back to pending, each under the claim that took it."""
        by_claim: dict[int, list[str]] = {}
        for c in claimed:
            by_claim.setdefault(c.lease_until, []).append(c.event_id)
        for lease_until, ids in by_claim.items():
            self.worker._pending.append(
                Settlement(
                    Settled(
                        self.space,
                        self.row.webhook_id,
                        ids,
                        lease_until,
                        "unclaimed",
                        0,
                        None,
                        None,
                    ),
                    None,
                )
            )

    def _pump(self) -> None:
        limit = self.worker.settings.webhook_max_inflight
        while self.ready and len(self.inflight) < limit and not self._stopped:
            self._start([self.ready.popleft()])

    def _start(self, group: list[Claimed]) -> None:
        task = asyncio.create_task(self._deliver(self.row, group))
        self.inflight.add(task)
        task.add_done_callback(self._done)

    def _done(self, task: asyncio.Task[None]) -> None:
        self.inflight.discard(task)
        if self.single and not self._stopped:
            self._pump()
            self.wants = True  # its settlement's cycle claims more

    async def stop(self) -> None:
        """No new claims; requests in flight finish (bounded) and settle; the rest go back."""
        self._stopped = True
        self.kick()
        self._task.cancel()
        await asyncio.gather(self._task, return_exceptions=True)
        if self.ready:  # claimed ahead, never sent: back to pending
            self._give_back(list(self.ready))
            self.ready.clear()
        if self.inflight:
            await asyncio.wait(self.inflight, timeout=self.worker.settings.webhook_timeout_seconds)
        await self.worker._flush()
        if self.worker.sole:  # beside other workers, a claim may be theirs: leases expire
            space, webhook_id = self.space, self.row.webhook_id
            await self.worker.writer.run(lambda uow: uow.release_webhook(space, webhook_id))

    async def _run(self) -> None:
        while not self._stopped:
            self._kick.clear()
            full = False
            try:
                if self.single:  # claimed in the worker's cycles, with the settlements
                    self.wants = True
                    self.worker.request_cycle()
                else:
                    full = await self._claim_and_send()
            except asyncio.CancelledError:
                raise
            except Exception:
                log.exception("endpoint loop error", webhook=self.row.webhook_id)
            if not full:
                await _wait(self._kick, IDLE_S)

    async def _claim_and_send(self) -> bool:
        row = self.row
        free = self.worker.settings.webhook_max_inflight - len(self.inflight)
        if free <= 0:
            return False
        size = row.batch_max_events or 1
        now = now_ms()
        if size > 1 and not await self._batch_ready(row, size, now):
            return False
        limit = free * size

        def claim(uow: UnitOfWork) -> list[Claimed]:
            return uow.claim(self.space, row, now, now + self.worker.lease_ms, limit)

        claimed = await self.worker.writer.run(claim)
        self.dispatch(claimed)
        return len(claimed) == limit

    async def _batch_ready(self, row: WebhookRow, size: int, now: int) -> bool:
        """A batch goes when it is full or its oldest event has waited `timeoutSeconds`."""
        due = await asyncio.to_thread(
            lambda: self.worker.storage.reader().due_summary(self.space, row.webhook_id, now)
        )
        count, oldest = due
        waited = oldest is not None and now - oldest >= (row.batch_timeout_s or 5) * 1000
        return count >= size or (count > 0 and waited)

    async def _deliver(self, row: WebhookRow, group: list[Claimed]) -> None:
        settings = self.worker.settings
        single = row.batch_max_events is None
        body = group[0].envelope if single else b"[" + b",".join(c.envelope for c in group) + b"]"
        ids = [c.event_id for c in group]
        message_id = ids[0] if single else "batch_" + _digest(ids)
        now = now_ms()
        keys = [row.secret]
        if row.previous_secret and (row.previous_until or 0) > now:
            keys.append(row.previous_secret)
        headers = signing.headers(keys, message_id, now // 1000, body)
        headers["Content-Type"] = "application/json"
        headers["User-Agent"] = f"syncline-webhooks/{__version__}"
        assert self.worker.pool is not None
        sent = await sender.send(
            self.worker.pool, row.url, body, headers, settings.webhook_timeout_seconds
        )
        await self.worker.settle(self._outcome(row, group, message_id, sent, now))

    def _outcome(
        self, row: WebhookRow, group: list[Claimed], message_id: str, sent: sender.Sent, now: int
    ) -> Settlement:
        ids = [c.event_id for c in group]
        status, next_at, ok, disable = "pending", now, False, None
        if sent.status is not None and 200 <= sent.status < 300:
            status, outcome, ok = "delivered", "delivered", True
        elif sent.status == 400:
            status, outcome, ok = "dead", "dead", True  # the endpoint answered: it is up
        elif sent.status == 410:
            status, outcome = "unclaimed", "disabled"
            disable = "the endpoint answered 410 Gone"
        else:
            made = max(c.attempts for c in group) + 1
            scale = self.worker.settings.webhook_retry_scale
            delay = schedule.next_attempt_delay(made, sent.retry_after_s, random.random(), scale)
            if delay is None:
                status, outcome = "dead", "dead"
            else:
                outcome, next_at = "retry", now + int(delay * 1000)
        if self.worker.on_attempt is not None:
            self.worker.on_attempt(outcome, sent.latency_ms / 1000)
        attempt = AttemptRow(
            _attempt_id(now),
            message_id,
            ids,
            now,
            sent.status,
            sent.latency_ms,
            sent.response,
            sent.error,
            outcome,
        )
        lease_until = group[0].lease_until  # a group comes from one claim
        settled = Settled(
            self.space,
            row.webhook_id,
            ids,
            lease_until,
            status,
            next_at,
            _error_of(attempt),
            attempt,
        )
        return Settlement(settled, ok, disable)


async def _wait(event: asyncio.Event, seconds: float) -> None:
    """Until `event` is set or `seconds` pass. (asyncio.timeout, not wait_for: on 3.11 a
    wait_for that times out as its task is cancelled can swallow the cancellation.)"""
    with contextlib.suppress(TimeoutError):
        async with asyncio.timeout(seconds):
            await event.wait()


def _digest(ids: list[str]) -> str:
    """A batch's id: the same events make the same id, so a retried batch keeps it."""
    return hashlib.sha256(",".join(ids).encode()).hexdigest()[:32]


def _error_of(attempt: AttemptRow | None) -> str | None:
    if attempt is None:
        return None
    if attempt.error is not None:
        return attempt.error
    return None if attempt.outcome == "delivered" else f"HTTP {attempt.status}"


def _attempt_id(now: int) -> str:
    """Time-ordered and unique."""
    return f"{now:013d}{os.urandom(6).hex()}"
