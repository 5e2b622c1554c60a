"""`syncline demo` runs its whole loop and exits: import, live events, verified webhooks."""

from __future__ import annotations

import re

import pytest

from tests.support.process import clean_env, run_cli

pytestmark = pytest.mark.timeout(90)


def test_the_demo_imports_and_receives_verified_webhooks() -> None:
    done = run_cli("demo", "--users", "12", env=clean_env(COLUMNS="200"), timeout=80)
    assert done.returncode == 0, done.stderr + done.stdout
    out = done.stdout
    assert "imported 36 rows; sync completed" in out
    assert "sent 4 live events: 4 accepted" in out
    assert "Ada (live)" in out  # the live update won over the backfill
    found = re.search(
        r"deliveries: (\d+) received, (\d+) requests verified, (\d+) refused, (\d+) stale", out
    )
    assert found, out
    received, verified, refused, stale = map(int, found.groups())
    # 12 creates + 12 devicesUpdated from the sync, then 2 updates, 1 delete, 1 create live
    assert received == 2 * 12 + 4
    assert verified == received
    assert refused == 0
    assert stale == 0
