"""The seed document's five example requests, verbatim but for timestamps moved to now."""

from __future__ import annotations

import json
import re
from pathlib import Path

from syncline.clock import now_ms
from tests.support.server import LiveServer

SEED = (
    Path(__file__).resolve().parents[2] / "tests" / "data" / "copilot-preexisting-sync-events.txt"
)


def seed_requests() -> list[bytes]:
    """The five `{ "events": ... }` examples, in the document's order, with timestamps now."""
    text = SEED.read_text()
    bodies = [m.group(0) for m in re.finditer(r'\{ "events": .*?\] \}', text)]
    order = [
        "preexisting_sync_started",
        "preexisting_user_created",
        "preexisting_thing_created",
        "preexisting_user_thing_associated",
        "preexisting_sync_completed",
    ]
    bodies.sort(key=lambda b: order.index(re.search(r'"type": "(\w+)"', b).group(1)))  # type: ignore[union-attr]
    now = str(now_ms())
    return [re.sub(r'"timestamp": \d+', f'"timestamp": {now}', b).encode() for b in bodies]


def test_seed_flow(server: LiveServer) -> None:
    started, user, thing, association, completed = seed_requests()
    with server.collect_client() as client:
        for body in (started, user, thing):
            answer = client.post("/v2/collect", content=body)
            assert answer.status_code == 200
            assert answer.json()["invalid_events"] == []
        for body in (association, completed):
            answer = client.post("/v2/collect", content=body)
            assert answer.status_code == 200
            [invalid] = answer.json()["invalid_events"]
            assert invalid["code"] == "event_id.reused"
            assert invalid["event_id"] == "d8a4ee55-da8f-4f0a-99b7-3f48629462fd"
            assert "event_id.reused" in invalid["error"]
        for body, fresh in ((association, "fresh-assoc"), (completed, "fresh-done")):
            doc = json.loads(body)
            doc["events"][0]["event_id"] = fresh
            answer = client.post("/v2/collect", json=doc)
            assert answer.json() == {"invalid_events": [], "accepted": 1, "duplicates": 0}
    with server.api_client() as api:
        status = api.get(f"/apispaces/{server.tenant.space}/sync").json()
        assert status["status"] == "completed"
        assert status["report"]["totals"]["associations"] == 1
        assert status["report"]["orphans"]["count"] == 0
        user_view = api.get(
            f"/apispaces/{server.tenant.space}/users/325ca496-afe8-4f44-bd37-b0dc90bdfdea"
        ).json()
    assert user_view["first_name"] == "Juanita"
    assert user_view["utc_offset"] == "-0500"
    assert user_view["original_creation_date"] == 1556849038000
    assert user_view["things"][0]["thing_id"] == "63:64:78:26:b1:c7"
    assert user_view["things"][0]["since"] == 1556849038000
