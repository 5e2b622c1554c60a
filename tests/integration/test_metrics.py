"""/metrics counts what the Collect API did: events by type and outcome, rejections by reason."""

from __future__ import annotations

import re

from syncline.clock import now_ms
from tests.support.server import LiveServer


def sample(text: str, name: str, **labels: str) -> float:
    wanted = ",".join(f'{k}="{v}"' for k, v in sorted(labels.items()))
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{(.*)\}} (\S+)", line)
        if match and ",".join(sorted(match.group(1).split(","))) == wanted:
            return float(match.group(2))
    return 0.0


def test_collect_outcomes_are_counted(server: LiveServer) -> None:
    now = now_ms()
    users = [
        {
            "type": "user_created",
            "event_id": f"m-{i}",
            "timestamp": now - 1000,
            "payload": {"user_id": f"m-{i}"},
        }
        for i in range(3)
    ]
    bad = [
        {"type": "user_created", "event_id": "m-bad", "timestamp": now, "payload": {}},
        {"type": "thing_created", "event_id": "m-bad-2", "timestamp": now, "payload": {}},
        {"type": "no_such_type", "event_id": "m-bad-3", "timestamp": now, "payload": {}},
    ]
    with server.collect_client() as client:
        answer = client.post("/v2/collect", json={"events": users + bad})
        assert answer.status_code == 200
        codes = [e["code"] for e in answer.json()["invalid_events"]]
        assert len(codes) == 3
        text = client.get("/metrics").text
    accepted = sample(text, "syncline_events_total", type="user_created", outcome="accepted")
    assert accepted == 3
    assert sample(text, "syncline_events_total", type="user_created", outcome="rejected") == 1
    assert sample(text, "syncline_events_total", type="thing_created", outcome="rejected") == 1
    rejected = sum(
        sample(text, "syncline_events_rejected_total", reason=code) for code in set(codes)
    )
    assert rejected == 3
