"""The per-credential token bucket, on a clock the test moves."""

from __future__ import annotations

import pytest

from syncline.errors import ConfigError, RateLimited
from syncline.http.app import limiter_of
from syncline.http.ratelimit import RateLimiter, TokenBucket
from syncline.settings import Settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.parametrize(
    ("rate", "burst", "times", "waits"),
    [
        # a full bucket lets `burst` through at once, then one per 1/rate seconds
        (2.0, 2, [0, 0, 0], [0, 0, 0.5]),
        (2.0, 2, [0, 0, 0.5], [0, 0, 0]),
        (2.0, 2, [0, 0, 0.25], [0, 0, 0.25]),
        (1.0, 1, [0, 1, 2, 2.5], [0, 0, 0, 0.5]),
        # idle time refills up to the burst, never beyond
        (10.0, 3, [0, 100, 100, 100, 100], [0, 0, 0, 0, 0.1]),
    ],
)
def test_bucket(rate: float, burst: int, times: list[float], waits: list[float]) -> None:
    bucket = TokenBucket(rate, burst, 0.0)
    assert [round(bucket.take(t), 6) for t in times] == waits


def test_limiter_keys_are_independent_and_retry_after_is_whole_seconds() -> None:
    clock = Clock()
    limiter = RateLimiter(0.5, 1, clock)
    limiter.check("a")
    with pytest.raises(RateLimited) as refused:
        limiter.check("a")
    assert refused.value.retry_after == 2  # one request per 2 s
    limiter.check("b")  # another credential has its own bucket
    clock.now += 2
    limiter.check("a")


def test_a_refused_request_takes_nothing() -> None:
    clock = Clock()
    limiter = RateLimiter(1.0, 1, clock)
    limiter.check("a")
    for _ in range(5):
        with pytest.raises(RateLimited):
            limiter.check("a")
    clock.now += 1
    limiter.check("a")


def test_zero_rate_means_no_limit() -> None:
    limiter = RateLimiter(0, 0, Clock())
    for _ in range(10_000):
        limiter.check("a")


@pytest.mark.parametrize(
    ("name", "value"), [("SYNCLINE_RATE_LIMIT", "-1"), ("SYNCLINE_RATE_LIMIT_BURST", "-2")]
)
def test_bad_limits_are_refused_by_name(name: str, value: str) -> None:
    with pytest.raises(ConfigError, match=name):
        Settings.load(env={name: value})


def test_the_burst_defaults_to_twice_the_rate() -> None:
    limiter = limiter_of(Settings.load(env={"SYNCLINE_RATE_LIMIT": "2.5"}))
    assert (limiter.rate, limiter.burst) == (2.5, 5)
