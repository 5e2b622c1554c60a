"""The `syncline` command as an operator uses it: real processes, a real `syncline serve`.

Each test makes its own API space with `syncline spaces create --json`, talks to the server
over HTTP with the printed secrets, and uses the other commands with `--database-url` beside
the running server (DESIGN.md section 7).
"""

from __future__ import annotations

import importlib
import json
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
import typer.main
from typer.testing import CliRunner

from syncline.cli import app
from syncline.clock import now_ms
from tests.support.databases import Databases
from tests.support.process import (
    ServerProcess,
    clean_env,
    cli_json,
    create_space,
    run_cli,
    serve,
)
from tests.support.server import Tenant

pytestmark = pytest.mark.timeout(120)

WIDE = {"COLUMNS": "400"}  # tables on one line each, for the tests that read them


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory, databases: Databases) -> Iterator[ServerProcess]:
    """One `syncline serve` process for the module; every test uses its own API space."""
    with (
        databases.fresh("cli") as url,
        serve(tmp_path_factory.mktemp("cli") / "cli.db", url_of_database=url) as server,
    ):
        yield server


@pytest.fixture
def tenant(real: ServerProcess) -> Tenant:
    return create_space(real.database_url, account=7, cwd=real.db_path.parent)


def cli(real: ServerProcess, *args: str) -> Any:
    return cli_json(*args, database_url=real.database_url, cwd=real.db_path.parent)


def ev(type: str, payload: dict[str, Any], ts: int | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "type": type,
        "event_id": extra.get("event_id") or f"cli-{uuid.uuid4()}",
        "timestamp": ts if ts is not None else now_ms() - 1_000,
        "payload": payload,
    }


def collect(real: ServerProcess, tenant: Tenant, *events: dict[str, Any]) -> dict[str, Any]:
    with real.collect_client(tenant) as client:
        answer = client.post("/v2/collect", json={"events": list(events)})
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


# --help ------------------------------------------------------------------------------------


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of the `syncline` app, from the app itself."""
    root = typer.main.get_command(app)
    paths: list[tuple[str, ...]] = []

    def walk(command: Any, path: tuple[str, ...]) -> None:
        paths.append(path)
        if hasattr(command, "list_commands"):
            ctx = _context(command)
            for name in command.list_commands(ctx):
                walk(command.get_command(ctx, name), (*path, name))

    walk(root, ())
    return paths


def _context(command: Any) -> Any:
    """A click Context for `command` (typer may vendor its own click)."""
    for module in ("typer._click.core", "click.core"):
        try:
            return importlib.import_module(module).Context(command)
        except (ImportError, AttributeError):
            continue
    raise RuntimeError("no click Context available")


def test_help_of_every_command_exits_zero() -> None:
    paths = command_paths()
    expected = {
        (),
        ("serve",),
        ("migrate",),
        ("spaces",),
        ("spaces", "create"),
        ("spaces", "list"),
        ("spaces", "rotate"),
        ("rejected",),
        ("rejected", "list"),
        ("rejected", "replay"),
        ("sync",),
        ("sync", "status"),
        ("sync", "reopen"),
        ("events",),
        ("events", "list"),
    }
    assert expected <= set(paths)
    # the top level as a user runs it; every command in-process (a process each took ~1 s)
    top = run_cli("--help", env=clean_env(**WIDE))
    assert top.returncode == 0, top.stderr
    assert "Usage:" in top.stdout
    assert "syncline" in top.stdout
    runner = CliRunner()
    for path in paths:
        result = runner.invoke(app, [*path, "--help"], prog_name="syncline", env=WIDE)
        assert result.exit_code == 0, f"syncline {' '.join(path)} --help: {result.output}"
        assert "Usage:" in result.output
        assert " ".join(("syncline", *path)) in result.output, result.output


# spaces ------------------------------------------------------------------------------------


def test_spaces_create_json_prints_working_credentials(real: ServerProcess) -> None:
    made = cli(real, "spaces", "create", "--account", "7")
    assert set(made) == {"accountId", "apiSpaceId", "clientId", "clientSecret", "apiToken"}
    assert made["accountId"] == 7
    assert str(uuid.UUID(made["apiSpaceId"])) == made["apiSpaceId"]
    assert all(
        isinstance(made[k], str) and len(made[k]) >= 16
        for k in ("clientId", "clientSecret", "apiToken")
    )
    tenant = Tenant(made["apiSpaceId"], made["clientId"], made["clientSecret"], made["apiToken"])
    assert collect(real, tenant, ev("user_created", {"user_id": "alice"}))["accepted"] == 1
    with real.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/users/alice").status_code == 200


def test_spaces_list_json_shows_created_spaces(real: ServerProcess, tenant: Tenant) -> None:
    named = run_cli(
        "spaces",
        "create",
        "--account",
        "8",
        "--name",
        "second one",
        "--database-url",
        real.database_url,
        cwd=real.db_path.parent,
    )
    assert named.returncode == 0, named.stderr
    assert named.stdout == ""  # without --json the secrets go to stderr, once
    assert "apiSpaceId" in named.stderr
    assert "client_secret" in named.stderr
    rows = cli(real, "spaces", "list")
    assert isinstance(rows, list)
    by_id = {row["apiSpaceId"]: row for row in rows}
    mine = by_id[tenant.space]
    assert mine["accountId"] == 7
    assert mine["name"] == "default"
    assert isinstance(mine["createdAt"], int)
    assert any(r["accountId"] == 8 and r["name"] == "second one" for r in rows)
    assert all(set(r) == {"apiSpaceId", "accountId", "name", "createdAt"} for r in rows)


def test_spaces_rotate_revokes_the_old_secret(real: ServerProcess, tenant: Tenant) -> None:
    probe = {"events": [ev("user_created", {"user_id": "rotating"})]}
    with real.collect_client(tenant) as old:
        assert old.post("/v2/collect", json=probe).status_code == 200

    issued = cli(real, "spaces", "rotate", "--space", tenant.space, "--kind", "collect")
    assert set(issued) == {"apiSpaceId", "clientId", "clientSecret"}
    assert issued["apiSpaceId"] == tenant.space
    assert issued["clientId"] != tenant.client_id
    rotated = Tenant(tenant.space, issued["clientId"], issued["clientSecret"], tenant.api_token)
    with real.collect_client(tenant) as old:
        refused = old.post("/v2/collect", json=probe)
    assert refused.status_code == 401
    assert refused.json()["reason"] == "AUTH.UNAUTHORIZED"
    with real.collect_client(rotated) as new:
        answer = new.post("/v2/collect", json=probe)
    assert answer.status_code == 200
    assert answer.json()["duplicates"] == 1

    # The API token is a separate credential: untouched by a collect rotation, rotated alone.
    with real.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/sync").status_code == 200
    token = cli(real, "spaces", "rotate", "--space", tenant.space, "--kind", "api-token")
    assert set(token) == {"apiSpaceId", "apiToken"}
    with real.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/sync").status_code == 401
    fresh = Tenant(tenant.space, rotated.client_id, rotated.client_secret, token["apiToken"])
    with real.api_client(fresh) as api:
        assert api.get(f"/apispaces/{tenant.space}/sync").status_code == 200

    bad_kind = run_cli(
        "spaces",
        "rotate",
        "--space",
        tenant.space,
        "--kind",
        "everything",
        "--database-url",
        real.database_url,
        cwd=real.db_path.parent,
    )
    assert bad_kind.returncode == 2
    assert "--kind" in bad_kind.stderr
    nowhere = run_cli(
        "spaces",
        "rotate",
        "--space",
        str(uuid.uuid4()),
        "--database-url",
        real.database_url,
        cwd=real.db_path.parent,
    )
    assert nowhere.returncode == 1
    assert "no API space" in nowhere.stderr


# rejected events and the preexisting sync -----------------------------------------------------


def test_rejected_list_and_replay_after_the_sync_opens(real: ServerProcess, tenant: Tenant) -> None:
    early = ev(
        "preexisting_user_created",
        {"user_id": "early-bird", "first_name": "Ada", "original_creation_date": 1000},
    )
    body = collect(real, tenant, early)
    assert body["accepted"] == 0
    [invalid] = body["invalid_events"]
    assert invalid["code"] == "sync.not_open"

    [pending] = cli(real, "rejected", "list", "--space", tenant.space)
    assert pending["event_id"] == early["event_id"]
    assert pending["type"] == "preexisting_user_created"
    assert pending["code"] == "sync.not_open"
    assert pending["status"] == "pending"
    assert json.loads(pending["raw"]) == early
    with real.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/users/early-bird").status_code == 404

    # Replaying before the cause is fixed changes nothing.
    still = cli(real, "rejected", "replay", "--space", tenant.space)
    assert (still["accepted"], still["still_rejected"]) == (0, 1)

    assert collect(real, tenant, ev("preexisting_sync_started", {}))["accepted"] == 1
    replayed = cli(real, "rejected", "replay", "--space", tenant.space)
    assert (replayed["accepted"], replayed["duplicates"], replayed["still_rejected"]) == (1, 0, 0)
    assert replayed["items"][0]["id"] == pending["id"]
    assert replayed["items"][0]["status"] == "accepted"

    with real.api_client(tenant) as api:
        user = api.get(f"/apispaces/{tenant.space}/users/early-bird")
    assert user.status_code == 200
    assert user.json()["first_name"] == "Ada"
    assert user.json()["original_creation_date"] == 1000
    assert cli(real, "rejected", "list", "--space", tenant.space) == []
    [done] = cli(real, "rejected", "list", "--space", tenant.space, "--status", "all")
    assert done["status"] == "accepted"
    assert done["replay_count"] == 2
    status = cli(real, "sync", "status", "--space", tenant.space)
    assert status["status"] == "open"
    assert status["counts"]["users"] == 1


def test_rejected_list_table_columns_match_their_cells(real: ServerProcess, tenant: Tenant) -> None:
    """The human table: each heading over its own value (the operator reads it by heading)."""
    collect(real, tenant, ev("preexisting_thing_created", {"thing_id": "t-table"}))
    shown = run_cli(
        "rejected",
        "list",
        "--space",
        tenant.space,
        "--database-url",
        real.database_url,
        env=clean_env(**WIDE),
        cwd=real.db_path.parent,
    )
    assert shown.returncode == 0, shown.stderr
    lines = shown.stdout.splitlines()
    header = next(line for line in lines if "┃" in line)
    row = next(line for line in lines if "│" in line and "preexisting" in line)
    cells = dict(
        zip(
            (h.strip() for h in header.split("┃")[1:-1]),
            (c.strip() for c in row.split("│")[1:-1]),
            strict=True,
        )
    )
    assert cells["type"] == "preexisting_thing_created"
    assert cells["status"] == "pending"
    assert cells["error"].startswith("sync.not_open")


def test_sync_status_report_and_reopen(real: ServerProcess, tenant: Tenant) -> None:
    status = cli(real, "sync", "status", "--space", tenant.space)
    assert status == {"status": "not_started", "run": 0}

    start = ev("preexisting_sync_started", {})
    collect(
        real,
        tenant,
        start,
        ev("preexisting_user_created", {"user_id": "pu-1"}),
        ev("preexisting_user_created", {"user_id": "pu-2"}),
        ev("preexisting_thing_created", {"thing_id": "pt-1"}),
        ev("preexisting_user_thing_associated", {"user_id": "pu-1", "thing_id": "pt-1"}),
        ev("preexisting_user_thing_associated", {"user_id": "pu-2", "thing_id": "ghost"}),
        ev("preexisting_user_created", {"user_id": "bad id!"}),
    )
    status = cli(real, "sync", "status", "--space", tenant.space)
    assert status["status"] == "open"
    assert status["run"] == 1
    assert status["startedEventId"] == start["event_id"]
    assert status["counts"] == {"users": 2, "things": 1, "associations": 2, "rejected": 1}
    assert status["report"] is None

    assert collect(real, tenant, ev("preexisting_sync_completed", {}))["accepted"] == 1
    status = cli(real, "sync", "status", "--space", tenant.space)
    assert status["status"] == "completed"
    assert isinstance(status["completedAt"], int)
    report = status["report"]
    assert report["totals"] == {"users": 2, "things": 1, "associations": 2, "rejected": 1}
    assert report["rejected"] == 1
    assert report["orphans"]["count"] == 1
    assert report["orphans"]["sample"] == [
        {"userId": "pu-2", "thingId": "ghost", "missing": ["thing"]}
    ]
    assert report["durationMs"] >= 0
    with real.api_client(tenant) as api:
        assert api.get(f"/apispaces/{tenant.space}/sync").json() == status

    # The sync is done once: a second start is refused until an operator reopens it.
    again = ev("preexisting_sync_started", {})
    [refused] = collect(real, tenant, again)["invalid_events"]
    assert refused["code"] == "sync.already_completed"
    late = ev("preexisting_user_created", {"user_id": "pu-3"})
    [late_refused] = collect(real, tenant, late)["invalid_events"]
    assert late_refused["code"] == "sync.not_open"

    reopened = cli(real, "sync", "reopen", "--space", tenant.space)
    assert reopened["status"] == "open"
    assert reopened["run"] == 2
    # Resent as it was, the refused start is now accepted, and so is the late user.
    assert collect(real, tenant, again)["accepted"] == 1
    assert collect(real, tenant, late)["accepted"] == 1
    status = cli(real, "sync", "status", "--space", tenant.space)
    assert (status["status"], status["run"]) == ("open", 2)
    assert status["counts"] == {"users": 1, "things": 0, "associations": 0, "rejected": 0}
    assert status["report"] is None

    text = run_cli(
        "sync",
        "status",
        "--space",
        tenant.space,
        "--database-url",
        real.database_url,
        cwd=real.db_path.parent,
    )
    assert text.returncode == 0
    assert "open" in text.stdout
    unknown = run_cli(
        "sync",
        "status",
        "--space",
        str(uuid.uuid4()),
        "--database-url",
        real.database_url,
        cwd=real.db_path.parent,
    )
    assert unknown.returncode == 1
    assert "no API space" in unknown.stderr


# the event log ----------------------------------------------------------------------------


def test_events_list_newest_first(real: ServerProcess, tenant: Tenant) -> None:
    base = now_ms() - 60_000
    sent = [
        ev("user_created", {"user_id": "ev-user", "first_name": "Eve"}, base),
        ev("thing_created", {"thing_id": "ev-thing"}, base + 1_000),
        ev("user_thing_associated", {"user_id": "ev-user", "thing_id": "ev-thing"}, base + 2_000),
        ev("thing_connected", {"thing_id": "ev-thing", "user_id": "ev-user"}, base + 3_000),
        ev("user_updated", {"user_id": "someone-else"}, base + 4_000),
    ]
    assert collect(real, tenant, *sent)["accepted"] == len(sent)

    queries = [
        ("--user", "ev-user"),
        ("--thing", "ev-thing"),
        ("--type", "user_updated"),
        ("--limit", "2"),
    ]
    with ThreadPoolExecutor(max_workers=4) as pool:  # independent reads: side by side
        by_user, by_thing, by_type, limited = pool.map(
            lambda q: cli(real, "events", "list", "--space", tenant.space, *q), queries
        )
    assert [e["event_id"] for e in by_user] == [sent[i]["event_id"] for i in (3, 2, 0)]
    assert by_user[-1]["type"] == "user_created"
    # The log keeps the decoded payload: fields the client left out read as null.
    logged = {k: v for k, v in by_user[-1]["payload"].items() if v is not None}
    assert logged == {"user_id": "ev-user", "first_name": "Eve"}
    assert by_user[-1]["timestamp"] == base
    assert [e["event_id"] for e in by_thing] == [sent[i]["event_id"] for i in (3, 2, 1)]
    assert [e["event_id"] for e in by_type] == [sent[4]["event_id"]]
    assert [e["event_id"] for e in limited] == [sent[4]["event_id"], sent[3]["event_id"]]


# settings -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("name", "value"),
    [("SYNCLINE_PORT", "abc"), ("SYNCLINE_PORT", "70000"), ("SYNCLINE_SQLITE_SYNCHRONOUS", "x")],
)
def test_serve_refuses_a_bad_setting_by_name(tmp_path: Path, name: str, value: str) -> None:
    db = tmp_path / "never.db"
    env = clean_env(SYNCLINE_DATABASE_URL=f"sqlite:///{db}", **{name: value})
    done = run_cli("serve", env=env, cwd=tmp_path, timeout=30)
    assert done.returncode != 0
    assert name in done.stderr
    assert "Traceback" not in done.stderr
    assert not db.exists(), "nothing may start on a bad setting"
