"""When to try a failed delivery again: Dotdigital's schedule, with jitter and Retry-After.

    attempt 1 fails -> wait 5s, then 5s, 30s, 30s, 1m, 2m, 5m, 10m, 15m, 30m, 1h, 2h, 4h x5
    (about 24 h in all); after the last wait's attempt fails, the event is dead-lettered.

A pure function of (attempts made, Retry-After, a random draw), so a table can test it and a
test clock can scale it.
"""

from __future__ import annotations

from email.utils import parsedate_to_datetime

SCHEDULE_S: tuple[int, ...] = (
    5,
    5,
    30,
    30,
    60,
    120,
    300,
    600,
    900,
    1800,
    3600,
    7200,
    *(4 * 3600,) * 5,
)
MAX_ATTEMPTS = len(SCHEDULE_S) + 1
JITTER = 0.1  # +-10% spreads retries of many events failing together
MAX_RETRY_AFTER_S = 4 * 3600


def next_attempt_delay(
    attempts: int, retry_after_s: float | None = None, draw: float = 0.5, scale: float = 1.0
) -> float | None:
    """Seconds to wait after `attempts` failed attempts; None when it is time to give up.

    `draw` is a uniform random number in [0, 1): 0.5 means no jitter. `scale` shrinks the
    schedule (a test clock), never the receiver's own `Retry-After`: one longer than the
    schedule's wait is honoured (capped at 4 h); a shorter one never hurries it.
    """
    if attempts < 1:
        raise ValueError("attempts counts the failed attempts made, from 1")
    if attempts >= MAX_ATTEMPTS:
        return None
    base = SCHEDULE_S[attempts - 1]
    delay = base * scale * (1 + JITTER * (2 * draw - 1))
    if retry_after_s is not None and retry_after_s > delay:
        delay = min(float(retry_after_s), MAX_RETRY_AFTER_S)
    return delay


def parse_retry_after(value: str | None, now_s: float) -> float | None:
    """`Retry-After` as seconds from now: delta-seconds or an HTTP date; None if unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:
        return None
    return max(0.0, moment.timestamp() - now_s)
