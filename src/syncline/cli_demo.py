"""`syncline demo`: an embedded server, a webhook receiver and a sample import, in one command."""

from __future__ import annotations

import contextlib
import tempfile
import time
from pathlib import Path
from typing import Annotated

import httpx
import typer
from rich.console import Console
from rich.table import Table

from syncline import demo, logconfig
from syncline.cli_import import RichProgress
from syncline.client import Collector
from syncline.client import events as ev
from syncline.importer.run import Importer, Options
from syncline.importer.sample import write_sample


def demo_command(
    users: Annotated[
        int, typer.Option(min=1, max=100_000, help="Sample size (rows per file)")
    ] = 25,
    duration: Annotated[
        float, typer.Option(help="Keep serving this many seconds afterwards (Ctrl-C stops)")
    ] = 0.0,
    port: Annotated[int, typer.Option(help="Port of the embedded server (0: any free)")] = 0,
) -> None:
    """Start an embedded server and a local webhook receiver, import a sample, send live
    events, and show the profiles and the signed webhook deliveries they produce."""
    logconfig.configure("warning", "console")
    out = Console(soft_wrap=True)
    with tempfile.TemporaryDirectory(prefix="syncline-demo-") as tmp:
        directory = Path(tmp)
        secret = demo.new_secret()
        with (
            demo.embedded_server(directory, port or demo.free_port()) as server,
            demo.webhook_receiver(secret) as hook,
            httpx.Client(
                base_url=server.url, headers={"Authorization": f"Bearer {server.api_token}"}
            ) as api,
        ):
            out.rule("[bold]syncline demo")
            out.print(f"server    {server.url}   (docs {server.url}/docs)")
            out.print(f"space     {server.space}")
            out.print(f"collect   client_id {server.client_id}  secret {server.client_secret}")
            made = api.post(
                f"/apispaces/{server.space}/webhooks", json={"url": hook.url, "secret": secret}
            )
            made.raise_for_status()
            out.print(f"webhook   {hook.url}  (every request verified with verify_webhook)\n")

            out.rule(f"1. preexisting sync: {users} users, {users} things, {users} links")
            files = write_sample(directory / "sample", users, users, users)
            options = Options(
                server.url,
                server.client_id,
                server.client_secret,
                files,
                checkpoint=directory / "checkpoint.json",
                rejected=directory / "rejected.jsonl",
            )
            progress = RichProgress(out)
            with progress.bars:
                state = Importer(options, progress).run()
            accepted = sum(p.accepted for p in state.files.values())
            out.print(f"imported {accepted:,} rows; sync completed\n")

            out.rule("2. live events (they win over the backfill)")
            with Collector(server.url, server.client_id, server.client_secret) as collector:
                result = collector.send(
                    [
                        ev.user_updated("user-0", first_name="Ada (live)"),
                        ev.user_updated("user-1", email="grace@example.org"),
                        ev.user_deleted("user-2"),
                        ev.user_created("user-new", email="new@example.com"),
                    ]
                )
            out.print(f"sent 4 live events: {result.accepted} accepted\n")

            expected = 2 * users + 4
            deadline = time.monotonic() + 30
            while len(hook.deliveries) < expected and time.monotonic() < deadline:
                time.sleep(0.1)
            _show(out, api, server.space, hook)
            if duration > 0:
                out.print(f"\nserving for {duration:g} s: try {server.url}/docs (Ctrl-C stops)")
                with contextlib.suppress(KeyboardInterrupt):
                    time.sleep(duration)
            _summary(out, hook)


def _show(out: Console, api: httpx.Client, space: str, hook: demo.DemoReceiver) -> None:
    out.rule("3. profiles (GET /apispaces/{space}/profiles)")
    table = Table("id", "firstName", "email", "utcOffset", "revision")
    for doc in api.get(f"/apispaces/{space}/profiles", params={"limit": 6}).json():
        table.add_row(
            doc["id"],
            str(doc.get("firstName", "")),
            str(doc.get("email", "")),
            str(doc.get("utcOffset", "")),
            str(doc.get("_revision", "")),
        )
    out.print(table)
    out.rule("4. webhook deliveries (signed, verified, filtered by revision)")
    counts = Table("event", "received")
    for name, count in sorted(hook.counts().items()):
        counts.add_row(name, str(count))
    out.print(counts)
    recent = Table("event", "profile", "revision", "fresh")
    for d in hook.deliveries[-6:]:
        recent.add_row(d.name, d.profile, str(d.revision), "yes" if d.fresh else "dropped")
    out.print(recent)


def _summary(out: Console, hook: demo.DemoReceiver) -> None:
    fresh = sum(d.fresh for d in hook.deliveries)
    out.print(
        f"deliveries: {len(hook.deliveries)} received, {hook.requests - hook.refused} requests "
        f"verified, {hook.refused} refused, {len(hook.deliveries) - fresh} stale or repeated"
    )
