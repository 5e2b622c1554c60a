"""`Collector`: send events to a Collect API (syncline or Copilot.cx) in batches, with retries.

    with Collector("http://127.0.0.1:8000", client_id, client_secret) as collector:
        result = collector.send([user_created("u-1", email="ada@example.com"), ...])
        for bad in result.invalid:
            print(bad.index, bad.error)    # index: the event's position in the list sent

Batches respect the server's limits (1,000 events and 1 MiB by default). 429, 5xx and network
errors are retried with exponential back-off and jitter, honouring `Retry-After`; since every
event carries its `event_id`, a retried batch that had in fact been committed comes back as
duplicates, never as events applied twice. A 413 (an endpoint with smaller limits) splits the
batch in two.
"""

from __future__ import annotations

import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import msgspec

from syncline.client.errors import AuthenticationError, CollectError
from syncline.client.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

if TYPE_CHECKING:
    import httpx

MAX_EVENTS = 1000
MAX_BYTES = 1024 * 1024
_OPEN, _CLOSE = b'{"events":[', b"]}"
ENVELOPE_BYTES = len(_OPEN) + len(_CLOSE)


@dataclass(frozen=True, slots=True)
class InvalidEvent:
    """An event the server (or the client, for one that cannot fit a request) refused."""

    index: int
    event_id: str | None
    error: str
    code: str | None = None
    field: str | None = None


@dataclass(slots=True)
class SendResult:
    accepted: int = 0
    duplicates: int = 0
    invalid: list[InvalidEvent] = field(default_factory=list)
    requests: int = 0
    retries: int = 0

    @property
    def ok(self) -> bool:
        return not self.invalid

    def merge(self, other: SendResult, offset: int = 0) -> None:
        self.accepted += other.accepted
        self.duplicates += other.duplicates
        self.requests += other.requests
        self.retries += other.retries
        for bad in other.invalid:
            self.invalid.append(
                InvalidEvent(bad.index + offset, bad.event_id, bad.error, bad.code, bad.field)
            )


class _Answer(msgspec.Struct):
    invalid_events: list[dict[str, Any]] = []
    accepted: int | None = None
    duplicates: int = 0


_decode_answer = msgspec.json.Decoder(_Answer).decode
_encode = msgspec.json.encode


def encode_event(event: Any) -> bytes:
    """An event (a constructor's Struct, or a dict in the wire shape) as JSON bytes."""
    return _encode(event)


def batches(
    encoded: Iterable[bytes], max_events: int = MAX_EVENTS, max_bytes: int = MAX_BYTES
) -> Iterator[tuple[int, list[bytes]]]:
    """(index of the first event, events) runs within both limits, in order.

    A single event too large for any request still gets a batch of its own; the caller
    decides (`Collector.send` reports it invalid without sending it).
    """
    batch: list[bytes] = []
    size = ENVELOPE_BYTES
    start = 0
    for index, event in enumerate(encoded):
        extra = len(event) + (1 if batch else 0)
        if batch and (len(batch) >= max_events or size + extra > max_bytes):
            yield start, batch
            batch, size, start = [], ENVELOPE_BYTES, index
            extra = len(event)
        batch.append(event)
        size += extra
    if batch:
        yield start, batch


def request_body(events: Sequence[bytes]) -> bytes:
    return _OPEN + b",".join(events) + _CLOSE


class Collector:
    """A Collect API client. Thread-safe: `post` may be called from several threads at once."""

    def __init__(
        self,
        url: str,
        client_id: str,
        client_secret: str,
        *,
        retry: RetryPolicy | None = None,
        timeout: float = 60.0,
        max_events: int = MAX_EVENTS,
        max_bytes: int = MAX_BYTES,
        max_connections: int = 8,
        path: str = "/v2/collect",
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        import httpx

        self.url = url.rstrip("/") + path
        self.retry = retry or RetryPolicy()
        self.max_events, self.max_bytes = max_events, max_bytes
        self._http = httpx.Client(
            auth=(client_id, client_secret),
            timeout=timeout,
            limits=httpx.Limits(max_connections=max_connections),
            headers={"Content-Type": "application/json"},
            transport=transport,
        )
        self._transient: tuple[type[Exception], ...] = (httpx.TransportError,)
        self._closed = threading.Event()

    def __enter__(self) -> Collector:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections; requests still waiting to retry give up at once."""
        self._closed.set()
        self._http.close()

    def send(self, events: Iterable[Any]) -> SendResult:
        """Send every event (Structs from `syncline.client.events`, or dicts), in batches."""
        result = SendResult()
        tagged = ((i, encode_event(e)) for i, e in enumerate(events))
        pending: list[tuple[int, bytes]] = []
        for index, data in tagged:
            if len(data) + ENVELOPE_BYTES > self.max_bytes:
                result.invalid.append(_too_large(index, data, self.max_bytes))
                continue
            pending.append((index, data))
            if len(pending) >= self.max_events * 4:
                self._send_pending(pending, result)
                pending = []
        self._send_pending(pending, result)
        result.invalid.sort(key=lambda bad: bad.index)
        return result

    def _send_pending(self, pending: list[tuple[int, bytes]], result: SendResult) -> None:
        encoded = [data for _, data in pending]
        for start, batch in batches(encoded, self.max_events, self.max_bytes):
            answer = self.post(batch)
            # map batch positions back to the caller's indexes (some were set aside)
            shifted = SendResult(answer.accepted, answer.duplicates, [], answer.requests)
            shifted.retries = answer.retries
            result.merge(shifted)
            for bad in answer.invalid:
                inside = 0 <= bad.index < len(batch)
                original = pending[start + bad.index][0] if inside else -1
                result.invalid.append(
                    InvalidEvent(original, bad.event_id, bad.error, bad.code, bad.field)
                )

    def post(self, events: Sequence[bytes]) -> SendResult:
        """One batch of encoded events (within the limits), retried until answered.

        Raises `AuthenticationError` on 401/403 and `CollectError` when the request cannot
        succeed (400, or retries exhausted). A 413 splits the batch.
        """
        status, body, retries = self._post_with_retries(request_body(events))
        if status == 413 and len(events) > 1:
            half = len(events) // 2
            result = self.post(events[:half])
            result.merge(self.post(events[half:]), offset=half)
            result.retries += retries
            return result
        if status == 413:
            return SendResult(0, 0, [_too_large(0, events[0], self.max_bytes)], 1, retries)
        result = _result(status, body, len(events))
        result.retries = retries
        return result

    def _post_with_retries(self, body: bytes) -> tuple[int, bytes, int]:
        attempt = 0
        while True:
            if self._closed.is_set():
                raise CollectError(f"{self.url}: the collector is closed")
            try:
                answer = self._http.post(self.url, content=body)
            except self._transient as exc:
                if attempt >= self.retry.max_retries:
                    raise CollectError(
                        f"{self.url}: {exc!r} (gave up after {attempt} retries)"
                    ) from exc
                self._pause(self.retry.delay(attempt))
            else:
                if answer.status_code not in RETRYABLE_STATUS:
                    return answer.status_code, answer.content, attempt
                if attempt >= self.retry.max_retries:
                    raise CollectError(
                        f"{self.url}: HTTP {answer.status_code} {_reason(answer.content)}"
                        f" (gave up after {attempt} retries)",
                        answer.status_code,
                    )
                wait = parse_retry_after(answer.headers.get("Retry-After"))
                self._pause(self.retry.delay(attempt, wait))
            attempt += 1

    def _pause(self, seconds: float) -> None:
        if self._closed.wait(seconds):
            raise CollectError(f"{self.url}: the collector was closed while retrying")


def _result(status: int, body: bytes, count: int) -> SendResult:
    if status in (401, 403):
        raise AuthenticationError(f"HTTP {status} {_reason(body)}", status)
    if status != 200:
        raise CollectError(f"HTTP {status} {_reason(body)}", status)
    try:
        answer = _decode_answer(body)
    except msgspec.MsgspecError as exc:
        raise CollectError(f"HTTP 200 with an unreadable body: {body[:200]!r}", status) from exc
    invalid = [_invalid(item) for item in answer.invalid_events]
    accepted = answer.accepted
    if accepted is None:  # an endpoint that only lists invalid events (Copilot.cx)
        accepted = count - len(invalid) - answer.duplicates
    return SendResult(accepted, answer.duplicates, invalid, 1)


def _invalid(item: Mapping[str, Any]) -> InvalidEvent:
    index = item.get("index")
    return InvalidEvent(
        index if isinstance(index, int) else -1,
        item.get("event_id"),
        str(item.get("error", "")),
        item.get("code"),
        item.get("field"),
    )


def _too_large(index: int, data: bytes, limit: int) -> InvalidEvent:
    event_id = None
    try:
        probe = msgspec.json.decode(data)
        if isinstance(probe, dict) and isinstance(probe.get("event_id"), str):
            event_id = probe["event_id"]
    except msgspec.DecodeError:
        pass
    return InvalidEvent(
        index, event_id, f"event: too large for one request ({limit} bytes)", "event.too_large"
    )


def _reason(body: bytes) -> str:
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return body[:200].decode(errors="replace")
    if isinstance(data, dict):
        return f"{data.get('reason', '')}: {data.get('error_message', '')}".strip(": ")
    return str(data)[:200]
