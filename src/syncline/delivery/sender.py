"""One HTTP attempt: POST the body with its signatures, read at most 2 KB of the answer."""

from __future__ import annotations

import time
from dataclasses import dataclass

import structlog

from syncline.delivery.http1 import KEEP, HttpError, Pool
from syncline.delivery.schedule import parse_retry_after

log = structlog.get_logger("syncline.delivery")


@dataclass(frozen=True, slots=True)
class Sent:
    status: int | None
    latency_ms: float
    response: str | None
    error: str | None
    retry_after_s: float | None


def new_pool(allow_private: bool) -> Pool:
    """Connections for deliveries; without `allow_private`, only to public addresses."""
    return Pool(allow_private, keep=KEEP)


async def send(
    pool: Pool, url: str, body: bytes, headers: dict[str, str], timeout_s: float
) -> Sent:
    started = time.perf_counter()
    try:
        answer = await pool.post(url, headers, body, timeout_s)
    except TimeoutError:
        return Sent(None, _ms(started), None, f"no answer within {timeout_s:g} s", None)
    except Exception as exc:  # a bug of ours too: still an attempt, never a lost delivery
        if not isinstance(exc, HttpError | OSError):
            log.exception("webhook request failed unexpectedly", url=url)
        return Sent(None, _ms(started), None, f"{type(exc).__name__}: {exc}"[:500], None)
    return Sent(
        answer.status,
        _ms(started),
        answer.body.decode("utf-8", "replace"),
        None,
        parse_retry_after(answer.headers.get("retry-after"), time.time()),
    )


def _ms(started: float) -> float:
    return (time.perf_counter() - started) * 1000
