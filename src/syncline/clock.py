"""The server's clock in epoch milliseconds (one place to read it)."""

import time


def now_ms() -> int:
    return time.time_ns() // 1_000_000
