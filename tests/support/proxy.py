"""A real HTTP proxy on 127.0.0.1 in front of a real server, which fails on cue.

Requests go through to `upstream` unless the script says otherwise for that request number:
answer a status itself (429, 503 with a Retry-After...) or drop the connection. So clients'
retries are tested against the real server's answers, not a stand-in.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from aiohttp import ClientSession, web

from tests.support.server import free_port

DROP = "drop"


@dataclass(frozen=True)
class Fail:
    status: int
    headers: dict[str, str] = field(default_factory=dict)


Script = Callable[[int], Fail | str | None]  # request number (1-based) -> what to do


class Proxy:
    def __init__(self, upstream: str, script: Script) -> None:
        self.upstream = upstream.rstrip("/")
        self.script = script
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.requests = 0
        self.forwarded = 0
        self._session: ClientSession | None = None

    async def handle(self, request: web.Request) -> web.StreamResponse:
        self.requests += 1
        body = await request.read()
        action = self.script(self.requests)
        if action == DROP:
            assert request.transport is not None
            request.transport.abort()
            return web.Response(status=500)
        if isinstance(action, Fail):
            return web.Response(status=action.status, headers=action.headers, text="{}")
        if self._session is None:
            self._session = ClientSession()
        headers = {k: v for k, v in request.headers.items() if k.lower() != "host"}
        async with self._session.post(
            self.upstream + request.path_qs, data=body, headers=headers
        ) as answer:
            self.forwarded += 1
            return web.Response(
                status=answer.status,
                body=await answer.read(),
                content_type=answer.content_type,
            )


@contextmanager
def proxy(upstream: str, script: Script) -> Iterator[Proxy]:
    made = Proxy(upstream, script)
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_route("POST", "/{tail:.*}", made.handle)
    runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
    started = threading.Event()

    def serve() -> None:
        asyncio.set_event_loop(loop)
        loop.run_until_complete(runner.setup())
        loop.run_until_complete(web.TCPSite(runner, "127.0.0.1", made.port).start())
        started.set()
        loop.run_forever()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    assert started.wait(10), "the proxy did not start"
    try:
        yield made
    finally:

        async def stop() -> None:
            if made._session is not None:
                await made._session.close()
            await runner.cleanup()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)
