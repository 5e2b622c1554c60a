"""The `syncline` command. Options map 1:1 to settings (`--port` is `SYNCLINE_PORT`).

Commands other than `serve` work on the database directly (safe beside a running server:
every write takes the database's write lock), so an operator needs no token for them.
"""

from __future__ import annotations

import json
import sys
from typing import Annotated, Any

import typer
from rich.console import Console
from rich.table import Table

from syncline import logconfig
from syncline.cli_demo import demo_command
from syncline.cli_import import import_command
from syncline.cli_webhooks import webhooks_app
from syncline.cli_worker import worker_command
from syncline.clock import now_ms
from syncline.errors import ConfigError, SynclineError
from syncline.services import replay as replay_service
from syncline.services import spaces as space_service
from syncline.services import syncstatus
from syncline.settings import Settings
from syncline.storage.interface import Storage

app = typer.Typer(
    help="syncline: the lifecycle hub for users, things and their links.",
    no_args_is_help=True,
    add_completion=False,
)
spaces_app = typer.Typer(help="API spaces and their credentials.", no_args_is_help=True)
rejected_app = typer.Typer(help="Rejected events: list them, replay them.", no_args_is_help=True)
sync_app = typer.Typer(help="The preexisting sync of an API space.", no_args_is_help=True)
events_app = typer.Typer(help="The event log.", no_args_is_help=True)
app.add_typer(spaces_app, name="spaces")
app.add_typer(rejected_app, name="rejected")
app.add_typer(sync_app, name="sync")
app.add_typer(events_app, name="events")
app.add_typer(webhooks_app, name="webhooks")
app.command("import")(import_command)
app.command("demo")(demo_command)
app.command("worker")(worker_command)

out = Console(soft_wrap=True)
err = Console(stderr=True, soft_wrap=True)

DatabaseUrl = Annotated[
    str | None,
    typer.Option(
        "--database-url", help="Database URL [env: SYNCLINE_DATABASE_URL]", show_default=False
    ),
]
SpaceOpt = Annotated[str, typer.Option("--space", help="API space id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]


def _settings(**overrides: Any) -> Settings:
    try:
        return Settings.load(**overrides)
    except ConfigError as exc:
        err.print(f"[red]configuration error[/red] {exc}")
        raise typer.Exit(2) from exc


def _storage(settings: Settings) -> Storage:
    from syncline.http.app import open_storage

    storage = open_storage(settings)
    storage.migrate()
    return storage


def _json(data: Any) -> None:
    sys.stdout.write(json.dumps(data, indent=2, sort_keys=True) + "\n")


def _fail(exc: SynclineError) -> typer.Exit:
    err.print(f"[red]error[/red] {exc}")
    return typer.Exit(1)


@app.command()
def serve(
    host: Annotated[str | None, typer.Option(help="[env: SYNCLINE_HOST]")] = None,
    port: Annotated[int | None, typer.Option(help="[env: SYNCLINE_PORT]")] = None,
    database_url: DatabaseUrl = None,
    admin_token: Annotated[
        str | None, typer.Option(help="[env: SYNCLINE_ADMIN_TOKEN]", show_default=False)
    ] = None,
    log_level: Annotated[str | None, typer.Option(help="[env: SYNCLINE_LOG_LEVEL]")] = None,
) -> None:
    """Migrate, create a first API space if there is none, and serve the API."""
    from syncline.http import serving
    from syncline.http.app import create_app, tune_gc

    settings = _settings(
        host=host,
        port=port,
        database_url=database_url,
        admin_token=admin_token,
        log_level=log_level,
    )
    logconfig.configure(settings.log_level, settings.log_format)
    storage = _storage(settings)
    if not storage.reader().spaces():
        with storage.unit_of_work() as uow:
            created = space_service.create_space(
                uow, settings.bootstrap_account, "default", now_ms()
            )
        _announce(created)
    base = f"http://{settings.host}:{settings.port}"
    err.print(
        f"syncline serving on [bold]{base}[/bold]  database {settings.database_url}\n"
        f"  collect  POST {base}/v2/collect   docs {base}/docs   health {base}/readyz"
        f"   metrics {base}/metrics"
    )
    tune_gc()
    serving.run(create_app(settings, storage), settings)


def _announce(created: space_service.NewSpace) -> None:
    err.print("[bold]API space created[/bold] (secrets are shown once; only hashes are kept)")
    for label, value in (
        ("apiSpaceId", created.api_space_id),
        ("client_id", created.client_id),
        ("client_secret", created.client_secret),
        ("API token", created.api_token),
    ):
        err.print(f"  {label:14} {value}", soft_wrap=True, highlight=False)


@app.command()
def migrate(database_url: DatabaseUrl = None) -> None:
    """Create or upgrade the database schema."""
    settings = _settings(database_url=database_url)
    _storage(settings).close()
    err.print(f"database at {settings.database_url} is up to date")


@spaces_app.command("create")
def spaces_create(
    account: Annotated[int, typer.Option(help="Account id owning the space")] = 1,
    name: Annotated[str, typer.Option(help="A name for people")] = "default",
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Create an API space with collect credentials and an API token (shown once)."""
    storage = _storage(_settings(database_url=database_url))
    with storage.unit_of_work() as uow:
        created = space_service.create_space(uow, account, name, now_ms())
    if as_json:
        _json(created.as_json())
    else:
        _announce(created)


@spaces_app.command("list")
def spaces_list(as_json: JsonOpt = False, database_url: DatabaseUrl = None) -> None:
    """List API spaces."""
    storage = _storage(_settings(database_url=database_url))
    rows = [
        {
            "apiSpaceId": s.api_space_id,
            "accountId": s.account_id,
            "name": s.name,
            "createdAt": s.created_at,
        }
        for s in storage.reader().spaces()
    ]
    if as_json:
        _json(rows)
        return
    table = Table("apiSpaceId", "accountId", "name", "createdAt")
    for r in rows:
        table.add_row(*(str(r[k]) for k in ("apiSpaceId", "accountId", "name", "createdAt")))
    out.print(table)


@spaces_app.command("rotate")
def spaces_rotate(
    space: SpaceOpt,
    kind: Annotated[str, typer.Option(help="collect or api-token")] = "collect",
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Revoke a space's collect credentials (or API tokens) and issue new ones."""
    kinds = {"collect": space_service.COLLECT, "api-token": space_service.API_TOKEN}
    if kind not in kinds:
        err.print("[red]error[/red] --kind: must be collect or api-token")
        raise typer.Exit(2)
    storage = _storage(_settings(database_url=database_url))
    try:
        with storage.unit_of_work() as uow:
            issued = space_service.rotate(uow, storage.reader(), space, kinds[kind], now_ms())
    except SynclineError as exc:
        raise _fail(exc) from exc
    if as_json:
        _json(issued)
    else:
        for key, value in issued.items():
            out.print(f"{key:12} {value}")


@rejected_app.command("list")
def rejected_list(
    space: SpaceOpt,
    status: Annotated[str, typer.Option(help="pending, accepted, duplicate or all")] = "pending",
    code: Annotated[str | None, typer.Option(help="Only this reason code")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Only this event type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=10_000)] = 100,
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List rejected events with their reasons."""
    storage = _storage(_settings(database_url=database_url))
    page = storage.reader().rejected(
        space,
        status=None if status == "all" else status,
        code=code,
        type=type,
        cursor=None,
        limit=limit,
    )
    if as_json:
        _json(page.items)
        return
    table = Table("id", "event_id", "type", "code", "error", "status")
    for item in page.items:
        table.add_row(
            item["id"],
            str(item["event_id"]),
            str(item["type"]),
            item["code"],
            item["error"],
            item["status"],
        )
    out.print(table)


@rejected_app.command("replay")
def rejected_replay(
    space: SpaceOpt,
    ids: Annotated[list[str] | None, typer.Option("--id", help="A rejected event id")] = None,
    code: Annotated[str | None, typer.Option(help="All pending with this code")] = None,
    type: Annotated[str | None, typer.Option("--type", help="All pending of this type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=100_000)] = 10_000,
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Replay pending rejected events (all of them, or those selected)."""
    from syncline.http.app import limits_of

    settings = _settings(database_url=database_url)
    storage = _storage(settings)
    with storage.unit_of_work() as uow:
        result = replay_service.replay(
            uow,
            space,
            now_ms(),
            limits_of(settings),
            ids=ids or None,
            code=code,
            type=type,
            limit=limit,
        )
    summary = {
        "accepted": result.accepted,
        "duplicates": result.duplicates,
        "still_rejected": result.still_rejected,
    }
    if as_json:
        _json({**summary, "items": result.items})
    else:
        out.print(" ".join(f"{k}={v}" for k, v in summary.items()))
        for item in result.items:
            if item["status"] == "pending":
                out.print(f"  still rejected {item['id']} {item['error']}")


@sync_app.command("status")
def sync_status(
    space: SpaceOpt, as_json: JsonOpt = False, database_url: DatabaseUrl = None
) -> None:
    """Show the preexisting sync: open/completed, counts, the completion report."""
    storage = _storage(_settings(database_url=database_url))
    try:
        status = syncstatus.status(storage.reader(), space)
    except SynclineError as exc:
        raise _fail(exc) from exc
    if as_json:
        _json(status)
        return
    out.print(f"sync run {status['run']}: [bold]{status['status']}[/bold]")
    for key, value in (status.get("counts") or {}).items():
        out.print(f"  {key:13} {value}")
    report = status.get("report")
    if report:
        out.print(f"  duration     {report['durationMs'] / 1000:.1f} s")
        out.print(f"  orphans      {report['orphans']['count']}")


@sync_app.command("reopen")
def sync_reopen(
    space: SpaceOpt, as_json: JsonOpt = False, database_url: DatabaseUrl = None
) -> None:
    """Reopen the preexisting sync so that a new one may run."""
    storage = _storage(_settings(database_url=database_url))
    try:
        with storage.unit_of_work() as uow:
            status = syncstatus.reopen(uow, storage.reader(), space, now_ms())
    except SynclineError as exc:
        raise _fail(exc) from exc
    if as_json:
        _json(status)
    else:
        out.print(f"sync run {status['run']} is {status['status']}")


@events_app.command("list")
def events_list(
    space: SpaceOpt,
    user: Annotated[str | None, typer.Option("--user", help="Events of this user")] = None,
    thing: Annotated[str | None, typer.Option("--thing", help="Events of this thing")] = None,
    type: Annotated[str | None, typer.Option("--type", help="Events of this type")] = None,
    limit: Annotated[int, typer.Option(min=1, max=1000)] = 50,
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """List accepted events, newest first."""
    storage = _storage(_settings(database_url=database_url))
    page = storage.reader().events(
        space, user_id=user, thing_id=thing, type=type, cursor=None, limit=limit
    )
    if as_json:
        _json(page.items)
        return
    table = Table("timestamp", "type", "event_id", "payload")
    for item in page.items:
        table.add_row(
            str(item["timestamp"]),
            item["type"],
            item["event_id"],
            json.dumps(item["payload"], sort_keys=True),
        )
    out.print(table)


def main() -> None:
    app()
