"""Crash safety: SIGKILL the real server again and again while clients stream events into it.

    python bench/crash.py [--backend sqlite|postgres] [--kills 20] [--clients 3] [--users 2000]

One `syncline serve` process on one database (a SQLite file, or a fresh PostgreSQL database)
with one webhook (ordering
"profile") to a receiver on 127.0.0.1. Clients send the events of `users` profiles (a create,
then `updates` changes each, shuffled) in small batches, each resent until it gets a 200, while
another thread kills the server with SIGKILL at random moments and starts it again. Then:

1. every event is in the event log exactly once (a 200 was durable; a resend was a duplicate);
2. the state equals a clean replay: the same events sent once to a fresh server give the same
   profiles (documents and ETags);
3. every profile revision reached the receiver at least once, and in order per profile (a
   revision first arrives only after all lower ones arrived).

Exits non-zero if any check fails, and prints the figures for docs/reliability.md.
"""

from __future__ import annotations

import argparse
import base64
import json
import queue
import random
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from tests.support.receiver import Receiver, receiver

from bench.harness import free_port, fresh_database

WAIT = 60.0  # seconds: the bound of every wait
STARTED: list[Serve] = []  # killed on the way out, whatever happens


class Serve:
    """`syncline serve` on one database and port, killed and restarted at will."""

    def __init__(self, database_url: str, hook_env: dict[str, str]) -> None:
        self.database_url, self.port = database_url, free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.env = {
            "PATH": "/usr/bin:/bin",
            "SYNCLINE_DATABASE_URL": database_url,
            "SYNCLINE_PORT": str(self.port),
            "SYNCLINE_LOG_LEVEL": "warning",
            **hook_env,
        }
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()

    def run(self, *args: str) -> str:
        done = subprocess.run(
            [sys.executable, "-m", "syncline", *args],
            env=self.env,
            capture_output=True,
            check=True,
        )
        return done.stdout.decode()

    def start(self) -> None:
        STARTED.append(self)
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "syncline", "serve"],
            env=self.env,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                if httpx.get(f"{self.url}/readyz", timeout=1).status_code == 200:
                    return
            except httpx.HTTPError:
                time.sleep(0.05)
        raise SystemExit("the server did not become ready")

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait(WAIT)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            self.proc.wait(WAIT)


def make_events(users: int, updates: int, seed: int) -> list[dict[str, Any]]:
    now = int(time.time() * 1000)
    out = []
    for u in range(users):
        uid = f"crash-{u}"
        out.append(
            {
                "type": "user_created",
                "event_id": f"{uid}-c",
                "timestamp": now - 60_000,
                "payload": {"user_id": uid, "first_name": "v0", "email": f"{uid}@example.com"},
            }
        )
        for k in range(1, updates + 1):
            out.append(
                {
                    "type": "user_updated",
                    "event_id": f"{uid}-u{k}",
                    "timestamp": now - 60_000 + k,
                    "payload": {"user_id": uid, "first_name": f"v{k}"},
                }
            )
    random.Random(seed).shuffle(out)
    return out


def send_all(
    url_of: Any,
    auth: str,
    batches: queue.Queue[list[dict[str, Any]]],
    acked: list[str],
    pace: float,
) -> int:
    """Send batches from the queue, each until a 200; returns how many sends failed."""
    failures = 0
    with httpx.Client(timeout=10, headers={"Authorization": auth}) as client:
        while True:
            try:
                batch = batches.get_nowait()
            except queue.Empty:
                return failures
            deadline = time.monotonic() + WAIT
            while True:
                try:
                    answer = client.post(f"{url_of()}/v2/collect", json={"events": batch})
                    if answer.status_code == 200:
                        body = answer.json()
                        assert body["invalid_events"] == [], body
                        acked.extend(e["event_id"] for e in batch)
                        break
                except httpx.HTTPError:
                    pass
                failures += 1
                if time.monotonic() > deadline:
                    raise SystemExit("a batch found no server for too long")
                time.sleep(0.05)
            time.sleep(pace)


def queued(events: list[dict[str, Any]], size: int) -> queue.Queue[list[dict[str, Any]]]:
    out: queue.Queue[list[dict[str, Any]]] = queue.Queue()
    for i in range(0, len(events), size):
        out.put(events[i : i + size])
    return out


def profiles(url: str, token: str, ids: list[str]) -> dict[str, tuple[dict[str, Any], str, int]]:
    out = {}
    with httpx.Client(base_url=url, headers={"Authorization": f"Bearer {token}"}) as api:
        for pid in ids:
            got = api.get(f"/apispaces/{{space}}/profiles/{pid}".replace("{space}", SPACE[0]))
            doc = {k: v for k, v in got.json().items() if not k.startswith("_")}
            out[pid] = (doc, got.headers["etag"], int(got.headers["x-revision"]))
    return out


SPACE: list[str] = [""]


def first_arrivals(hook: Receiver) -> dict[str, list[int]]:
    """Per profile, its revisions in the order they first arrived."""
    seen: set[tuple[str, int]] = set()
    out: dict[str, list[int]] = {}
    for envelope in hook.envelopes():
        key = (envelope["payload"]["id"], envelope["revision"])
        if key not in seen:
            seen.add(key)
            out.setdefault(key[0], []).append(key[1])
    return out


def event_ids(database_url: str) -> Counter[str]:
    """How many times each event id is in the event log."""
    if database_url.startswith("sqlite:///"):
        conn = sqlite3.connect(f"file:{database_url.removeprefix('sqlite:///')}?mode=ro", uri=True)
        try:
            return Counter(r[0] for r in conn.execute("SELECT event_id FROM events"))
        finally:
            conn.close()
    import psycopg

    with psycopg.connect(database_url) as pg:
        return Counter(r[0] for r in pg.execute("SELECT event_id FROM events"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--backend", default="sqlite", choices=["sqlite", "postgres"])
    parser.add_argument("--kills", type=int, default=20)
    parser.add_argument("--clients", type=int, default=3)
    parser.add_argument("--users", type=int, default=2000)
    parser.add_argument("--updates", type=int, default=4)
    parser.add_argument("--batch", type=int, default=10)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--pace", type=float, default=0.05, help="seconds between batches")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    events = make_events(args.users, args.updates, args.seed)
    hook_env = {"SYNCLINE_WEBHOOKS_ALLOW_PRIVATE": "true", "SYNCLINE_WEBHOOK_RETRY_SCALE": "0.01"}
    started = time.monotonic()
    with (
        tempfile.TemporaryDirectory(prefix="syncline-crash-") as tmp,
        receiver() as hook,
        fresh_database(args.backend, tmp) as crash_db,
    ):
        serve = Serve(crash_db, hook_env)
        made = json.loads(serve.run("spaces", "create", "--json"))
        SPACE[0] = made["apiSpaceId"]
        token = made["apiToken"]
        auth = (
            "Basic "
            + base64.b64encode(f"{made['clientId']}:{made['clientSecret']}".encode()).decode()
        )
        serve.start()
        with httpx.Client(headers={"Authorization": f"Bearer {token}"}) as api:
            hooked = api.post(f"{serve.url}/apispaces/{SPACE[0]}/webhooks", json={"url": hook.url})
            assert hooked.status_code == 201, hooked.text
            hook_id = hooked.json()["id"]

        work = queued(events, args.batch)
        acked: list[str] = []
        failures: list[int] = []

        def client() -> None:
            failures.append(send_all(lambda: serve.url, auth, work, acked, args.pace))

        clients = [threading.Thread(target=client) for _ in range(args.clients)]
        for c in clients:
            c.start()
        kills = 0
        while kills < args.kills and not work.empty():
            time.sleep(rng.uniform(0.2, 1.2))
            serve.kill()
            kills += 1
            serve.start()
        for c in clients:
            c.join(WAIT * 10)
        sending_done = time.monotonic()

        # 1. the event log holds every event exactly once
        rows = event_ids(crash_db)
        sent = {e["event_id"] for e in events}
        problems = []
        if set(acked) != sent:
            problems.append(f"{len(sent - set(acked))} events never acknowledged")
        missing = [e for e in acked if rows[e] == 0]
        twice = [e for e, n in rows.items() if n > 1]
        if missing or twice:
            problems.append(f"event log: {len(missing)} acknowledged missing, {len(twice)} twice")

        # 3. (first wait) every revision delivered, in order per profile
        ids = sorted({e["payload"]["user_id"] for e in events})
        crashed = profiles(serve.url, token, ids)
        expected = sum(rev + 1 for _, _, rev in crashed.values())
        deadline = time.monotonic() + WAIT * 2
        while time.monotonic() < deadline:
            arrivals = first_arrivals(hook)
            if sum(len(v) for v in arrivals.values()) >= expected:
                break
            time.sleep(0.2)
        arrivals = first_arrivals(hook)
        for pid, (_, _, rev) in crashed.items():
            got = arrivals.get(pid, [])
            if got != list(range(rev + 1)):
                problems.append(f"webhooks: {pid} revisions arrived as {got}, want 0..{rev}")
        envelopes = len(hook.envelopes())
        serve.stop()

        # 2. a clean replay of the same events gives the same profiles
        clean = Serve(f"sqlite:///{tmp}/clean.db", {})  # the reference: one clean run
        made2 = json.loads(clean.run("spaces", "create", "--json"))
        SPACE[0] = made2["apiSpaceId"]
        clean.start()
        auth2 = (
            "Basic "
            + base64.b64encode(f"{made2['clientId']}:{made2['clientSecret']}".encode()).decode()
        )
        send_all(lambda: clean.url, auth2, queued(events, 500), [], 0)
        replayed = profiles(clean.url, made2["apiToken"], ids)
        clean.stop()
        differ = [p for p in ids if replayed[p][:2] != crashed[p][:2]]
        if differ:
            problems.append(
                f"state: {len(differ)} profiles differ from a clean replay, e.g. {differ[0]}"
            )

    print(
        f"crash safety ({'SQLite, synchronous=FULL' if args.backend == 'sqlite' else 'PostgreSQL'})"
    )
    print(f"  kills (SIGKILL) survived        {kills}")
    print(f"  events sent and acknowledged    {len(acked):,} ({len(set(acked)):,} distinct)")
    print(f"  sends that failed and were retried {sum(failures):,}")
    print(f"  event log rows checked          {sum(rows.values()):,}")
    print(f"  profiles compared with a replay {len(ids):,}")
    delivered = sum(len(v) for v in arrivals.values())
    print(f"  revisions expected / delivered  {expected:,} / {delivered:,}")
    print(f"  envelopes received (redeliveries included) {envelopes:,}")
    print(
        f"  webhook {hook_id}, time {sending_done - started:.1f} s sending, "
        f"{time.monotonic() - started:.1f} s in all"
    )
    if kills < args.kills:
        problems.append(f"only {kills} kills: the events ran out first (raise --users)")
    if problems:
        print("FAILED:\n  " + "\n  ".join(problems))
        raise SystemExit(1)
    print(
        "OK: every acknowledged event once, state equal to a clean replay, every revision "
        "delivered in order"
    )


if __name__ == "__main__":
    try:
        main()
    finally:
        for server in STARTED:
            server.kill()
