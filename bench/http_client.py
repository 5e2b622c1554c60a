"""The webhook sender's HTTP client against aiohttp's, to the same local receiver.

    python bench/http_client.py [--requests N] [--rounds N]

Starts bench/receiver.py in its own process, then posts the same ~550-byte envelopes at
concurrency 64 (the server's per-endpoint in-flight limit) through aiohttp's ClientSession and
through syncline.delivery.http1.Pool, in alternating rounds (this machine's speed wanders), and
prints requests/s and the client's CPU time per request (its own process, user + system):
what a delivery's HTTP part costs the server.
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import sys
import time
from collections.abc import Callable, Coroutine
from pathlib import Path
from typing import Any

import aiohttp
import uvloop

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.webhooks import BARE_HEADERS, envelope, start_receiver, stop
from syncline.delivery.http1 import Pool

CONCURRENCY = 64


async def with_aiohttp(url: str, bodies: list[bytes]) -> None:
    pending = iter(bodies)
    connector = aiohttp.TCPConnector(limit=0)
    async with aiohttp.ClientSession(connector=connector, auto_decompress=False) as session:

        async def worker() -> None:
            for body in pending:
                async with session.post(url, data=body, headers=BARE_HEADERS) as answer:
                    await answer.content.read(2048)
                    if answer.status != 200:
                        raise RuntimeError(f"the receiver answered {answer.status}")

        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))


async def with_http1(url: str, bodies: list[bytes]) -> None:
    pending = iter(bodies)
    pool = Pool(allow_private=True)

    async def worker() -> None:
        for body in pending:
            answer = await pool.post(url, BARE_HEADERS, body, 10)
            if answer.status != 200:
                raise RuntimeError(f"the receiver answered {answer.status}")

    try:
        await asyncio.gather(*(worker() for _ in range(CONCURRENCY)))
    finally:
        await pool.close()


def measure(
    client: Callable[[str, list[bytes]], Coroutine[Any, Any, None]], url: str, bodies: list[bytes]
) -> tuple[float, float]:
    before = resource.getrusage(resource.RUSAGE_SELF)
    started = time.perf_counter()
    uvloop.run(client(url, bodies))
    elapsed = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_SELF)
    cpu = after.ru_utime - before.ru_utime + after.ru_stime - before.ru_stime
    return len(bodies) / elapsed, cpu / len(bodies) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=40_000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    bodies = [envelope(n) for n in range(args.requests)]
    receiver = start_receiver()
    results: dict[str, list[tuple[float, float]]] = {"aiohttp": [], "syncline http1": []}
    try:
        for _ in range(args.rounds):
            results["aiohttp"].append(measure(with_aiohttp, receiver.hook("aiohttp"), bodies))
            results["syncline http1"].append(measure(with_http1, receiver.hook("http1"), bodies))
    finally:
        stop(receiver.process)
    print(
        f"HTTP client: {args.rounds} x {args.requests:,} POSTs at concurrency {CONCURRENCY} "
        "to a local receiver (its own process)"
    )
    print(f"{'client':16} {'requests/s':>24} {'client CPU µs/request':>26}")
    for name, runs in results.items():
        rates = ", ".join(f"{r:,.0f}" for r, _ in runs)
        cpus = ", ".join(f"{c:.1f}" for _, c in runs)
        print(f"{name:16} {rates:>24} {cpus:>26}")


if __name__ == "__main__":
    main()
