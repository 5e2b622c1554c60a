"""Several processes on one database, with no coordinator beyond it (DESIGN section 6).

Two `syncline serve` processes take overlapping batches of the same events (users, links,
firmware updates of things several users share) at once: each event is applied exactly once,
profile revisions never skip or repeat, and the state (devices included) equals a clean replay
of the same events in one process. Runs on SQLite (file locking) and PostgreSQL (locks per
user and thing, docs/scaling.md).
"""

from __future__ import annotations

import random
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.clock import now_ms
from syncline.services import ingest, spaces
from tests.support.databases import Databases, open_storage
from tests.support.process import ServerProcess, create_space

pytestmark = [pytest.mark.timeout(180)]

USERS, UPDATES, CLIENTS_PER_SERVER, BATCH = 40, 6, 3, 25


def the_events(start: int) -> list[dict[str, Any]]:
    events: list[dict[str, Any]] = []
    for u in range(USERS):
        events.append(
            {
                "type": "user_created",
                "event_id": f"c-{u}",
                "timestamp": start,
                "payload": {"user_id": f"u{u}", "email": f"u{u}@example.com"},
            }
        )
        for n in range(UPDATES):
            events.append(
                {
                    "type": "user_updated",
                    "event_id": f"up-{u}-{n}",
                    "timestamp": start + 1 + n,
                    "payload": {"user_id": f"u{u}", "first_name": f"n{n}"},
                }
            )
        events.append(
            {
                "type": "user_thing_associated",
                "event_id": f"a-{u}",
                "timestamp": start + 10,
                "payload": {"user_id": f"u{u}", "thing_id": f"t{u % 7}"},
            }
        )
    for t in range(7):  # new firmware on things shared by several users: their devices change
        for n in range(3):
            events.append(
                {
                    "type": "thing_updated",
                    "event_id": f"fw-{t}-{n}",
                    "timestamp": start + 20 + n,
                    "payload": {"thing_id": f"t{t}", "model": "K", "firmware_version": f"{n}"},
                }
            )
    return events


def send_all(url: str, auth: tuple[str, str], batches: list[list[dict[str, Any]]]) -> Counter[str]:
    totals: Counter[str] = Counter()
    with httpx.Client(base_url=url, auth=auth, timeout=60) as client:
        for batch in batches:
            answer = client.post("/v2/collect", json={"events": batch})
            assert answer.status_code == 200, answer.text
            body = answer.json()
            assert body["invalid_events"] == [], body
            totals["accepted"] += body["accepted"]
            totals["duplicates"] += body["duplicates"]
    return totals


def replay(events: list[dict[str, Any]], directory: Path, now: int) -> dict[str, Any]:
    """The same events through one unit of work of a fresh SQLite file: the reference."""
    storage = open_storage(f"sqlite:///{directory / 'reference.db'}")
    storage.migrate()
    try:
        with storage.unit_of_work() as uow:
            space = spaces.create_space(uow, 1, "ref", now).api_space_id
        body = httpx.Request("POST", "/", json={"events": events}).read()
        decoded = ingest.decode_request(body, now, ingest.Limits(max_events=100_000))
        with storage.unit_of_work() as uow:
            ingest.commit(uow, space, decoded, now)
        return documents(storage.reader(), space)
    finally:
        storage.close()


def documents(reader: Any, space: str) -> dict[str, Any]:
    out = {}
    for u in range(USERS):
        profile = reader.profile(space, f"u{u}")
        assert profile is not None
        links = [(a.thing_id, a.associated) for a in reader.associations_of_user(space, f"u{u}")]
        user = reader.user(space, f"u{u}")
        devices = user.profile.devices if user is not None else None
        out[f"u{u}"] = (profile.doc, profile.etag, links, devices)
    return out


def test_two_api_processes_apply_overlapping_batches_once(
    databases: Databases, tmp_path: Path
) -> None:
    with databases.fresh("scale") as url:
        first = ServerProcess(tmp_path / "one.db", url_of_database=url)
        tenant = create_space(url, cwd=tmp_path)
        # One delivery worker is enough here (and on SQLite `serve` expects to be the only one).
        second = ServerProcess(
            tmp_path / "two.db",
            url_of_database=url,
            extra_env={"SYNCLINE_DELIVERY_WORKER": "false"},
        )
        first.start()
        second.start()
        try:
            now = now_ms()
            events = the_events(now - 3_600_000)
            plans: list[tuple[str, list[list[dict[str, Any]]]]] = []
            for n, server in enumerate([first, second] * CLIENTS_PER_SERVER):
                shuffled = random.Random(n).sample(events, len(events))  # every client sends all
                batches = [shuffled[i : i + BATCH] for i in range(0, len(shuffled), BATCH)]
                plans.append((server.url, batches))
            results: list[Counter[str]] = []
            errors: list[BaseException] = []

            def client(url: str, batches: list[list[dict[str, Any]]]) -> None:
                try:
                    results.append(send_all(url, (tenant.client_id, tenant.client_secret), batches))
                except BaseException as exc:  # reported below
                    errors.append(exc)

            threads = [threading.Thread(target=client, args=plan) for plan in plans]
            for t in threads:
                t.start()
            for t in threads:
                t.join(150)
            assert errors == []
            sent = len(events) * len(plans)
            assert sum(r["accepted"] for r in results) == len(events)  # each applied once
            assert sum(r["duplicates"] for r in results) == sent - len(events)

            storage = open_storage(url)
            try:
                reader = storage.reader()
                log = reader.events(
                    tenant.space, user_id=None, thing_id=None, type=None, cursor=None, limit=5000
                )
                assert sorted(e["event_id"] for e in log.items) == sorted(
                    e["event_id"] for e in events
                )
                for u in range(USERS):
                    history = reader.history(tenant.space, f"u{u}", None, 1000)
                    # revisions 0, 1, 2, ... without a gap or a repeat
                    assert [h.revision for h in history] == list(range(len(history)))
                    profile = reader.profile(tenant.space, f"u{u}")
                    assert profile is not None
                    assert profile.revision == len(history) - 1
                assert documents(reader, tenant.space) == replay(events, tmp_path, now)
            finally:
                storage.close()
        finally:
            second.kill()
            first.kill()
