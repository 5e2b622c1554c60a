"""Webhook delivery throughput: the real server vs a bare aiohttp client loop, same receiver.

    python bench/webhooks.py [--events N] [--bare-requests N] [--py-spy DIR [--py-spy-gil]]

Runs, in one go on this machine:
  1. a fast receiver on 127.0.0.1 in its own process (bench/receiver.py, aiohttp on uvloop),
     answering 200 at once and counting requests, envelopes, distinct eventIds and connections;
  2. the bare loop: an aiohttp client posting ~550-byte envelopes to it at concurrency 64 (the
     server's per-endpoint in-flight limit), nothing else: requests/s (median of 3 rounds);
  3. the real server (`syncline serve`, a fresh database each phase: SQLite, then PostgreSQL)
     with ONE single-event webhook, ordering "none" then "profile": N user_created events
     through POST /v2/collect in 500-event batches, each a new profile, so N revisions to
     deliver; deliveries/s from the first to the last delivery received, the end-to-end time
     from the first collect request to the last delivery, and exactly-once (duplicates,
     missing, out of order);
  4. the same with a batched webhook (maxEvents 500, timeoutSeconds 1): events/s;
  5. "drain" phases: the same events queued on a paused webhook, then resumed, so delivery is
     measured alone (in 3 and 4 it shares the one server process with ingest);
and prints the table with the targets of DESIGN.md section 9, then a diagnosis per phase from
the server's /proc CPU time and /metrics: CPU per revision, mean request latency, mean requests
in flight, group commits. With --py-spy DIR each phase's measured part is recorded into
DIR/<phase>.txt (raw, every thread; wall time, or with --py-spy-gil only samples holding the GIL).

Every wait is bounded: a phase that does not complete within --timeout seconds, or makes no
progress for --stall seconds, stops with a message saying what arrived.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import gc
import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import Server, free_port, postgres_available, running_server

RECEIVER = Path(__file__).resolve().parent / "receiver.py"
CONCURRENCY = 64  # SYNCLINE_WEBHOOK_MAX_INFLIGHT's default
COLLECT_BATCH = 500
COLLECT_CONCURRENCY = 4


class BenchError(RuntimeError):
    pass


# the receiver ----------------------------------------------------------------------------------
@dataclass
class Receiver:
    process: subprocess.Popen[bytes]
    base: str

    def hook(self, name: str) -> str:
        return f"{self.base}/hook/{name}"

    def stats(self, name: str) -> dict[str, Any]:
        with urllib.request.urlopen(f"{self.base}/stats/{name}", timeout=5) as answer:
            found: dict[str, Any] = json.loads(answer.read())
            return found


def start_receiver() -> Receiver:
    port = free_port()
    process = subprocess.Popen(
        [sys.executable, str(RECEIVER), "--port", str(port)],
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise BenchError("the receiver exited during start-up")
        try:
            with urllib.request.urlopen(f"{base}/readyz", timeout=1) as answer:
                if answer.status == 200:
                    return Receiver(process, base)
        except OSError:
            time.sleep(0.05)
    process.kill()
    raise BenchError("the receiver did not become ready within 30 s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


# the bare loop ---------------------------------------------------------------------------------
def envelope(n: int) -> bytes:
    """A realistic profile.create envelope (~600 bytes), as the server sends them."""
    user = f"user-{n}"
    return json.dumps(
        {
            "eventId": str(uuid.uuid4()),
            "accountId": 1,
            "apiSpaceId": "0d6f6a4e-9c1b-4c1e-8a53-4b6f3f0f2a11",
            "name": "profile.create",
            "payload": {
                "id": user,
                "firstName": "Ada",
                "lastName": "Lovelace",
                "email": f"{user}@example.com",
                "utcOffset": "+0100",
                "copilotAnalysisConsent": True,
                "plan": "pro",
                "seats": 3,
                "_createdOn": "2025-01-01T12:00:00.000Z",
                "_updatedOn": "2025-01-01T12:00:00.000Z",
                "custom": {"source": "bench", "tier": "gold", "region": "eu-west"},
            },
            "revision": 0,
            "etag": f'"{uuid.uuid4().hex}"',
            "timestamp": "2025-01-01T12:00:00.000Z",
        },
        separators=(",", ":"),
    ).encode()


BARE_HEADERS = {
    # the same header set as the server's, with fixed values: the loop signs nothing
    "Content-Type": "application/json",
    "User-Agent": "syncline-webhooks/bench",
    "X-Comapi-Signature": "0" * 40,
    "webhook-id": str(uuid.uuid4()),
    "webhook-timestamp": str(int(time.time())),
    "webhook-signature": "v1," + base64.b64encode(b"0" * 32).decode(),
}


async def bare_loop(
    url: str, bodies: list[bytes], concurrency: int, limit: float
) -> dict[str, float]:
    pending = iter(bodies)
    done = 0

    async def worker(session: aiohttp.ClientSession) -> None:
        nonlocal done
        for body in pending:
            async with session.post(url, data=body, headers=BARE_HEADERS) as answer:
                await answer.read()
                if answer.status != 200:
                    raise BenchError(f"the receiver answered {answer.status}")
            done += 1

    connector = aiohttp.TCPConnector(limit=0)
    timeout = aiohttp.ClientTimeout(total=10)
    async with aiohttp.ClientSession(
        connector=connector, timeout=timeout, auto_decompress=False
    ) as session:

        async def warm() -> None:
            async with session.post(url, data=bodies[0], headers=BARE_HEADERS) as answer:
                await answer.read()

        # one warm-up round opens the connections, as a running server has them open
        await asyncio.gather(*(warm() for _ in range(concurrency)))
        started = time.perf_counter()
        try:
            async with asyncio.timeout(limit):
                await asyncio.gather(*(worker(session) for _ in range(concurrency)))
        except TimeoutError:
            raise BenchError(f"bare loop: {done} of {len(bodies)} after {limit:g} s") from None
        elapsed = time.perf_counter() - started
    return {"per_s": done / elapsed, "requests": done, "seconds": elapsed}


def run_bare(receiver: Receiver, count: int, rounds: int, limit: float) -> dict[str, Any]:
    """`rounds` runs of `count` requests (this VM's speed wanders): the median, and the range."""
    bodies = [envelope(n) for n in range(count)]
    runs = [
        _run(bare_loop(receiver.hook("bare"), bodies, CONCURRENCY, limit)) for _ in range(rounds)
    ]
    got = receiver.stats("bare")
    if got["envelopes"] < count * rounds:
        raise BenchError(f"bare loop: the receiver counted {got['envelopes']} of {count * rounds}")
    rates = sorted(r["per_s"] for r in runs)
    middle = sorted(runs, key=lambda r: r["per_s"])[len(runs) // 2]
    size = sum(map(len, bodies)) / len(bodies)
    return {**middle, "bytes": size, "rates": rates, "connections": got["connections"]}


def _run(coro: Any) -> Any:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the venv has it
        return asyncio.run(coro)
    return uvloop.run(coro)  # as uvicorn runs the server


# the server phases -----------------------------------------------------------------------------
def user_events(n: int, now: int) -> list[bytes]:
    """N user_created events, each a new profile, as 500-event collect bodies."""
    events = [
        {
            "type": "user_created",
            "event_id": str(uuid.uuid4()),
            "timestamp": now - 60_000 + i % 50_000,
            "payload": {
                "user_id": f"user-{i}",
                "first_name": "Ada",
                "last_name": "Lovelace",
                "email": f"user-{i}@example.com",
                "utc_offset": "+0100",
                "copilot_analysis_consent": True,
                "custom_properties": {"plan": "pro", "seats": 3},
            },
        }
        for i in range(n)
    ]
    return [
        json.dumps({"events": events[i : i + COLLECT_BATCH]}).encode()
        for i in range(0, n, COLLECT_BATCH)
    ]


async def subscribe(server: Server, spec: dict[str, Any]) -> str:
    headers = {"Authorization": f"Bearer {server.api_token}"}
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(
            f"{server.url}/apispaces/{server.space}/webhooks", json=spec, headers=headers
        ) as answer,
    ):
        made = await answer.json()
        if answer.status != 201:
            raise BenchError(f"creating the webhook: {answer.status} {made}")
        return str(made["id"])


async def produce(server: Server, bodies: list[bytes], limit: float) -> float:
    """POST every body (concurrency 4); the wall-clock time of the first request."""
    token = base64.b64encode(f"{server.client_id}:{server.client_secret}".encode()).decode()
    headers = {"Authorization": f"Basic {token}", "Content-Type": "application/json"}
    queue = list(reversed(bodies))

    async def worker(session: aiohttp.ClientSession) -> None:
        while queue:
            body = queue.pop()
            async with session.post(f"{server.url}/v2/collect", data=body, headers=headers) as r:
                answer = await r.json()
                if r.status != 200 or answer["invalid_events"]:
                    raise BenchError(f"collect answered {r.status}: {str(answer)[:300]}")

    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=60)) as session:
        started = time.time()
        try:
            async with asyncio.timeout(limit):
                await asyncio.gather(*(worker(session) for _ in range(COLLECT_CONCURRENCY)))
        except TimeoutError:
            raise BenchError(
                f"collect: {len(queue)} bodies still unsent after {limit:g} s"
            ) from None
    return started


def wait_for(
    receiver: Receiver, name: str, expected: int, timeout: float, stall: float
) -> dict[str, Any]:
    """Until `expected` distinct events arrived, bounded in time."""
    deadline = time.monotonic() + timeout
    last_count, last_change = -1, time.monotonic()
    while True:
        got = receiver.stats(name)
        if got["distinct"] >= expected:
            return got
        now = time.monotonic()
        if got["distinct"] != last_count:
            last_count, last_change = got["distinct"], now
        if now - last_change > stall:
            raise BenchError(
                f"{name}: no progress for {stall:g} s; {got['distinct']} of {expected} "
                f"events arrived ({got['requests']} requests, {got['duplicates']} duplicates)"
            )
        if now > deadline:
            raise BenchError(
                f"{name}: not done within {timeout:g} s; {got['distinct']} of {expected} "
                f"events arrived ({got['requests']} requests, {got['duplicates']} duplicates)"
            )
        time.sleep(0.05)


@dataclass(frozen=True)
class Probe:
    """The server's CPU time and delivery/commit counters at one moment (for the diagnosis)."""

    at: float
    cpu_s: float
    metrics: dict[str, float]

    @classmethod
    def take(cls, server: Server) -> Probe:
        return cls(time.time(), server.cpu_seconds(), _metrics(server.url))


_WANTED = (
    "syncline_webhook_delivery_seconds_sum",
    "syncline_webhook_delivery_seconds_count",
    "syncline_group_commit_seconds_sum",
    "syncline_group_commit_seconds_count",
)


def _metrics(url: str) -> dict[str, float]:
    try:
        with urllib.request.urlopen(f"{url}/metrics", timeout=5) as answer:
            text = answer.read().decode()
    except OSError:
        return {}
    found = {}
    for line in text.splitlines():
        name, _, value = line.partition(" ")
        if name in _WANTED:
            found[name] = float(value)
    return found


def diagnosis(before: Probe, after: Probe, deliveries: int) -> dict[str, float]:
    """Server CPU share and time per delivery; mean request latency and, by Little's law, the
    mean number of requests in flight; group commits and their mean duration."""

    def delta(name: str) -> float:
        return after.metrics.get(name, 0.0) - before.metrics.get(name, 0.0)

    wall = max(after.at - before.at, 1e-9)
    cpu = after.cpu_s - before.cpu_s
    sent = delta("syncline_webhook_delivery_seconds_count")
    latency = delta("syncline_webhook_delivery_seconds_sum") / sent if sent else 0.0
    commits = delta("syncline_group_commit_seconds_count")
    return {
        "cpu_share": cpu / wall,
        "cpu_us": 1e6 * cpu / max(deliveries, 1),
        "latency_ms": 1000 * latency,
        "in_flight": latency * sent / wall,
        "commits": commits,
        "commit_ms": 1000 * delta("syncline_group_commit_seconds_sum") / commits if commits else 0,
        "writer_busy": delta("syncline_group_commit_seconds_sum") / wall,
    }


def start_py_spy(pid: int, name: str, args: argparse.Namespace) -> subprocess.Popen[bytes] | None:
    """py-spy on the server over the measured part only (wall time: --idle, every thread)."""
    if args.py_spy is None:
        return None
    spy = Path(sys.executable).parent / "py-spy"
    if not spy.exists():
        print(f"  (no {spy}: not profiling)")
        return None
    args.py_spy.mkdir(parents=True, exist_ok=True)
    command = [str(spy), "record", "-p", str(pid), "-f", "raw", "-o"]
    command += [str(args.py_spy / f"{name}.txt"), "-d", str(int(args.timeout)), "--threads"]
    command += ["--gil"] if args.py_spy_gil else ["--idle"]
    process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # py-spy attaches
    return process


def stop_py_spy(spy: subprocess.Popen[bytes] | None) -> None:
    if spy is None:
        return
    if spy.poll() is None:
        spy.send_signal(signal.SIGINT)  # py-spy writes what it has and exits
    try:
        spy.wait(timeout=30)
    except subprocess.TimeoutExpired:
        spy.kill()
        spy.wait(timeout=10)


async def resume(server: Server, webhook_id: str) -> None:
    headers = {"Authorization": f"Bearer {server.api_token}"}
    url = f"{server.url}/apispaces/{server.space}/webhooks/{webhook_id}/resume"
    async with (
        aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=30)) as session,
        session.post(url, headers=headers) as answer,
    ):
        if answer.status != 200:
            raise BenchError(f"resuming the webhook: {answer.status} {await answer.text()}")


@dataclass(frozen=True)
class Phase:
    name: str
    spec: dict[str, Any]
    backlog: bool = False  # queue everything while paused, then measure the drain alone


PHASES = [
    Phase("single-none", {"ordering": "none"}),
    Phase("single-profile", {"ordering": "profile"}),
    Phase("batched", {"ordering": "profile", "batch": {"maxEvents": 500, "timeoutSeconds": 1}}),
    Phase("drain-single", {"ordering": "none"}, backlog=True),
    Phase("drain-profile", {"ordering": "profile"}, backlog=True),
    Phase(
        "drain-batched",
        {"ordering": "profile", "batch": {"maxEvents": 500, "timeoutSeconds": 1}},
        backlog=True,
    ),
]


def phase(
    receiver: Receiver,
    p: Phase,
    bodies: list[bytes],
    expected: int,
    args: argparse.Namespace,
    backend: str,
) -> dict[str, Any]:
    env = {
        "SYNCLINE_WEBHOOKS_ALLOW_PRIVATE": "true",
        "SYNCLINE_SQLITE_SYNCHRONOUS": args.synchronous,
    }
    hook = f"{backend}-{p.name}"
    with running_server(env, backend) as server:
        spec = {"url": receiver.hook(hook), **p.spec}
        if p.backlog:
            spec["enabled"] = False
        webhook_id = _run(subscribe(server, spec))
        time.sleep(1.2)  # the worker picks new webhooks up within 0.5 s
        spy = None
        try:
            if not p.backlog:
                spy = start_py_spy(server.process.pid, p.name, args)
            before = Probe.take(server)
            started = posted = _run(produce(server, bodies, args.timeout))
            collected = time.time()
            if p.backlog:
                spy = start_py_spy(server.process.pid, p.name, args)
                before = Probe.take(server)
                started = time.time()
                _run(resume(server, webhook_id))
            wait_for(receiver, hook, expected, args.timeout, args.stall)
            after = Probe.take(server)
            time.sleep(0.5)  # anything sent twice would be right behind
            got = receiver.stats(hook)
        finally:
            stop_py_spy(spy)
    window = max(got["last"] - got["first"], 1e-9)
    after_first = got["envelopes"] - got["first_size"]  # those arrived *within* the window
    return {
        "name": p.name,
        "requests": got["requests"],
        "envelopes": got["envelopes"],
        "distinct": got["distinct"],
        "duplicates": got["duplicates"],
        "missing": max(0, expected - got["distinct"]),
        "out_of_order": got["out_of_order"],
        "bad": got["bad"],
        "connections": got["connections"],
        "max_batch": got["max_batch"],
        "bytes": got["bytes"] / max(got["requests"], 1),
        "requests_per_s": (got["requests"] - 1) / window,
        "events_per_s": after_first / window,
        "window_s": window,
        "collect_s": collected - posted,
        "end_to_end_s": got["last"] - started,
        "first_after_s": got["first"] - started,
        **diagnosis(before, after, expected),
    }


# the report ------------------------------------------------------------------------------------
def report(
    bare: dict[str, float], runs: dict[str, dict[str, Any]], args: argparse.Namespace, backend: str
) -> bool:
    bare_rate = bare["per_s"]
    rows: list[tuple[str, str, str, bool | None]] = [
        ("bare aiohttp loop, conc 64 (median)", f"{bare_rate:,.0f} req/s", "", None)
    ]
    labels = {
        "single-none": "single-event, ordering none",
        "single-profile": "single-event, ordering profile",
        "batched": "batched 500/1 s, ordering profile",
        "drain-single": "  backlog drain: single, none",
        "drain-profile": "  backlog drain: single, profile",
        "drain-batched": "  backlog drain: batched, profile",
    }
    for name, r in runs.items():
        if name.endswith("batched"):
            rate, unit, floor = r["events_per_s"], "events/s", 50_000
        else:
            rate, unit, floor = r["requests_per_s"], "deliv/s", 5_000
        rows.append((labels[name], f"{rate:,.0f} {unit}", f">= {floor:,}", rate >= floor))
    for name in ("single-none", "drain-single"):
        if name in runs:
            ratio = runs[name]["requests_per_s"] / bare_rate
            which = "live" if name == "single-none" else "drain"
            rows.append((f"ratio single ({which}) / bare", f"{ratio:.0%}", ">= 50%", ratio >= 0.5))
    load = os.getloadavg()
    print()
    print(
        f"webhook benchmark: {args.events:,} revisions per phase, "
        f"{'SQLite synchronous=' + args.synchronous if backend == 'sqlite' else 'PostgreSQL'}, "
        f"one server process, receiver in its own process, "
        f"{os.cpu_count()} cores, load average at the end {load[0]:.2f} / {load[1]:.2f}"
    )
    print(f"{'run':36} {'figure':>18} {'target':>10}  ok")
    for label, figure, target, ok in rows:
        mark = "" if ok is None or not target else ("yes" if ok else "NO")
        print(f"{label:36} {figure:>18} {target:>10}  {mark}")
    print()
    print(
        f"{'phase':16} {'requests':>8} {'events':>8} {'dup':>4} {'miss':>5} {'order':>5} "
        f"{'B/req':>7} {'conns':>6} {'window s':>8} {'collect s':>9} {'1st at s':>8} "
        f"{'e2e s':>6}"
    )
    for r in runs.values():
        print(
            f"{r['name']:16} {r['requests']:>8,} {r['distinct']:>8,} {r['duplicates']:>4} "
            f"{r['missing']:>5} {r['out_of_order']:>5} {r['bytes']:>7,.0f} "
            f"{r['connections']:>6,} {r['window_s']:>8.2f} {r['collect_s']:>9.2f} "
            f"{r['first_after_s']:>8.2f} {r['end_to_end_s']:>6.2f}"
        )
    print(
        f"{'bare loop':16} {bare['requests']:>8,.0f} {'':>8} {'':>4} {'':>5} {'':>5} "
        f"{bare['bytes']:>7,.0f} {bare['connections']:>6,} {bare['seconds']:>8.2f}"
    )
    print(
        "window: first to last delivery at the receiver (rates exclude the first request's\n"
        "events, which arrived at its start); collect: posting the events; 1st at / e2e: first /\n"
        "last delivery after the first collect request (drain: after the resume request);\n"
        "order: revisions of a profile received out of order; conns: TCP connections opened.\n"
        "Drain phases queue every event on a paused webhook, then resume it: delivery alone,\n"
        "without ingest at the same time."
    )
    print()
    print(
        f"{'server, measured part':22} {'CPU':>5} {'CPU us/rev':>10} {'latency ms':>10} "
        f"{'in flight':>9} {'commits':>7} {'commit ms':>9} {'writer busy':>11}"
    )
    for r in runs.values():
        print(
            f"{r['name']:22} {r['cpu_share']:>5.0%} {r['cpu_us']:>10,.0f} {r['latency_ms']:>10.1f} "
            f"{r['in_flight']:>9.1f} {r['commits']:>7,.0f} {r['commit_ms']:>9.2f} "
            f"{r['writer_busy']:>11.0%}"
        )
    print(
        "CPU: the server process's CPU time over the measured part (live: from the first collect\n"
        "request, so ingest included) as a share of one core, and per revision; latency: mean\n"
        "request time as the server measures it; in flight: mean requests in flight (Little's\n"
        f"law; the limit is {CONCURRENCY}); commits: group commits of the writer, their mean time\n"
        "and the share of the time the writer spent in them."
    )
    failed = [label.strip() for label, _, target, ok in rows if target and ok is False]
    if failed:
        print("targets missed: " + "; ".join(failed))
    exact = all(
        r["duplicates"] == 0 and r["missing"] == 0 and r["out_of_order"] == 0 and r["bad"] == 0
        for r in runs.values()
    )
    print("every revision exactly once, in order: " + ("yes" if exact else "NO"))
    return exact


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=20_000, help="revisions per phase")
    parser.add_argument("--bare-requests", type=int, default=20_000)
    parser.add_argument("--bare-rounds", type=int, default=3, help="the median is reported")
    parser.add_argument("--synchronous", default="FULL", choices=["FULL", "NORMAL"])
    parser.add_argument("--timeout", type=float, default=120, help="seconds per phase, at most")
    parser.add_argument("--stall", type=float, default=20, help="seconds without progress")
    parser.add_argument(
        "--py-spy", type=Path, default=None, help="record the server with py-spy into DIR"
    )
    parser.add_argument(
        "--py-spy-gil", action="store_true", help="with --py-spy: only samples holding the GIL"
    )
    parser.add_argument(
        "--only", choices=[p.name for p in PHASES], action="append", help="this phase only"
    )
    parser.add_argument(
        "--backends",
        default="sqlite,postgres",
        help="comma-separated; postgres runs when SYNCLINE_BENCH_POSTGRES is reachable",
    )
    args = parser.parse_args()
    backends = [b for b in args.backends.split(",") if b]
    if "postgres" in backends and not postgres_available():
        print("PostgreSQL is not reachable (SYNCLINE_BENCH_POSTGRES): SQLite only")
        backends.remove("postgres")
    load = os.getloadavg()[0]
    if load > 0.5:
        print(f"note: the 1-minute load average is {load:.2f} before starting: figures may be low")
    gc.set_threshold(50_000, 50, 100)
    bodies = user_events(args.events, int(time.time() * 1000))
    receiver = start_receiver()
    try:
        print(
            f"bare aiohttp loop: {args.bare_rounds} x {args.bare_requests:,} requests "
            f"at concurrency {CONCURRENCY}"
        )
        bare = run_bare(receiver, args.bare_requests, args.bare_rounds, args.timeout)
        rates = ", ".join(f"{r:,.0f}" for r in bare["rates"])
        print(f"  {bare['per_s']:,.0f} req/s (median of {rates})")
        results: dict[str, dict[str, dict[str, Any]]] = {}
        for backend in backends:
            runs = results[backend] = {}
            for p in PHASES:
                if args.only and p.name not in args.only:
                    continue
                how = "queued while paused, then resumed" if p.backlog else "live"
                print(
                    f"{backend} {p.name}: {args.events:,} user_created events ({how}) "
                    f"-> webhook {p.spec}"
                )
                r = runs[p.name] = phase(receiver, p, bodies, args.events, args, backend)
                print(
                    f"  {r['requests_per_s']:,.0f} requests/s, {r['events_per_s']:,.0f} events/s,"
                    f" end to end {r['end_to_end_s']:.2f} s"
                )
    finally:
        stop(receiver.process)
    exact = [report(bare, runs, args, backend) for backend, runs in results.items() if runs]
    if not all(exact):
        sys.exit(1)  # a correctness failure; missed targets are only reported


if __name__ == "__main__":
    try:
        main()
    except BenchError as exc:
        sys.exit(f"webhooks benchmark: {exc}")
