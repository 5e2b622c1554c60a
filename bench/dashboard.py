"""Dashboard page times over HTTP at scale: 1,000,000 profiles and 100,000 rejected events.

    python bench/dashboard.py [--profiles N] [--rejected N] [--runs R] [--keep PATH]

Fills a SQLite database quickly: a few hundred profiles, a webhook and its deliveries through
the real services (so states, histories and envelopes are genuine), then the bulk by direct
SQL (profiles with a first revision each, pending rejected events of mixed reasons and types,
a million delivered deliveries with pending and dead ones, attempts, the per-minute counters
of a busy hour). Then starts a real `syncline serve` on it, logs in to /ui with the space's API
token and times each page R times in a row (after two warm-ups), printing p50/p95/max in ms.
Bounded: it stops by itself; the database is deleted unless --keep names where to leave it.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from bench.harness import free_port, percentile
from syncline.clock import now_ms
from syncline.schemas.webhooks import WebhookSpec
from syncline.services import ingest, spaces, webhooks
from syncline.storage.sqlite import SQLiteStorage

PLANS = ["free", "pro", "max"]
CODES = [("field.invalid", "user_created"), ("sync.not_open", "preexisting_user_created")]
RARE = ("timestamp.too_old", "thing_connected")  # one rejected event in a thousand


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def seed_with_services(path: str, now: int) -> tuple[str, str, str]:
    """A space, its API token, a webhook, and real profiles: one with a long history."""
    storage = SQLiteStorage(path, "OFF")
    storage.migrate()
    with storage.unit_of_work() as uow:
        made = spaces.create_space(uow, 1, "bench", now)
        spec = WebhookSpec(url="http://127.0.0.1:9/hook", enabled=False)
        hook, _ = webhooks.create(uow, made.api_space_id, spec, True, now)
    events: list[dict[str, object]] = [
        {
            "type": "user_created",
            "event_id": f"seed-{i}",
            "timestamp": now - 1000 + i,
            "payload": {"user_id": f"seed-{i:03d}", "email": f"seed-{i}@example.com"},
        }
        for i in range(200)
    ]
    events += [
        {
            "type": "user_updated",
            "event_id": f"hist-{i}",
            "timestamp": now - 500 + i,
            "payload": {"user_id": "seed-000", "custom_properties": {"step": i}},
        }
        for i in range(60)
    ]
    events += [
        {
            "type": "user_thing_associated",
            "event_id": f"link-{i}",
            "timestamp": now - 100 + i,
            "payload": {"user_id": "seed-000", "thing_id": f"thing-{i}"},
        }
        for i in range(5)
    ]
    for start in range(0, len(events), 100):
        body = json.dumps({"events": events[start : start + 100]}).encode()
        decoded = ingest.decode_request(body, now, ingest.Limits())
        with storage.unit_of_work() as uow:
            ingest.commit(uow, made.api_space_id, decoded, now)
    storage.close()
    return made.api_space_id, made.api_token, hook.webhook_id


def rows_users(space: str, n: int, now: int) -> Iterator[tuple[object, ...]]:
    state = '{"f":{},"c":{},"d":null,"o":null}'
    for i in range(n):
        uid = f"user-{i:07d}"
        email = f"{uid}@example.com"
        doc = json.dumps(
            {
                "email": email,
                "firstName": "Ada",
                "id": uid,
                "plan": PLANS[i % 3],
                "seats": i % 10,
                "unsubscribed": False,
            },
            separators=(",", ":"),
            sort_keys=True,
        )
        yield (space, uid, state, email, 1, 0, 0, now, now, 0, f'"{i:x}-bench"', doc, now, now)


def fill(path: str, space: str, hook: str, profiles: int, rejected: int, now: int) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA synchronous=OFF")
    conn.execute("BEGIN")
    # rows are stored under the space's short key (migration 0008)
    (space,) = conn.execute(
        "SELECT space_key FROM api_spaces WHERE api_space_id = ?", (space,)
    ).fetchone()
    conn.executemany(
        "INSERT INTO users (space_key, user_id, state, email, created, deleted, "
        "unsubscribed, first_seen, updated_at, revision, etag, profile, created_on, "
        "updated_on) VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rows_users(space, profiles, now),
    )
    conn.executemany(
        "INSERT INTO profile_history (space_key, user_id, revision, at, name, changes, "
        "cause, etag) VALUES (?,?,0,?,'profile.create','{}','{}','\"0-bench\"')",
        ((space, f"user-{i:07d}", now) for i in range(profiles)),
    )
    log(f"  {profiles:,} profiles and their first revision")
    rng = random.Random(7)

    def rejected_rows() -> Iterator[tuple[object, ...]]:
        for i in range(rejected):
            code, kind = RARE if i % 1000 == 0 else CODES[i % 2]
            at = now - (rejected - i) * 20
            raw = json.dumps(
                {
                    "type": kind,
                    "event_id": f"rej-{i}",
                    "timestamp": at,
                    "payload": {"user_id": f"bad id {i}"},
                }
            )
            yield (
                space,
                f"{at:013d}{i:06d}{rng.randrange(16**6):06x}",
                f"rej-{i}",
                0,
                kind,
                raw.encode(),
                code,
                "payload.user_id",
                "must be ...",
                at,
                "pending",
                None,
                0,
            )

    conn.executemany(
        "INSERT INTO rejected_events (space_key, rejected_id, event_id, event_index, type, "
        "raw, code, field, message, received_at, status, replayed_at, replay_count) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?)",
        rejected_rows(),
    )
    log(f"  {rejected:,} pending rejected events")

    def deliveries() -> Iterator[tuple[object, ...]]:
        for i in range(profiles):
            status = "dead" if i % 500 == 1 else "pending" if i % 200 == 2 else "delivered"
            done = now - i if status != "pending" else None
            yield (space, hook, f"pe-{i:07d}", f"user-{i:07d}", 0, status, 1, now, done, now)

    conn.executemany(
        "INSERT INTO deliveries (space_key, webhook_id, event_id, user_id, revision, status, "
        "attempts, next_at, done_at, created_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
        deliveries(),
    )
    envelope = json.dumps({"name": "profile.create", "payload": {"id": "x"}})
    conn.executemany(
        "INSERT INTO profile_events (space_key, event_id, user_id, revision, name, envelope, "
        "preexisting, at) VALUES (?,?,?,0,'profile.create',?,0,?)",
        (
            (space, f"pe-{i:07d}", f"user-{i:07d}", envelope, now)
            for i in range(profiles)
            if i % 500 == 1 or i % 200 == 2
        ),
    )
    conn.executemany(
        "INSERT INTO delivery_attempts (space_key, webhook_id, attempt_id, message_id, "
        "event_ids, at, status, latency_ms, response, error, outcome) "
        "VALUES (?,?,?,?,?,?,?,?,?,?,?)",
        (
            (
                space,
                hook,
                f"{now - i:013d}-{i:08d}",
                f"m-{i}",
                f'["pe-{i:07d}"]',
                now - i,
                200 if i % 50 else 500,
                2.0 + i % 7,
                "ok",
                None,
                "delivered" if i % 50 else "retry",
            )
            for i in range(50_000)
        ),
    )
    log(f"  {profiles:,} deliveries (delivered, pending, dead) and 50,000 attempts")
    minute = now // 60_000
    conn.executemany(
        "INSERT INTO event_counts (space_key, minute, type, outcome, n) VALUES (?,?,?,?,?) "
        "ON CONFLICT (space_key, minute, type, outcome, shard) DO UPDATE SET n = excluded.n",
        (
            (space, minute - m, kind, outcome, rng.randrange(1000, 30000))
            for m in range(24 * 60)
            for kind, outcome in (
                ("user_created", "accepted"),
                ("thing_created", "accepted"),
                ("user_created", "rejected"),
            )
        ),
    )
    conn.executemany(
        "INSERT INTO event_totals (space_key, type, outcome, n) VALUES (?,?,?,?) "
        "ON CONFLICT (space_key, type, outcome, shard) "
        "DO UPDATE SET n = event_totals.n + excluded.n",
        [
            (space, "user_created", "accepted", profiles),
            (space, "user_created", "rejected", rejected // 2),
            (space, "preexisting_user_created", "rejected", rejected // 2),
        ],
    )
    conn.execute("COMMIT")
    conn.close()


def serve(path: str, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "SYNCLINE_DATABASE_URL": f"sqlite:///{path}",
        "SYNCLINE_PORT": str(port),
        "SYNCLINE_LOG_LEVEL": "warning",
        "SYNCLINE_DELIVERY_WORKER": "false",
    }
    return subprocess.Popen(
        [sys.executable, "-m", "syncline", "serve"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_ready(client: httpx.Client, process: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the server exited")
        try:
            if client.get("/readyz").status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.1)
    raise SystemExit("the server did not become ready")


def pages(client: httpx.Client, space: str, hook: str) -> list[tuple[str, str]]:
    base = f"/ui/spaces/{space}"
    first = client.get(f"{base}/rejected").text
    cursor = re.search(r'href="(\?[^"]*cursor=[^"]+)"', first)
    rejected_id = re.search(r'name="ids" value="([^"]+)"', first)
    profiles = client.get(f"{base}/profiles").text
    after = re.search(r'href="(\?[^"]*cursor=[^"]+)"', profiles)
    if cursor is None or rejected_id is None or after is None:
        raise SystemExit("the pages did not render as expected")
    later = cursor.group(1).replace("&amp;", "&")
    return [
        ("overview", base),
        ("overview, live fragment", f"{base}/live"),
        ("sync", f"{base}/sync"),
        ("rejected, first page", f"{base}/rejected"),
        ("rejected, next page", f"{base}/rejected{later}"),
        (f"rejected, reason {RARE[0]}", f"{base}/rejected?code={RARE[0]}"),
        (f"rejected, type {RARE[1]}", f"{base}/rejected?type={RARE[1]}"),
        ("rejected event", f"{base}/rejected/{rejected_id.group(1)}"),
        ("profiles, no query", f"{base}/profiles"),
        ("profiles, next page", f"{base}/profiles{after.group(1).replace('&amp;', '&')}"),
        ("profiles, email=", f"{base}/profiles?q=email%3Duser-0765432%40example.com"),
        ("profiles, id=^user-09", f"{base}/profiles?q=id%3D%5Euser-09"),
        ("profiles, plan=max&seats=>5", f"{base}/profiles?q=plan%3Dmax%26seats%3D%3E5"),
        ("profiles, plan=none (matches nothing)", f"{base}/profiles?q=plan%3Dnone"),
        ("profile, 61 revisions, 5 things", f"{base}/profiles/seed-000"),
        ("webhooks", f"{base}/webhooks"),
        ("webhook: attempts, dead letters", f"{base}/webhooks/{hook}"),
    ]


def time_pages(url: str, token: str, space: str, hook: str, runs: int) -> list[tuple[str, ...]]:
    rows: list[tuple[str, ...]] = []
    with httpx.Client(base_url=url, timeout=120) as client:
        assert client.post("/ui/login", data={"token": token}).status_code == 303
        for name, path in pages(client, space, hook):
            times = []
            for run in range(runs + 2):
                started = time.perf_counter()
                answer = client.get(path)
                elapsed = (time.perf_counter() - started) * 1000
                assert answer.status_code == 200, (path, answer.status_code, answer.text[:300])
                if run >= 2:
                    times.append(elapsed)
            times.sort()
            rows.append(
                (
                    name,
                    f"{percentile(times, 0.50):.1f}",
                    f"{percentile(times, 0.95):.1f}",
                    f"{times[-1]:.1f}",
                    f"{len(answer.content) / 1024:.0f}",
                )
            )
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--profiles", type=int, default=1_000_000)
    parser.add_argument("--rejected", type=int, default=100_000)
    parser.add_argument("--runs", type=int, default=20)
    parser.add_argument("--keep", help="leave the database at this path")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="syncline-dash-") as tmp:
        path = args.keep or f"{tmp}/dash.db"
        now = now_ms()
        started = time.perf_counter()
        space, token, hook = seed_with_services(path, now)
        fill(path, space, hook, args.profiles, args.rejected, now)
        size = Path(path).stat().st_size / 2**20
        log(f"filled in {time.perf_counter() - started:.0f} s ({size:,.0f} MiB)")
        port = free_port()
        process = serve(path, port)
        try:
            with httpx.Client(base_url=f"http://127.0.0.1:{port}") as probe:
                wait_ready(probe, process)
            rows = time_pages(f"http://127.0.0.1:{port}", token, space, hook, args.runs)
        finally:
            process.terminate()
            process.wait(30)
    print(
        f"\n{args.profiles:,} profiles, {args.rejected:,} rejected events, "
        f"{args.runs} sequential GETs per page (ms)\n"
    )
    print("| page | p50 | p95 | max | KiB |")
    print("|---|---:|---:|---:|---:|")
    for row in rows:
        print("| " + " | ".join(row) + " |")


if __name__ == "__main__":
    main()
