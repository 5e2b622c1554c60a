"""`syncline import`: a whole preexisting sync from CSV or JSON Lines files (docs/import.md)."""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.progress import (
    BarColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskID,
    TaskProgressColumn,
    TextColumn,
    TimeRemainingColumn,
)
from rich.table import Table
from rich.text import Text

from syncline.importer import report
from syncline.importer.checkpoint import State
from syncline.importer.readers import InputError, parse_mapping
from syncline.importer.run import Importer, ImportFailed, Interrupted, Options

EXIT_REJECTED, EXIT_FAILED, EXIT_INPUT, EXIT_INTERRUPTED = 3, 1, 2, 130

FileOpt = Annotated[Path | None, typer.Option(help="CSV or JSON Lines file", show_default=False)]


class RowsPerSecond(ProgressColumn):
    def render(self, task: Task) -> Text:
        elapsed = (task.finished_time if task.finished else task.elapsed) or 0.0
        rows = task.fields.get("rows", 0) - task.fields.get("start_rows", 0)
        rate = rows / elapsed if elapsed > 0 else 0.0
        return Text(f"{task.fields.get('rows', 0):>10,} rows {rate:>8,.0f}/s", style="cyan")


class RichProgress:
    """The importer's progress as Rich bars: one per file, by bytes, with rows and rows/s."""

    def __init__(self, console: Console) -> None:
        self.console = console
        self.bars = Progress(
            TextColumn("[bold]{task.description:<13}"),
            BarColumn(),
            TaskProgressColumn(),
            RowsPerSecond(),
            TimeRemainingColumn(),
            console=console,
        )
        self.tasks: dict[str, TaskID] = {}

    def begin(self, kind: str, path: Path, total: int, done: int, rows: int) -> None:
        self.tasks[kind] = self.bars.add_task(
            kind, total=max(total, 1), completed=done, rows=rows, start_rows=rows
        )

    def advance(self, kind: str, done: int, rows: int) -> None:
        self.bars.update(self.tasks[kind], completed=done, rows=rows)

    def note(self, message: str) -> None:
        self.console.print(message)


def import_command(
    url: Annotated[str, typer.Option(help="Base URL of syncline or any Copilot.cx-compatible API")],
    client_id: Annotated[str, typer.Option(help="Collect credentials: client id")],
    client_secret: Annotated[
        str,
        typer.Option(
            help="Collect credentials: client secret [env: SYNCLINE_CLIENT_SECRET]",
            envvar="SYNCLINE_CLIENT_SECRET",
            show_envvar=False,
        ),
    ],
    users: FileOpt = None,
    things: FileOpt = None,
    associations: FileOpt = None,
    map: Annotated[
        list[str] | None,
        typer.Option(
            "--map", help="COLUMN=FIELD: read FIELD from COLUMN (repeat); COLUMN= drops it"
        ),
    ] = None,
    checkpoint: Annotated[
        Path, typer.Option(help="Progress file; the same command resumes from it")
    ] = Path("syncline-import.checkpoint.json"),
    rejected: Annotated[
        Path, typer.Option(help="Rows not imported, with file:line and reason (JSON Lines)")
    ] = Path("import-rejected.jsonl"),
    restart: Annotated[
        bool, typer.Option("--restart", help="Ignore the checkpoint: a new run, new event ids")
    ] = False,
    concurrency: Annotated[int, typer.Option(min=1, max=64, help="Batches in flight")] = 4,
    batch_size: Annotated[int, typer.Option(min=1, max=1000, help="Events per request")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the report as JSON")] = False,
) -> None:
    """Run a preexisting sync from CSV or JSON Lines files: started, users, things,
    associations, completed. Interrupted, the same command resumes where it stopped.

    Exit status: 0 all rows imported, 3 done but some rows rejected (see --rejected),
    1 stopped by an error, 2 bad input, 130 interrupted.
    """
    err = Console(stderr=True, soft_wrap=True)
    files = {
        k: p for k, p in (("users", users), ("things", things), ("associations", associations)) if p
    }
    try:
        options = Options(
            url,
            client_id,
            client_secret,
            files,
            mapping=parse_mapping(map or []),
            checkpoint=checkpoint,
            rejected=rejected,
            restart=restart,
            concurrency=concurrency,
            batch_size=batch_size,
        )
    except InputError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(EXIT_INPUT) from exc
    started = time.monotonic()
    progress = RichProgress(err)
    importer = Importer(options, progress)
    try:
        with progress.bars:
            state = importer.run()
    except InputError as exc:
        err.print(f"[red]error[/red] {exc}")
        raise typer.Exit(EXIT_INPUT) from exc
    except Interrupted as exc:
        err.print(f"[yellow]interrupted[/yellow]: progress saved in {checkpoint}; "
                  "run the same command to resume")  # fmt: skip
        raise typer.Exit(EXIT_INTERRUPTED) from exc
    except ImportFailed as exc:
        err.print(f"[red]import stopped[/red] {exc}\nprogress saved in {checkpoint}; "
                  "run the same command to resume")  # fmt: skip
        raise typer.Exit(EXIT_FAILED) from exc
    summary = report.summary(state, time.monotonic() - started, rejected)
    if as_json:
        sys.stdout.write(json.dumps(summary, indent=2) + "\n")
    else:
        show_report(Console(soft_wrap=True), summary, state)
    totals = summary["totals"]
    if totals["rejected"] or totals["bad"]:
        raise typer.Exit(EXIT_REJECTED)


def show_report(out: Console, summary: dict[str, Any], state: State) -> None:
    table = Table("file", "rows", "sent", "accepted", "duplicates", "rejected", "bad rows")
    keys = ("rows", "sent", "accepted", "duplicates", "rejected", "bad")
    for kind, progress in summary["files"].items():
        table.add_row(kind, *(f"{progress[k]:,}" for k in keys))
    table.add_row("[bold]total", *(f"[bold]{summary['totals'][k]:,}" for k in keys))
    out.print(table)
    rows = summary["totals"]["rows"]
    seconds = summary["seconds"]
    rate = f", {rows / seconds:,.0f} rows/s" if seconds > 0 and rows else ""
    out.print(
        f"sync {summary['status']} in {seconds:.1f} s{rate} (run timestamp {state.timestamp})"
    )
    if summary["reasons"]:
        out.print(f"rows not imported, by reason (details in {summary['rejectedFile']}):")
        for code, count in summary["reasons"].items():
            out.print(f"  {count:>8,}  {code}")
