"""Per-credential rate limiting: a token bucket for each credential that made a request.

`rate` requests per second are allowed on average, with bursts of `burst`. A request over the
limit raises `RateLimited` with the whole seconds to wait, which becomes a 429 and
`Retry-After`. Buckets live in memory, per process: with several API processes each allows the
rate (the limit protects a process, not a global quota).
"""

from __future__ import annotations

import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable

from syncline.errors import RateLimited

MAX_BUCKETS = 100_000  # the least recently used bucket goes first past this


class TokenBucket:
    def __init__(self, rate: float, burst: int, now: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens, self.at = float(burst), now

    def take(self, now: float) -> float:
        """0 when a token was taken, else the seconds until one is there."""
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens >= 1:
            self.tokens -= 1
            return 0.0
        return (1 - self.tokens) / self.rate


class RateLimiter:
    def __init__(
        self, rate: float, burst: int, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.rate, self.burst, self.clock = rate, max(1, burst), clock
        self._buckets: OrderedDict[str, TokenBucket] = OrderedDict()
        self._lock = threading.Lock()

    def check(self, key: str) -> None:
        """Take one request from `key`'s bucket, or raise `RateLimited`."""
        if self.rate <= 0:
            return
        now = self.clock()
        with self._lock:
            bucket = self._buckets.get(key)
            if bucket is None:
                bucket = self._buckets[key] = TokenBucket(self.rate, self.burst, now)
                if len(self._buckets) > MAX_BUCKETS:
                    self._buckets.popitem(last=False)
            else:
                self._buckets.move_to_end(key)
            wait = bucket.take(now)
        if wait > 0:
            raise RateLimited(max(1, math.ceil(wait)))
