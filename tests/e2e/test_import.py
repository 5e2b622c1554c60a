"""`syncline import` as an operator runs it: real processes against a real `syncline serve`.

An import interrupted at any point (kill -9 of the importer, Ctrl-C, a server killed and
restarted) and run again must leave exactly the state of an uninterrupted import: the same
profiles with the same revisions, the same sync counts, the same event log, and the same
rejected-rows file.
"""

from __future__ import annotations

import json
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from syncline.importer.sample import write_sample
from tests.support.process import ServerProcess, clean_env, cli_json, create_space, run_cli, serve
from tests.support.server import Tenant

pytestmark = pytest.mark.timeout(180)

OF_SPACE = "space_key = (SELECT space_key FROM api_spaces WHERE api_space_id = ?)"
ROWS = 3000
BAD_USERS = [  # (line, row, reason)
    (ROWS + 2, ",NoId,,,,,", "user_id: is required"),
    (ROWS + 3, "u-bad-email,,,not-an-email,,,", "email: must be a valid email address"),
    (ROWS + 4, "u-bad-offset,,,,,+2500,", "utc_offset: must be Z"),
    (ROWS + 5, "u-bad-consent,,,,maybe,,", "copilot_analysis_consent: must be true or false"),
    (ROWS + 6, "u-short,Ann", "expected 7 columns, got 2"),
    (ROWS + 7, "u bad id,,,,,,", "user_id: must be 1..128 characters"),
]


@pytest.fixture(scope="module")
def real(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    with serve(tmp_path_factory.mktemp("import") / "import.db") as server:
        yield server


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    paths = write_sample(tmp_path_factory.mktemp("files"), ROWS, ROWS, ROWS)
    with paths["users"].open("a") as f:
        f.write("".join(row + "\n" for _, row, _ in BAD_USERS))
    return paths


@pytest.fixture
def tenant(real: ServerProcess) -> Tenant:
    return create_space(real.database_url, cwd=real.db_path.parent)


def command(real: ServerProcess, tenant: Tenant, files: dict[str, Path], *extra: str) -> list[str]:
    args = ["--url", real.url, "--client-id", tenant.client_id]
    args += ["--client-secret", tenant.client_secret]
    for kind, path in files.items():
        args += [f"--{kind}", str(path)]
    return ["import", *args, "--json", *extra]


def run_import(workdir: Path, args: list[str]) -> subprocess.CompletedProcess[str]:
    workdir.mkdir(parents=True, exist_ok=True)
    return run_cli(*args, cwd=workdir, timeout=120)


def start_import(workdir: Path, args: list[str]) -> subprocess.Popen[bytes]:
    workdir.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        [sys.executable, "-m", "syncline", *args],
        cwd=workdir,
        env=clean_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def wait_for_progress(workdir: Path, kind: str, proc: subprocess.Popen[bytes]) -> dict[str, Any]:
    """The checkpoint once `kind` is part-way through (the import still running)."""
    path = workdir / "syncline-import.checkpoint.json"
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        assert proc.poll() is None, "the import finished before it could be interrupted"
        try:
            state: dict[str, Any] = json.loads(path.read_text())
        except (FileNotFoundError, json.JSONDecodeError):
            state = {}
        progress = state.get("files", {}).get(kind, {})
        if progress.get("rows", 0) > 0:
            return state
        time.sleep(0.01)
    raise AssertionError(f"no progress on {kind} within 60 s")


def snapshot(real: ServerProcess, tenant: Tenant) -> dict[str, Any]:
    """What the import left in the space: profiles (and revisions), sync counts, event log."""
    profiles: dict[str, Any] = {}
    with real.api_client(tenant) as api:
        url: str | None = f"/apispaces/{tenant.space}/profiles?limit=1000"
        while url:
            page = api.get(url)
            assert page.status_code == 200, page.text
            for doc in page.json():
                keep = {k: v for k, v in doc.items() if not k.startswith("_") or k == "_revision"}
                profiles[doc["id"]] = keep
            url = page.links.get("next", {}).get("url")
        sync = api.get(f"/apispaces/{tenant.space}/sync").json()
    db = sqlite3.connect(f"file:{real.db_path}?mode=ro", uri=True)
    try:
        events = dict(
            db.execute(
                f"SELECT type, count(*) FROM events WHERE {OF_SPACE} GROUP BY type",
                (tenant.space,),
            ).fetchall()
        )
        links = db.execute(
            f"SELECT count(*) FROM associations WHERE {OF_SPACE} AND associated",
            (tenant.space,),
        ).fetchone()[0]
        rejected = db.execute(
            f"SELECT count(*) FROM rejected_events WHERE {OF_SPACE}", (tenant.space,)
        ).fetchone()[0]
    finally:
        db.close()
    return {
        "profiles": profiles,
        "status": sync["status"],
        "counts": sync["counts"],
        "totals": sync["report"]["totals"] if sync.get("report") else None,
        "orphans": sync["report"]["orphans"]["count"] if sync.get("report") else None,
        "events": events,
        "links": links,
        "server_rejected": rejected,
    }


@pytest.fixture(scope="module")
def reference(
    real: ServerProcess, files: dict[str, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """An uninterrupted import, the yardstick of the others."""
    tenant = create_space(real.database_url, cwd=real.db_path.parent)
    workdir = tmp_path_factory.mktemp("reference")
    done = run_import(workdir, command(real, tenant, files))
    assert done.returncode == 3, done.stderr  # 3: completed, some rows rejected
    return {
        "state": snapshot(real, tenant),
        "report": json.loads(done.stdout),
        "rejected": (workdir / "import-rejected.jsonl").read_text(),
    }


def test_an_uninterrupted_import(reference: dict[str, Any]) -> None:
    state, report = reference["state"], reference["report"]
    assert report["status"] == "completed"
    assert report["totals"] == {
        "rows": 3 * ROWS + len(BAD_USERS),
        "sent": 3 * ROWS,
        "accepted": 3 * ROWS,
        "duplicates": 0,
        "rejected": 0,
        "bad": len(BAD_USERS),
    }
    assert state["status"] == "completed"
    assert state["counts"] == {"users": ROWS, "things": ROWS, "associations": ROWS, "rejected": 0}
    assert state["orphans"] == 0
    assert state["server_rejected"] == 0  # bad rows never reach the server
    assert state["events"] == {
        "preexisting_sync_started": 1,
        "preexisting_user_created": ROWS,
        "preexisting_thing_created": ROWS,
        "preexisting_user_thing_associated": ROWS,
        "preexisting_sync_completed": 1,
    }
    assert len(state["profiles"]) == ROWS
    assert state["links"] == ROWS
    ada = state["profiles"]["user-0"]
    assert ada["email"] == "user0@example.com"
    assert ada["utcOffset"] == "Z"
    assert ada["_revision"] == 1  # created, then its device


def test_bad_rows_are_reported_with_file_and_line(reference: dict[str, Any]) -> None:
    rows = [json.loads(line) for line in reference["rejected"].splitlines()]
    assert [(r["where"], r["source"]) for r in rows] == [
        (f"users.csv:{line}", "importer") for line, _, _ in BAD_USERS
    ]
    for row, (_, _, reason) in zip(rows, BAD_USERS, strict=True):
        assert row["reason"].startswith(reason) or reason in row["reason"], row


def test_kill_9_mid_import_then_rerun_equals_an_uninterrupted_import(
    real: ServerProcess,
    files: dict[str, Path],
    tenant: Tenant,
    reference: dict[str, Any],
    tmp_path: Path,
) -> None:
    args = command(real, tenant, files, "--batch-size", "100", "--concurrency", "3")
    first = start_import(tmp_path, args)
    state = wait_for_progress(tmp_path, "things", first)
    first.send_signal(signal.SIGKILL)
    assert first.wait(10) == -signal.SIGKILL
    assert not state["completed"]
    done = run_import(tmp_path, args)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["accepted"] + report["totals"]["duplicates"] == 3 * ROWS
    assert snapshot(real, tenant) == reference["state"]
    assert (tmp_path / "import-rejected.jsonl").read_text() == reference["rejected"]
    again = run_import(tmp_path, args)  # a completed import does nothing more
    assert again.returncode == 3
    assert snapshot(real, tenant) == reference["state"]


def test_ctrl_c_saves_the_checkpoint_and_the_rerun_resumes(
    real: ServerProcess,
    files: dict[str, Path],
    tenant: Tenant,
    reference: dict[str, Any],
    tmp_path: Path,
) -> None:
    args = command(real, tenant, files, "--batch-size", "100", "--concurrency", "2")
    first = start_import(tmp_path, args)
    wait_for_progress(tmp_path, "users", first)
    first.send_signal(signal.SIGINT)
    assert first.wait(30) == 130
    saved = json.loads((tmp_path / "syncline-import.checkpoint.json").read_text())
    assert saved["started"]
    assert not saved["completed"]
    done = run_import(tmp_path, args)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["rows"] == reference["report"]["totals"]["rows"]
    assert snapshot(real, tenant) == reference["state"]
    assert (tmp_path / "import-rejected.jsonl").read_text() == reference["rejected"]


def test_a_server_restart_mid_import_is_ridden_out(
    real: ServerProcess,
    files: dict[str, Path],
    tenant: Tenant,
    reference: dict[str, Any],
    tmp_path: Path,
) -> None:
    args = command(real, tenant, files, "--batch-size", "100", "--concurrency", "3")
    importer = start_import(tmp_path, args)
    wait_for_progress(tmp_path, "things", importer)
    real.kill()
    time.sleep(0.5)
    real.start()
    assert importer.wait(120) == 3
    assert snapshot(real, tenant) == reference["state"]


def test_mapping_other_column_names(real: ServerProcess, tenant: Tenant, tmp_path: Path) -> None:
    users = tmp_path / "people.csv"
    users.write_text("id,mail,tz,notes\nm-1,m1@example.com,+0200,vip\nm-2,,Z,\n")
    base = ["import", "--url", real.url, "--client-id", tenant.client_id]
    base += ["--client-secret", tenant.client_secret, "--users", str(users), "--json"]
    refused = run_import(tmp_path, base)
    assert refused.returncode == 2
    assert "unknown column(s) id, mail, tz, notes" in refused.stderr.replace("\n", "")
    mapped = [*base, "--map", "id=user_id", "--map", "mail=email", "--map", "tz=utc_offset"]
    done = run_import(tmp_path, [*mapped, "--map", "notes="])
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["totals"]["accepted"] == 2
    with real.api_client(tenant) as api:
        doc = api.get(f"/apispaces/{tenant.space}/profiles/m-1").json()
    assert (doc["email"], doc["utcOffset"]) == ("m1@example.com", "+0200")
    assert "notes" not in doc


def test_json_lines(real: ServerProcess, tenant: Tenant, tmp_path: Path) -> None:
    users = tmp_path / "users.jsonl"
    things = tmp_path / "things.ndjson"
    links = tmp_path / "links.jsonl"
    users.write_text(
        '{"user_id": "j-1", "email": "j1@example.com", "copilot_analysis_consent": true,'
        ' "original_creation_date": "2020-01-02T03:04:05Z", "first_name": null}\n'
        "\n"
        "{not json\n"
        '{"user_id": "j-2", "utc_offset": "+9999"}\n'
        '["an", "array"]\n'
        '{"user_id": "j-3", "last_name": "Three"}\n'
    )
    things.write_text('{"thing_id": "jt-1", "model": "m"}\n')
    links.write_text('{"user_id": "j-1", "thing_id": "jt-1", "original_association_date": 5}\n')
    args = ["import", "--url", real.url, "--client-id", tenant.client_id]
    args += ["--client-secret", tenant.client_secret, "--users", str(users)]
    args += ["--things", str(things), "--associations", str(links), "--json"]
    done = run_import(tmp_path, args)
    assert done.returncode == 3, done.stderr
    report = json.loads(done.stdout)
    assert report["totals"]["accepted"] == 4
    assert report["totals"]["bad"] == 3
    lines = (tmp_path / "import-rejected.jsonl").read_text().splitlines()
    rejected = [json.loads(line) for line in lines]
    assert [r["where"] for r in rejected] == ["users.jsonl:3", "users.jsonl:4", "users.jsonl:5"]
    with real.api_client(tenant) as api:
        doc = api.get(f"/apispaces/{tenant.space}/profiles/j-1").json()
        assert doc["_createdOn"] == "2020-01-02T03:04:05.000Z"
        things_of = api.get(f"/apispaces/{tenant.space}/profiles/j-1/things").json()
    assert "jt-1" in json.dumps(things_of)


def test_a_sync_already_completed_stops_with_a_hint(
    real: ServerProcess, tenant: Tenant, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id\nonce\n")
    args = ["import", "--url", real.url, "--client-id", tenant.client_id]
    args += ["--client-secret", tenant.client_secret, "--users", str(users)]
    assert run_import(tmp_path / "a", args).returncode == 0
    second = run_import(tmp_path / "b", args)
    assert second.returncode == 1
    assert "sync reopen" in second.stderr
    cli_json("sync", "reopen", "--space", tenant.space, database_url=real.database_url)
    assert run_import(tmp_path / "b", args).returncode == 0


def test_wrong_credentials_and_a_changed_file(
    real: ServerProcess, tenant: Tenant, tmp_path: Path
) -> None:
    users = tmp_path / "users.csv"
    users.write_text("user_id\nc-1\n")
    args = ["import", "--url", real.url, "--client-id", tenant.client_id, "--users", str(users)]
    wrong = run_import(tmp_path, [*args, "--client-secret", "wrong"])
    assert wrong.returncode == 1
    assert "refused the credentials" in wrong.stderr
    users.write_text("user_id\nc-1\nc-2\n")
    changed = run_import(tmp_path, [*args, "--client-secret", tenant.client_secret])
    assert changed.returncode == 2
    assert "changed since" in changed.stderr.replace("\n", " ")
    fresh = run_import(tmp_path, [*args, "--client-secret", tenant.client_secret, "--restart"])
    assert fresh.returncode == 0, fresh.stderr
    assert httpx.get(f"{real.url}/readyz").status_code == 200
