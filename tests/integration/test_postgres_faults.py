"""PostgreSQL going away under a running server: its connections are cut (as a restart or a
failover does). Requests in the meantime get 503 (retry), never 500; the server reconnects on
its own, and an event resent after a 503 is stored exactly once."""

from __future__ import annotations

from collections.abc import Iterator

import psycopg
import pytest

from syncline.clock import now_ms
from tests.support.databases import ADMIN_URL, fresh_postgres
from tests.support.server import LiveServer, live_server


@pytest.fixture
def pg_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    directory = tmp_path_factory.mktemp("pg-faults")
    with fresh_postgres(directory, "faults") as url, live_server(url) as live:
        yield live


def cut_connections(database: str) -> int:
    with psycopg.connect(ADMIN_URL, autocommit=True) as admin:
        rows = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity "
            "WHERE datname = %s AND pid <> pg_backend_pid()",
            (database,),
        ).fetchall()
    return len(rows)


def event(n: int) -> dict[str, object]:
    return {
        "type": "user_created",
        "event_id": f"pg-fault-{n}",
        "timestamp": now_ms() - 1000,
        "payload": {"user_id": f"pgf-{n}"},
    }


def test_cut_connections_give_503_then_the_server_reconnects(pg_server: LiveServer) -> None:
    database = pg_server.settings.database_url.rsplit("/", 1)[1]
    with pg_server.collect_client() as client:
        assert client.post("/v2/collect", json={"events": [event(0)]}).status_code == 200
        assert cut_connections(database) >= 1
        resent = {"events": [event(1)]}  # the same content each time, as a client retries
        answers = []
        for _ in range(5):  # the reader and the writer each notice on their next use
            answer = client.post("/v2/collect", json=resent)
            answers.append(answer.status_code)
            if answer.status_code == 200:
                break
            assert answer.json()["reason"] == "COMMON.SERVICE_UNAVAILABLE"
        assert answers[-1] == 200
        assert set(answers) <= {200, 503}
        assert 503 in answers  # the cut was seen, and answered as a retry
        again = client.post("/v2/collect", json=resent).json()
        assert again["duplicates"] == 1  # the resends after 503s stored it once
    reader = pg_server.storage.reader()
    log = reader.events(
        pg_server.tenant.space, user_id=None, thing_id=None, type=None, cursor=None, limit=10
    )
    assert sorted(e["event_id"] for e in log.items) == ["pg-fault-0", "pg-fault-1"]
