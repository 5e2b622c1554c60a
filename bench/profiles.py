"""Profiles API latency: GET /profiles/{id} at a steady open-loop rate, then a few queries.

    python bench/profiles.py [--profiles N] [--seconds S] [--rate R] [--py-spy OUT]

Runs, in one go on this machine:
  1. loads N profiles into a real `syncline serve` through POST /v2/collect (user_created
     events, 500 per request, concurrency 4);
  2. GET /apispaces/{space}/profiles/{id} (Bearer API token) of random ids at R requests/s for
     S seconds, open loop: each request is sent at its planned time whatever the previous ones
     are doing, and its latency counts from that planned time, so queueing (in the client, the
     network or the server) is part of it; a short warm-up at the same rate is not counted;
  3. a few profile queries over the N profiles, each run sequentially and timed.
and prints the achieved rate, p50/p90/p99/max latency and the non-200 count of the GETs (the
exit status is 1 if there was any), the server's CPU time per GET and who kept the cores busy
meanwhile (other processes disturb the latencies: it says so), and p50/p99 of each query.
With --py-spy OUT, py-spy records the server during the GET phase (raw, collapsed stacks,
for a flame graph or a grep).
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import random
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import cpu_seconds, percentile, running_server

FIRST_NAMES = ["Ada", "Grace", "Hedy", "Alan", "Edsger", "Barbara", "Donald", "Frances"]
LAST_NAMES = ["Lovelace", "Hopper", "Lamarr", "Turing", "Dijkstra", "Liskov", "Knuth", "Allen"]
PLANS = ["free", "pro", "max"]
OFFSETS = ["+0000", "+0100", "-0500", "+0530", "+0900"]
QUERIES = [
    "email=user-123@example.com",
    "plan=pro&seats=>2&limit=100",
    "lastName=^Lov&limit=100",
    "firstName=~race&plan[]=pro&plan[]=max&limit=100",
]


def user_events(n: int, now: int) -> list[dict[str, object]]:
    """`user_created` events of profiles user-0 .. user-(n-1), with two custom properties."""
    return [
        {
            "type": "user_created",
            "event_id": f"00000000-0000-4000-8000-{i:012d}",
            "timestamp": now - 60_000 + i % 50_000,
            "payload": {
                "user_id": f"user-{i}",
                "first_name": FIRST_NAMES[i % len(FIRST_NAMES)],
                "last_name": LAST_NAMES[(i // 8) % len(LAST_NAMES)],
                "email": f"user-{i}@example.com",
                "utc_offset": OFFSETS[i % len(OFFSETS)],
                "custom_properties": {"plan": PLANS[i % len(PLANS)], "seats": i % 7},
            },
        }
        for i in range(n)
    ]


async def load(url: str, auth: str, events: list[dict[str, object]], batch: int) -> float:
    """Send the events in `batch`-sized requests at concurrency 4; the seconds it took."""
    bodies = [
        json.dumps({"events": events[i : i + batch]}).encode() for i in range(0, len(events), batch)
    ]
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in bodies:
        queue.put_nowait(body)

    async def worker(session: aiohttp.ClientSession) -> None:
        while not queue.empty():
            body = queue.get_nowait()
            async with session.post(f"{url}/v2/collect", data=body, headers=headers) as r:
                answer = await r.json()
                if (
                    r.status != 200
                    or answer["invalid_events"]
                    or answer["accepted"] != len(json.loads(body)["events"])
                ):
                    raise RuntimeError(f"unexpected answer {r.status}: {str(answer)[:300]}")

    started = time.perf_counter()
    async with aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=4)) as session:
        await asyncio.gather(*(worker(session) for _ in range(4)))
    return time.perf_counter() - started


@dataclass
class Latencies:
    requests: int
    rate: float
    p50_ms: float
    p90_ms: float
    p99_ms: float
    max_ms: float
    server_cpu_ms: float  # CPU time of the server process per request (user + system)
    cpu_shares: tuple[float, float, float]  # server, this load generator, everything else
    failures: dict[str, int] = field(default_factory=dict)

    @property
    def non_200(self) -> int:
        return sum(self.failures.values())


def machine_busy_seconds() -> float:
    """CPU time the whole machine spent busy so far, over all cores (Linux /proc; else 0)."""
    try:
        ticks = [int(t) for t in Path("/proc/stat").read_text().split("\n")[0].split()[1:9]]
    except OSError:
        return 0.0
    return (sum(ticks) - ticks[3] - ticks[4]) / os.sysconf("SC_CLK_TCK")  # minus idle, iowait


class CpuMeter:
    """Who used the CPU over an interval: the server, this process, and the rest of the
    machine (other processes sharing the cores disturb the latencies: a run to repeat)."""

    def __init__(self, server_pid: int) -> None:
        self.server_pid = server_pid
        self.marks = self._read()

    def _read(self) -> tuple[float, float, float]:
        mine = os.times()
        return cpu_seconds(self.server_pid), mine.user + mine.system, machine_busy_seconds()

    def used(self) -> tuple[float, float, float]:
        now = self._read()
        server, client, machine = (b - a for a, b in zip(self.marks, now, strict=True))
        return server, client, max(0.0, machine - server - client)


async def open_loop(
    url: str,
    space: str,
    token: str,
    server_pid: int,
    profiles: int,
    rate: float,
    seconds: float,
    warmup: float,
) -> Latencies:
    """GET random profiles at `rate` requests/s; latency from each request's planned time."""
    rng = random.Random(20261122)
    headers = {"Authorization": f"Bearer {token}"}
    base = f"{url}/apispaces/{space}/profiles/user-"
    latencies: list[float] = []
    failures: dict[str, int] = {}
    done = 0

    async def one(session: aiohttp.ClientSession, pid: int, planned: float, counted: bool) -> None:
        nonlocal done
        status = "error"
        try:
            async with session.get(f"{base}{pid}", headers=headers) as r:
                body = await r.read()
                status = str(r.status)
                if r.status == 200 and not body.startswith(b'{"'):
                    status = "200 not a document"
        except aiohttp.ClientError as exc:
            status = type(exc).__name__
        finished = time.perf_counter()
        if counted:
            latencies.append(finished - planned)
            done += 1
            if status != "200":
                failures[status] = failures.get(status, 0) + 1

    async def phase(session: aiohttp.ClientSession, n: int, counted: bool) -> float:
        # Only the requests in flight are kept: gathering thousands of finished tasks at the
        # end would stall this loop while the last requests are still being answered.
        in_flight: set[asyncio.Task[None]] = set()
        interval = 1.0 / rate
        start = time.perf_counter() + 0.01
        for k in range(n):
            planned = start + k * interval
            delay = planned - time.perf_counter()
            if delay > 0:
                await asyncio.sleep(delay)
            pid = rng.randrange(profiles)
            task = asyncio.create_task(one(session, pid, planned, counted))
            in_flight.add(task)
            task.add_done_callback(in_flight.discard)
        while in_flight:
            await asyncio.gather(*in_flight)
        return time.perf_counter() - start

    connector = aiohttp.TCPConnector(limit=256, keepalive_timeout=60)
    async with aiohttp.ClientSession(connector=connector) as session:
        await phase(session, int(rate * warmup), counted=False)
        gc.collect()
        gc.disable()  # no collector pauses in the load generator while it measures
        try:
            meter = CpuMeter(server_pid)
            elapsed = await phase(session, int(rate * seconds), counted=True)
            server, client, others = meter.used()
        finally:
            gc.enable()
    return Latencies(
        done,
        done / elapsed,
        percentile(latencies, 0.5) * 1000,
        percentile(latencies, 0.9) * 1000,
        percentile(latencies, 0.99) * 1000,
        max(latencies, default=0.0) * 1000,
        server * 1000 / max(done, 1),
        (server / elapsed, client / elapsed, others / elapsed),
        failures,
    )


async def queries(
    url: str, space: str, token: str, repeat: int
) -> list[tuple[str, int, float, float]]:
    """Each query `repeat` times in a row: (query, rows of the first page, p50 s, p99 s)."""
    headers = {"Authorization": f"Bearer {token}"}
    out = []
    async with aiohttp.ClientSession() as session:
        for query in QUERIES:
            samples: list[float] = []
            rows = 0
            for _ in range(repeat):
                started = time.perf_counter()
                async with session.get(
                    f"{url}/apispaces/{space}/profiles?{query}", headers=headers
                ) as r:
                    body = await r.read()
                    if r.status != 200:
                        raise RuntimeError(f"{query}: {r.status} {body[:300]!r}")
                samples.append(time.perf_counter() - started)
                rows = len(json.loads(body))
            out.append((query, rows, percentile(samples, 0.5), percentile(samples, 0.99)))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--profiles", type=int, default=100_000)
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=float, default=500.0)
    parser.add_argument("--warmup", type=float, default=2.0, help="uncounted seconds first")
    parser.add_argument("--query-repeat", type=int, default=20)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--py-spy", metavar="OUT", help="record the server during the GETs")
    args = parser.parse_args()
    gc.set_threshold(50_000, 50, 100)
    events = user_events(args.profiles, int(time.time() * 1000))
    env = {"SYNCLINE_SQLITE_SYNCHRONOUS": args.synchronous}

    with running_server(env) as server:
        auth = (
            "Basic "
            + base64.b64encode(f"{server.client_id}:{server.client_secret}".encode()).decode()
        )
        loaded = asyncio.run(load(server.url, auth, events, 500))
        del events
        gc.collect()
        spy = None
        if args.py_spy:
            py_spy = Path(sys.executable).with_name("py-spy")
            duration = str(int(args.warmup + args.seconds) + 1)
            command = [str(py_spy), "record", "-p", str(server.process.pid), "-f", "raw"]
            command += ["-o", args.py_spy, "-d", duration, "--nonblocking", "--threads"]
            spy = subprocess.Popen(
                command,
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1)
        get = asyncio.run(
            open_loop(
                server.url,
                server.space,
                server.api_token,
                server.process.pid,
                args.profiles,
                args.rate,
                args.seconds,
                args.warmup,
            )
        )
        if spy is not None:
            spy.wait(timeout=120)
        found = asyncio.run(queries(server.url, server.space, server.api_token, args.query_repeat))

    print(
        f"profiles benchmark (SQLite, synchronous={args.synchronous}, one server process, "
        f"{args.profiles:,} profiles loaded in {loaded:.1f} s)"
    )
    print(
        f"GET /profiles/{{id}}, open loop at {args.rate:,.0f}/s for {args.seconds:g} s "
        f"(after {args.warmup:g} s of warm-up), random ids"
    )
    print(
        f"{'requests':>9} {'rate/s':>8} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} "
        f"{'max ms':>8} {'non-200':>8} {'target':>16}"
    )
    print(
        f"{get.requests:>9,} {get.rate:>8,.1f} {get.p50_ms:>8.2f} {get.p90_ms:>8.2f} "
        f"{get.p99_ms:>8.2f} {get.max_ms:>8.1f} {get.non_200:>8,} {'GET p99 < 5 ms':>16}"
    )
    if get.failures:
        print(f"  non-200 answers: {get.failures}")
    if get.server_cpu_ms > 0:  # NaN where /proc is missing
        served, loading, others = get.cpu_shares
        print(
            f"  server CPU per GET: {get.server_cpu_ms:.2f} ms; cores busy meanwhile: server "
            f"{served:.0%}, load generator {loading:.0%}, other processes {others:.0%}"
        )
        if others > 0.1:
            print("  other processes shared the cores: latencies are disturbed, run it again")
    print(f"queries over {args.profiles:,} profiles, each run {args.query_repeat} times in a row")
    print(f"{'query':50} {'rows':>6} {'p50 ms':>8} {'p99 ms':>8}")
    for query, rows, p50, p99 in found:
        print(f"{query:50} {rows:>6} {p50 * 1000:>8.1f} {p99 * 1000:>8.1f}")
    if get.non_200:
        sys.exit(1)


if __name__ == "__main__":
    main()
