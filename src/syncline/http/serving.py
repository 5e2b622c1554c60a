"""Running the app under uvicorn, with the guarded protocol and a two-step shutdown.

The first SIGTERM or SIGINT stops accepting connections, lets in-flight requests finish (up to
`SHUTDOWN_GRACE` seconds), then stops the delivery worker (in-flight deliveries finish or are
released) and the writer (queued commits are done); a second signal of either kind forces the
exit. Nothing acknowledged is lost either way: a 200 was sent only after its commit.
"""

from __future__ import annotations

import signal
from types import FrameType

import uvicorn
from starlette.types import ASGIApp

from syncline.http.protocol import guarded_protocol
from syncline.settings import Settings

SHUTDOWN_GRACE = 30


class DrainingServer(uvicorn.Server):
    def handle_exit(self, sig: int, frame: FrameType | None) -> None:
        if self.should_exit and sig in (signal.SIGINT, signal.SIGTERM):
            self.force_exit = True
        super().handle_exit(sig, frame)


def config(app: ASGIApp, settings: Settings) -> uvicorn.Config:
    return uvicorn.Config(
        app,
        host=settings.host,
        port=settings.port,
        http=guarded_protocol(settings.max_header_bytes, settings.header_timeout_seconds),
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=SHUTDOWN_GRACE,
    )


def run(app: ASGIApp, settings: Settings) -> None:
    DrainingServer(config(app, settings)).run()
