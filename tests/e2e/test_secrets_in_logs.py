"""No secret ever reaches the logs or an error body: client secrets, API tokens, the admin token,
webhook secrets, nor a wrong secret someone tried. The server logs at debug level here."""

from __future__ import annotations

import base64
from pathlib import Path

import httpx
import pytest

from syncline.clock import now_ms
from tests.support.process import ServerProcess, create_space
from tests.support.receiver import receiver

pytestmark = [pytest.mark.timeout(120)]

ADMIN = "admin-token-0123456789-abcdef"
WRONG = "wrong-secret-xyzzy-0123456789"
HOOK_SECRET = "hook-secret-0123456789-abcdef"


def test_secrets_never_reach_logs_or_error_bodies(tmp_path: Path) -> None:
    server = ServerProcess(
        tmp_path / "secrets.db",
        extra_env={
            "SYNCLINE_LOG_LEVEL": "debug",
            "SYNCLINE_ADMIN_TOKEN": ADMIN,
            "SYNCLINE_WEBHOOKS_ALLOW_PRIVATE": "true",
        },
    )
    tenant = create_space(server.database_url, cwd=tmp_path)
    server.start()
    token_secret = tenant.api_token.split(".")[2]
    bodies: list[str] = []
    try:
        with receiver() as hook, httpx.Client(base_url=server.url, timeout=30) as client:
            basic = base64.b64encode(f"{tenant.client_id}:{tenant.client_secret}".encode())
            wrong = base64.b64encode(f"{tenant.client_id}:{WRONG}".encode())
            event = {
                "type": "user_created",
                "event_id": "s-1",
                "timestamp": now_ms(),
                "payload": {"user_id": "s-1"},
            }
            answers = [
                client.post(
                    f"/apispaces/{tenant.space}/webhooks",
                    json={"url": hook.url, "secret": HOOK_SECRET},
                    headers={"Authorization": f"Bearer {ADMIN}"},
                ),
                client.post(
                    "/v2/collect",
                    json={"events": [event]},
                    headers={"Authorization": f"Basic {basic.decode()}"},
                ),
                client.post(
                    "/v2/collect",
                    json={"events": [event]},
                    headers={"Authorization": f"Basic {wrong.decode()}"},
                ),
                client.get(
                    f"/apispaces/{tenant.space}/profiles/s-1",
                    headers={"Authorization": f"Bearer sl.x.{WRONG}"},
                ),
                client.get(f"/apispaces/{tenant.space}/sync", headers={"Authorization": WRONG}),
                client.post(  # a bad body that repeats a secret: the error names the field only
                    f"/apispaces/{tenant.space}/webhooks",
                    json={"url": hook.url, "secret": 42, "x": WRONG},
                    headers={"Authorization": f"Bearer {tenant.api_token}"},
                ),
            ]
            assert [a.status_code for a in answers] == [201, 200, 401, 401, 401, 400]
            hook.wait_for(lambda r: len(r.received) >= 1)
            bodies = [a.text for a in answers[2:]]
    finally:
        server.stop()
    log = server.log_path.read_text(errors="replace")
    assert "syncline stopped" in log, "the log was read whole"
    for secret in (tenant.client_secret, token_secret, ADMIN, WRONG, HOOK_SECRET):
        assert secret not in log
        for body in bodies:
            assert secret not in body
