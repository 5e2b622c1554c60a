"""`syncline webhooks ...`: subscriptions, their health and dead letters, on the database.

A running server picks changes up within a second: its delivery worker re-reads the
subscriptions and finds replayed dead letters due.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

import typer
from rich.table import Table

from syncline.clock import now_ms
from syncline.errors import SynclineError
from syncline.schemas.webhooks import BatchSpec, ReplaySpec, WebhookSpec
from syncline.services import webhooks as service

webhooks_app = typer.Typer(
    help="Profile webhooks: add, list, pause, resume, delete, replay.", no_args_is_help=True
)
SpaceOpt = Annotated[str, typer.Option("--space", help="API space id")]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table")]
DatabaseUrl = Annotated[
    str | None,
    typer.Option("--database-url", help="Database URL [env: SYNCLINE_DATABASE_URL]"),
]


def _cli() -> Any:
    from syncline import cli

    return cli


@webhooks_app.command("add")
def add(
    url: Annotated[str, typer.Argument(help="Where to POST the events (http or https)")],
    space: SpaceOpt,
    events: Annotated[
        list[str] | None, typer.Option("--event", help="An event name (repeat); profile.*")
    ] = None,
    secret: Annotated[
        str | None, typer.Option(help="At least 16 characters; generated when absent")
    ] = None,
    ordering: Annotated[str, typer.Option(help="profile or none")] = "profile",
    no_preexisting: Annotated[
        bool, typer.Option("--no-preexisting", help="Skip changes made by the preexisting sync")
    ] = False,
    batch: Annotated[int | None, typer.Option(help="Batch up to N events (1..500)")] = None,
    batch_timeout: Annotated[int, typer.Option(help="Flush a batch after N s (1..60)")] = 5,
    as_json: JsonOpt = False,
    database_url: DatabaseUrl = None,
) -> None:
    """Subscribe URL to profile events; prints the secret once."""
    cli = _cli()
    settings = cli._settings(database_url=database_url)
    storage = cli._storage(settings)
    spec = WebhookSpec(
        url=url,
        events=events or ["profile.*"],
        secret=secret,
        include_preexisting=not no_preexisting,
        ordering=ordering,
        batch=BatchSpec(batch, batch_timeout) if batch else None,
    )
    try:
        if storage.reader().space(space) is None:
            raise SynclineError(f"no API space {space}")
        with storage.unit_of_work() as uow:
            row, _ = service.create(uow, space, spec, settings.webhooks_allow_private, now_ms())
    except SynclineError as exc:
        raise cli._fail(exc) from exc
    view = service.view(storage.reader(), space, row, row.secret)
    if as_json:
        cli._json(view)
    else:
        cli.out.print(f"webhook {view['id']} -> {view['url']}")
        cli.out.print(f"  secret  {view['secret']}   (shown once)")


@webhooks_app.command("list")
def list_(space: SpaceOpt, as_json: JsonOpt = False, database_url: DatabaseUrl = None) -> None:
    """Every webhook of the space with its state, backlog and dead letters."""
    cli = _cli()
    reader = cli._storage(cli._settings(database_url=database_url)).reader()
    views = [service.view(reader, space, row) for row in reader.webhooks(space)]
    if as_json:
        cli._json(views)
        return
    table = Table("id", "url", "state", "backlog", "delivered", "dead", "last success")
    for v in views:
        table.add_row(
            v["id"],
            v["url"],
            v["state"],
            str(v["backlog"]),
            str(v["delivered"]),
            str(v["deadLetters"]),
            str(v["lastSuccessAt"] or "-"),
        )
    cli.out.print(table)


def _set(space: str, webhook_id: str, enabled: bool, database_url: str | None) -> None:
    cli = _cli()
    storage = cli._storage(cli._settings(database_url=database_url))
    try:
        with storage.unit_of_work() as uow:
            row = service.set_enabled(uow, space, webhook_id, enabled)
    except SynclineError as exc:
        raise cli._fail(exc) from exc
    cli.out.print(f"webhook {row.webhook_id}: {row.state}")


@webhooks_app.command("pause")
def pause(space: SpaceOpt, webhook_id: str, database_url: DatabaseUrl = None) -> None:
    """Stop sending; events queue up until resumed."""
    _set(space, webhook_id, False, database_url)


@webhooks_app.command("resume")
def resume(space: SpaceOpt, webhook_id: str, database_url: DatabaseUrl = None) -> None:
    """Send again (also re-enables a disabled webhook), starting with its backlog."""
    _set(space, webhook_id, True, database_url)


@webhooks_app.command("delete")
def delete(space: SpaceOpt, webhook_id: str, database_url: DatabaseUrl = None) -> None:
    """Remove the webhook, its backlog and its attempt log."""
    cli = _cli()
    storage = cli._storage(cli._settings(database_url=database_url))
    try:
        with storage.unit_of_work() as uow:
            service.delete(uow, space, webhook_id)
    except SynclineError as exc:
        raise cli._fail(exc) from exc
    cli.out.print(f"webhook {webhook_id} deleted")


@webhooks_app.command("replay")
def replay(
    space: SpaceOpt,
    webhook_id: str,
    event_ids: Annotated[
        list[str] | None, typer.Option("--event-id", help="A dead letter's eventId (repeat)")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Dead since this ISO time (e.g. 2026-11-22T10:00:00Z)")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Dead before this ISO time")] = None,
    database_url: DatabaseUrl = None,
) -> None:
    """Send dead letters again: the ones named, or all that died in a time range."""
    cli = _cli()
    storage = cli._storage(cli._settings(database_url=database_url))
    spec = ReplaySpec(event_ids=event_ids or None, since=_ms(since) or 0, until=_ms(until))
    try:
        with storage.unit_of_work() as uow:
            count = service.replay(uow, space, webhook_id, spec, now_ms())
    except SynclineError as exc:
        raise cli._fail(exc) from exc
    cli.out.print(f"replayed {count} dead letter(s)")


def _ms(text: str | None) -> int | None:
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise typer.BadParameter(f"not an ISO 8601 time: {text!r}") from None
    if moment.tzinfo is None:
        raise typer.BadParameter(f"give a time zone (Z or +HH:MM): {text!r}")
    return int(moment.timestamp() * 1000)
