"""A fast webhook receiver for the benchmarks, meant to run in its own process.

    python bench/receiver.py --port 8123

POST /hook/{name}  answers 200 at once; counts requests, envelopes (a body is one envelope or a
                   JSON array of them), distinct `eventId`s and duplicates, under `name`.
GET  /stats/{name} those counts, plus the wall-clock times (time.time()) of the first and last
                   request, so another process can compare them with its own clock.
GET  /readyz       200 once serving.

It prints "ready <port>" on stdout once listening. Run under uvloop when it is installed.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import sys
import time
from dataclasses import dataclass, field
from typing import Any

import msgspec
from aiohttp import web

_decode = msgspec.json.decode


@dataclass
class Tally:
    requests: int = 0
    envelopes: int = 0
    duplicates: int = 0
    bad: int = 0
    bytes: int = 0
    max_batch: int = 0
    first_size: int = 0  # envelopes in the first request: they arrived *at* `first`
    first: float | None = None
    last: float | None = None
    seen: set[str] = field(default_factory=set)
    peers: set[Any] = field(default_factory=set)  # client (host, port)s: connections opened
    names: dict[str, int] = field(default_factory=dict)
    # per profile, the last revision received: a lower one after a higher one is out of order
    revisions: dict[str, int] = field(default_factory=dict)
    out_of_order: int = 0

    def view(self) -> dict[str, Any]:
        return {
            "requests": self.requests,
            "envelopes": self.envelopes,
            "distinct": len(self.seen),
            "duplicates": self.duplicates,
            "bad": self.bad,
            "connections": len(self.peers),
            "bytes": self.bytes,
            "max_batch": self.max_batch,
            "first_size": self.first_size,
            "first": self.first,
            "last": self.last,
            "names": self.names,
            "out_of_order": self.out_of_order,
        }


tallies: dict[str, Tally] = {}


def tally(name: str) -> Tally:
    found = tallies.get(name)
    if found is None:
        found = tallies[name] = Tally()
    return found


async def hook(request: web.Request) -> web.Response:
    body = await request.read()
    now = time.time()
    t = tally(request.match_info["name"])
    t.requests += 1
    transport = request.transport
    if transport is not None:
        t.peers.add(transport.get_extra_info("peername"))
    t.bytes += len(body)
    first = t.first is None
    if first:
        t.first = now
    t.last = now
    try:
        data = _decode(body)
    except msgspec.DecodeError:
        t.bad += 1
        return web.Response(text="ok")
    envelopes = data if isinstance(data, list) else [data]
    if first:
        t.first_size = len(envelopes)
    t.envelopes += len(envelopes)
    t.max_batch = max(t.max_batch, len(envelopes))
    for e in envelopes:
        if not isinstance(e, dict) or "eventId" not in e:
            t.bad += 1
            continue
        event_id = e["eventId"]
        if event_id in t.seen:
            t.duplicates += 1
        else:
            t.seen.add(event_id)
        name = e.get("name", "?")
        t.names[name] = t.names.get(name, 0) + 1
        payload = e.get("payload")
        profile = payload.get("id") if isinstance(payload, dict) else None
        revision = e.get("revision")
        if isinstance(profile, str) and isinstance(revision, int):
            before = t.revisions.get(profile)
            if before is not None and revision < before:
                t.out_of_order += 1
            else:
                t.revisions[profile] = revision
    return web.Response(text="ok")


async def stats(request: web.Request) -> web.Response:
    return web.json_response(tally(request.match_info["name"]).view())


async def ready(request: web.Request) -> web.Response:
    return web.Response(text="ok")


def app() -> web.Application:
    made = web.Application(client_max_size=16 * 1024 * 1024)
    made.router.add_post("/hook/{name}", hook)
    made.router.add_get("/stats/{name}", stats)
    made.router.add_get("/readyz", ready)
    return made


async def serve(port: int) -> None:
    runner = web.AppRunner(app(), access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024, reuse_address=True)
    await site.start()
    print(f"ready {port}", flush=True)
    try:
        await asyncio.Event().wait()
    finally:
        await runner.cleanup()


def main() -> None:
    gc.set_threshold(50_000, 50, 100)  # decoding allocates many short-lived dicts
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--port", type=int, required=True)
    args = parser.parse_args()
    try:
        import uvloop
    except ImportError:  # pragma: no cover - the venv has it
        runner: Any = asyncio.run
    else:
        runner = uvloop.run
    try:
        runner(serve(args.port))
    except KeyboardInterrupt:
        sys.exit(0)


if __name__ == "__main__":
    main()
