"""Collect throughput: the real server over HTTP vs the *floor* (a bare decode+INSERT script).

    python bench/collect.py [--events N] [--small-events N]

Runs, in one go on this machine:
  1. 500-event batches over HTTP (concurrency 4);
  2. 10-event batches over HTTP at concurrency 32 (group commit);
  3. our whole pipeline (decode, validate, dedup, apply state, commit) without HTTP;
  4. the floor: a bare script that decodes, validates and INSERTs the same events, nothing else;
and 1-2 on PostgreSQL too (when reachable), also with two API processes on one database.
Prints events/s, p50/p99 request latency, the ratio to the floor and PostgreSQL's to SQLite's.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path

import aiohttp
import msgspec

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import percentile, postgres_available, running_server


def make_events(n: int, now: int) -> list[dict[str, object]]:
    """A realistic mix: users, things, links, and device events on them."""
    out: list[dict[str, object]] = []
    i = 0
    while len(out) < n:
        user, thing = f"user-{i}", f"aa:bb:{i:08x}"
        ts = now - 60_000 + (i % 50_000)
        out += [
            {
                "type": "user_created",
                "event_id": str(uuid.uuid4()),
                "timestamp": ts,
                "payload": {
                    "user_id": user,
                    "first_name": "Ada",
                    "last_name": "Lovelace",
                    "email": f"{user}@example.com",
                    "utc_offset": "+0100",
                    "copilot_analysis_consent": True,
                    "custom_properties": {"plan": "pro", "seats": 3},
                },
            },
            {
                "type": "thing_created",
                "event_id": str(uuid.uuid4()),
                "timestamp": ts,
                "payload": {"thing_id": thing, "model": "K-200", "firmware_version": "1.2.3"},
            },
            {
                "type": "user_thing_associated",
                "event_id": str(uuid.uuid4()),
                "timestamp": ts,
                "payload": {"user_id": user, "thing_id": thing},
            },
            {
                "type": "thing_status_changed",
                "event_id": str(uuid.uuid4()),
                "timestamp": ts,
                "payload": {"thing_id": thing, "status_key": "power", "status_value": "on"},
            },
            {
                "type": "thing_connected",
                "event_id": str(uuid.uuid4()),
                "timestamp": ts,
                "payload": {"thing_id": thing, "user_id": user},
            },
        ]
        i += 1
    return out[:n]


def bodies(events: list[dict[str, object]], size: int) -> list[bytes]:
    return [
        json.dumps({"events": events[i : i + size]}).encode() for i in range(0, len(events), size)
    ]


async def drive(
    urls: list[str], auth: str, payloads: list[bytes], concurrency: int
) -> dict[str, float]:
    """`concurrency` clients, spread over the servers at `urls`, until the payloads run out."""
    latencies: list[float] = []
    queue: asyncio.Queue[bytes] = asyncio.Queue()
    for body in payloads:
        queue.put_nowait(body)
    headers = {"Authorization": auth, "Content-Type": "application/json"}
    accepted = 0

    async def worker(session: aiohttp.ClientSession, url: str) -> None:
        nonlocal accepted
        while not queue.empty():
            body = queue.get_nowait()
            started = time.perf_counter()
            async with session.post(f"{url}/v2/collect", data=body, headers=headers) as r:
                answer = await r.json()
                if r.status != 200 or answer["invalid_events"]:
                    raise RuntimeError(f"unexpected answer {r.status}: {str(answer)[:300]}")
                accepted += answer["accepted"]
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=concurrency)
    async with aiohttp.ClientSession(connector=connector) as session:
        started = time.perf_counter()
        await asyncio.gather(*(worker(session, urls[n % len(urls)]) for n in range(concurrency)))
        elapsed = time.perf_counter() - started
    return {
        "events_per_s": accepted / elapsed,
        "p50_ms": percentile(latencies, 0.5) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "events": accepted,
        "seconds": elapsed,
    }


def floor(payloads: list[bytes], synchronous: str) -> dict[str, float]:
    """The same bodies through decode -> validate -> commit, in-process, no HTTP."""
    from syncline.clock import now_ms
    from syncline.services import ingest, spaces
    from syncline.services.ingest import Limits
    from syncline.storage.sqlite import SQLiteStorage

    with tempfile.TemporaryDirectory(prefix="syncline-floor-") as tmp:
        storage = SQLiteStorage(f"{tmp}/floor.db", synchronous)
        storage.migrate()
        with storage.unit_of_work() as uow:
            space = spaces.create_space(uow, 1, "floor", now_ms()).api_space_id
        limits = Limits()
        gc.collect()
        gc.freeze()
        accepted = 0
        started, cpu = time.perf_counter(), time.process_time()
        for body in payloads:
            now = now_ms()
            decoded = ingest.decode_request(body, now, limits)
            with storage.unit_of_work() as uow:
                accepted += ingest.commit(uow, space, decoded, now).accepted
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        storage.close()
    return {"events_per_s": accepted / elapsed, "events": accepted, "seconds": elapsed, "cpu": cpu}


def bare_script(payloads: list[bytes], synchronous: str) -> dict[str, float]:
    """The floor of the design: decode, validate and INSERT the events, nothing else.

    No state, no dedup lookups, no sync gating: what any ingest needs at the least on this
    schema and this disk, as the yardstick for the real pipeline.
    """
    import sqlite3

    from syncline.clock import now_ms
    from syncline.schemas.collect import EventError
    from syncline.services import ingest
    from syncline.services.ingest import Limits
    from syncline.storage.sqlbase import SpaceKeys, SqlUnitOfWork
    from syncline.storage.sqlite import SQLiteStorage

    with tempfile.TemporaryDirectory(prefix="syncline-bare-") as tmp:
        path = f"{tmp}/bare.db"
        SQLiteStorage(path, synchronous).migrate()
        conn = sqlite3.connect(path, isolation_level=None)
        conn.execute(f"PRAGMA synchronous={synchronous}")
        limits = Limits()
        inserted = 0
        started, cpu = time.perf_counter(), time.process_time()
        for body in payloads:
            now = now_ms()
            rows = []
            for d in ingest.decode_request(body, now, limits):
                e = d.result
                if isinstance(e, EventError):
                    continue
                p = e.payload
                rows.append(
                    (
                        "1",  # the space's key, as the server stores it
                        e.event_id,
                        e.kind,
                        e.timestamp,
                        now,
                        1,
                        getattr(p, "user_id", None),
                        getattr(p, "thing_id", None),
                        msgspec.json.encode(p),
                        b"",
                    )
                )
            conn.execute("BEGIN")
            SqlUnitOfWork(conn, SpaceKeys()).write_rows("INSERT INTO events", rows)  # as the server
            conn.execute("COMMIT")
            inserted += len(rows)
        elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
        conn.close()
    return {"events_per_s": inserted / elapsed, "events": inserted, "seconds": elapsed, "cpu": cpu}


def http_runs(
    backend: str, env: dict[str, str], big: list[bytes], small: list[bytes]
) -> dict[str, dict[str, float]]:
    runs: dict[str, dict[str, float]] = {}
    plans = [("batch", 1, big, 4), ("small", 1, small, 32)]
    if backend == "postgres":
        plans += [("batch x2", 2, big, 4), ("batch x2 c8", 2, big, 8)]
    for name, processes, payloads, concurrency in plans:
        with running_server(env, backend, processes) as server:
            secret = f"{server.client_id}:{server.client_secret}".encode()
            auth = "Basic " + base64.b64encode(secret).decode()
            server_before, own_before = server.cpu_seconds(), time.process_time()
            run = asyncio.run(drive(server.urls, auth, payloads, concurrency))
            run["server_cpu"] = server.cpu_seconds() - server_before
            run["load_cpu"] = time.process_time() - own_before
            runs[name] = run
    return runs


def row(label: str, runs: dict[str, dict[str, dict[str, float]]], key: str, target: str) -> str:
    cells = []
    for backend in ("sqlite", "postgres"):
        r = runs.get(backend, {}).get(key)
        cells.append(
            f"{r['events_per_s']:>9,.0f} {r['p50_ms']:>6.1f} {r['p99_ms']:>6.1f}"
            if r
            else f"{'-':>9} {'-':>6} {'-':>6}"
        )
    return f"{label:34} {cells[0]}   {cells[1]}  {target:>10}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--small-events", type=int, default=50_000)
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated; postgres runs when SYNCLINE_BENCH_POSTGRES is reachable",
    )
    args = parser.parse_args()
    gc.set_threshold(50_000, 50, 100)
    now = int(time.time() * 1000)
    big = bodies(make_events(args.events, now), 500)
    small = bodies(make_events(args.small_events, now), 10)
    env = {"SYNCLINE_SQLITE_SYNCHRONOUS": args.synchronous}
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends and not postgres_available():
        print("PostgreSQL is not reachable (SYNCLINE_BENCH_POSTGRES): SQLite only")
        backends.remove("postgres")

    runs = {backend: http_runs(backend, env, big, small) for backend in backends}
    pipeline = floor(big, args.synchronous)
    bare = bare_script(big, args.synchronous)

    print(f"collect benchmark (SQLite synchronous={args.synchronous}; PostgreSQL defaults)")
    print(
        f"{'run':34} {'SQLite ev/s':>11} {'p50':>6} {'p99':>6}   "
        f"{'PG ev/s':>9} {'p50':>6} {'p99':>6}  {'target':>10}"
    )
    print(row("HTTP, 500-event batches, conc 4", runs, "batch", ">= 30,000"))
    print(row("HTTP, 10-event batches, conc 32", runs, "small", ">= 15,000"))
    print(row("HTTP, 500-event, 2 API processes", runs, "batch x2", "> 1 proc"))
    print(row("  the same, conc 8", runs, "batch x2 c8", "> 1 proc"))
    print(f"{'our pipeline, no HTTP, 500/commit':34} {pipeline['events_per_s']:>11,.0f}")
    print(f"{'floor: bare decode+INSERT script':34} {bare['events_per_s']:>11,.0f}")
    batch = runs.get("sqlite", {}).get("batch")
    if batch:
        ratio = batch["events_per_s"] / bare["events_per_s"]
        print(f"{'ratio SQLite HTTP 500 / floor':34} {ratio:>11.0%} {'':>38}{'>= 60%':>10}")
    pg = runs.get("postgres", {}).get("batch")
    if batch and pg:
        ratio = pg["events_per_s"] / batch["events_per_s"]
        print(f"{'ratio PostgreSQL / SQLite (500)':34} {ratio:>11.0%} {'':>38}{'>= 70%':>10}")
    print_cpu(runs, pipeline, bare)


def print_cpu(
    runs: dict[str, dict[str, dict[str, float]]], pipeline: dict[str, float], bare: dict[str, float]
) -> None:
    """Where the CPU went: a server above 100% of a core overlaps work on both cores."""
    print("\nCPU per run: server (all its processes) and load generator, in % of one core")
    print(f"{'run':34} {'server %':>9} {'µs/event':>9} {'load %':>7}")
    for backend, plans in runs.items():
        for name, r in plans.items():
            seconds, events = r["seconds"], r["events"]
            print(
                f"{backend + ' ' + name:34} {100 * r['server_cpu'] / seconds:>9.0f} "
                f"{1e6 * r['server_cpu'] / events:>9.1f} {100 * r['load_cpu'] / seconds:>7.0f}"
            )
    for label, r in (("our pipeline, no HTTP", pipeline), ("floor", bare)):
        print(
            f"{label:34} {100 * r['cpu'] / r['seconds']:>9.0f} {1e6 * r['cpu'] / r['events']:>9.1f}"
        )


if __name__ == "__main__":
    main()
