"""`syncline worker`: webhook delivery without the HTTP API, beside other workers.

Run `syncline serve` with `SYNCLINE_DELIVERY_WORKER=false` and as many workers as wanted on the
same database: each claims due deliveries in the database's write transaction, so a revision is
claimed by one worker at a time and per-profile order holds across them. A worker that dies
leaves its claims leased until `SYNCLINE_WEBHOOK_LEASE_SECONDS` pass; then any worker takes
them. SIGTERM (or Ctrl-C) stops claiming, lets requests in flight finish and settles them.
"""

from __future__ import annotations

import asyncio
import signal
from typing import Annotated

import typer
from rich.console import Console

from syncline import logconfig
from syncline.delivery.worker import DeliveryWorker
from syncline.settings import Settings
from syncline.storage.writer import GroupCommitWriter

err = Console(stderr=True, soft_wrap=True)


def worker_command(
    database_url: Annotated[
        str | None,
        typer.Option(
            "--database-url", help="Database URL [env: SYNCLINE_DATABASE_URL]", show_default=False
        ),
    ] = None,
) -> None:
    """Deliver webhooks (no HTTP API), beside `serve` and other workers."""
    from syncline.cli import _settings

    settings = _settings(database_url=database_url)
    logconfig.configure(settings.log_level, settings.log_format)
    err.print(f"syncline worker delivering webhooks  database {settings.database_url}")
    asyncio.run(_deliver(settings))


async def _deliver(settings: Settings) -> None:
    from syncline.cli import _storage

    storage = _storage(settings)
    writer = GroupCommitWriter(storage)
    writer.start()
    worker = DeliveryWorker(storage, writer, settings, sole=False)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    await worker.start()
    try:
        await stop.wait()
    finally:
        await worker.stop()
        writer.stop()
        storage.close()
        err.print("syncline worker stopped")
