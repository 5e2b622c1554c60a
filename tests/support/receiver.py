"""A real HTTP webhook receiver on 127.0.0.1 (aiohttp, in its own thread) for tests.

It records every request (headers and raw body) and answers as the test scripts it: a status,
a delay, a Retry-After, per request number or by a function of the request.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiohttp import web

from tests.support.server import free_port


@dataclass(frozen=True)
class Received:
    at: float
    headers: dict[str, str]
    body: bytes

    @property
    def json(self) -> Any:
        return json.loads(self.body)

    @property
    def envelopes(self) -> list[dict[str, Any]]:
        data = self.json
        return data if isinstance(data, list) else [data]


@dataclass(frozen=True)
class Answer:
    status: int = 200
    delay: float = 0.0
    headers: dict[str, str] = field(default_factory=dict)
    body: str = "ok"
    reset: bool = False  # drop the connection instead of answering
    slow_body: float = 0.0  # send the status at once, then the body over this many seconds


Script = Callable[[Received, int], Answer]


async def _slowly(request: web.Request, answer: Answer) -> web.StreamResponse:
    response = web.StreamResponse(status=answer.status, headers=answer.headers)
    response.content_length = len(answer.body) * 10
    await response.prepare(request)
    for _ in range(10):
        await asyncio.sleep(answer.slow_body / 10)
        await response.write(answer.body.encode())
    await response.write_eof()
    return response


class Receiver:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}/hook"
        self.received: list[Received] = []
        self.script: Script = lambda request, n: Answer()
        self._lock = threading.Lock()

    def answer(self, script: Script) -> None:
        self.script = script

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        got = Received(time.monotonic(), dict(request.headers), await request.read())
        with self._lock:
            self.received.append(got)
            number = len(self.received)
        answer = self.script(got, number)
        if answer.delay:
            await asyncio.sleep(answer.delay)
        if answer.reset:
            assert request.transport is not None
            request.transport.abort()
            raise ConnectionResetError("the receiver dropped the connection")
        if answer.slow_body:
            return await _slowly(request, answer)
        return web.Response(status=answer.status, text=answer.body, headers=answer.headers)

    def envelopes(self, status_ok_only: bool = False) -> list[dict[str, Any]]:
        with self._lock:
            return [e for r in self.received for e in r.envelopes]

    def wait_for(self, predicate: Callable[[Receiver], bool], timeout: float = 15) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if predicate(self):
                return
            time.sleep(0.02)
        raise AssertionError(
            f"receiver: condition not met in {timeout} s; got {len(self.received)}"
        )


@contextmanager
def receiver() -> Iterator[Receiver]:
    made = Receiver()
    loop = asyncio.new_event_loop()
    app = web.Application()
    app.router.add_post("/hook", made._handle)
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
    assert started.wait(10), "the receiver did not start"
    try:
        yield made
    finally:
        asyncio.run_coroutine_threadsafe(_shutdown(runner), loop).result(30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(10)


async def _shutdown(runner: web.AppRunner) -> None:
    """Stop serving and cancel handlers still held (a scripted delay), so none is left behind."""
    await runner.cleanup()
    current = asyncio.current_task()
    rest = [t for t in asyncio.all_tasks() if t is not current]
    for task in rest:
        task.cancel()
    await asyncio.gather(*rest, return_exceptions=True)
