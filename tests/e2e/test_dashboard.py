"""The dashboard as an operator drives it: the real server, a real webhook receiver and
Debian's Chromium through Playwright (never a downloaded browser).

When a test fails, every page it had open is saved as a PNG under its `tmp_path/output`.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.events import event, user_created
from tests.support.receiver import Answer, Receiver, receiver
from tests.support.server import LiveServer, Tenant, live_server

playwright = pytest.importorskip("playwright.sync_api")
from playwright.sync_api import Browser, Page, expect, sync_playwright  # noqa: E402

pytestmark = [pytest.mark.timeout(120)]

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
ADMIN = "admin-token-for-the-dashboard-tests"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI") == "true":
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"{CHROMIUM} is missing (apt-get install chromium)")
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield launched
        launched.close()


@pytest.fixture
def live(tmp_path: Path) -> Iterator[LiveServer]:
    with live_server(
        str(tmp_path / "ui.db"),
        admin_token=ADMIN,
        webhooks_allow_private=True,
        webhook_retry_scale=0.001,
        webhook_timeout_seconds=2,
    ) as server:
        yield server


@pytest.fixture
def page(browser: Browser, request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Page]:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    opened = context.new_page()
    opened.set_default_timeout(10_000)
    yield opened
    reports = [getattr(request.node, f"rep_{when}", None) for when in ("setup", "call")]
    if any(r is not None and r.failed for r in reports):
        out = tmp_path / "output"
        out.mkdir(exist_ok=True)
        for number, each in enumerate(context.pages):
            each.screenshot(path=str(out / f"page-{number}.png"), full_page=True)
        print(f"screenshots of the open pages in {out}")
    context.close()


def log_in(page: Page, live: LiveServer, token: str) -> None:
    page.goto(f"{live.url}/ui")
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.fill("#token", token)
    page.click("button[type=submit]")


def collect(live: LiveServer, *events: dict[str, Any], tenant: Tenant | None = None) -> Any:
    with live.collect_client(tenant) as client:
        answer = client.post("/v2/collect", json={"events": list(events)})
    assert answer.status_code == 200, answer.text
    return answer.json()


def preexisting_user(user_id: str) -> dict[str, Any]:
    return event("preexisting_user_created", {"user_id": user_id})


def test_login_is_scoped_to_the_token_and_logout_ends_it(page: Page, live: LiveServer) -> None:
    other = live.new_tenant()
    collect(live, user_created("u-1"), event("user_created", {"user_id": "bad id"}))
    log_in(page, live, "sl.wrong.token")
    expect(page.get_by_test_id("login-error")).to_contain_text("unknown, wrong or revoked")

    log_in(page, live, live.tenant.api_token)
    expect(page).to_have_url(f"{live.url}/ui/spaces/{live.tenant.space}")
    expect(page.get_by_test_id("accepted-hour")).to_have_text("1")
    expect(page.get_by_test_id("rejected-hour")).to_have_text("1")
    expect(page.get_by_test_id("totals")).to_contain_text("user_created")
    assert page.locator("svg.chart rect.accepted").count() == 1
    cookie = next(c for c in page.context.cookies() if c["name"] == "syncline_ui")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert live.tenant.api_token.split(".")[2] not in cookie["value"]

    page.goto(f"{live.url}/ui/spaces/{other.space}/rejected")
    expect(page.get_by_test_id("error")).to_contain_text(f"no API space {other.space}")
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/rejected?status=bogus")
    expect(page.get_by_test_id("error")).to_contain_text("status: must be one of")

    page.goto(f"{live.url}/ui")
    page.get_by_test_id("logout").click()
    expect(page).to_have_url(re.compile(r"/ui/login$"))
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}")
    expect(page).to_have_url(re.compile(r"/ui/login$"))

    log_in(page, live, ADMIN)
    expect(page.get_by_role("link", name=other.space)).to_be_visible()
    page.get_by_role("link", name=other.space).click()
    expect(page.get_by_test_id("space")).to_have_text(other.space)


def test_sync_progress_moves_while_open_then_shows_the_report(page: Page, live: LiveServer) -> None:
    collect(live, event("preexisting_sync_started", {}))
    log_in(page, live, live.tenant.api_token)
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/sync")
    expect(page.get_by_test_id("sync-status")).to_have_text("open")
    expect(page.get_by_test_id("sync-users")).to_have_text("0")
    page.evaluate("window.stillTheSamePage = true")

    collect(live, *(preexisting_user(f"p-{i}") for i in range(3)))
    expect(page.get_by_test_id("sync-users")).to_have_text("3")
    links = [
        event("preexisting_user_thing_associated", {"user_id": f"p-{i}", "thing_id": f"t-{i}"})
        for i in range(2)
    ]
    collect(live, *(preexisting_user(f"p-{i}") for i in range(3, 7)), *links)
    expect(page.get_by_test_id("sync-users")).to_have_text("7")
    expect(page.get_by_test_id("sync-associations")).to_have_text("2")

    collect(live, event("preexisting_sync_completed", {}))
    expect(page.get_by_test_id("sync-status")).to_have_text("completed")
    report = page.get_by_test_id("sync-report")
    expect(report).to_contain_text("Completion report")
    expect(report).to_contain_text("t-0")  # an orphan reference: the thing was never created
    assert page.evaluate("window.stillTheSamePage") is True  # progress came without a reload


def test_a_rejected_event_is_inspected_then_replayed_and_accepted(
    page: Page, live: LiveServer
) -> None:
    early = preexisting_user("u-early")
    answer = collect(live, early, event("user_created", {"user_id": "bad id"}))
    assert [e["code"] for e in answer["invalid_events"]] == ["sync.not_open", "field.invalid"]
    log_in(page, live, live.tenant.api_token)
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/rejected")
    expect(page.get_by_test_id("rejected-count")).to_have_text("2 matching")
    page.get_by_test_id("filter-code").select_option("sync.not_open")
    page.get_by_role("button", name="Filter").click()
    expect(page.get_by_test_id("rejected-count")).to_have_text("1 matching")
    page.get_by_role("link", name=early["event_id"]).click()
    expect(page.get_by_test_id("rejected-error")).to_have_text("sync.not_open")
    expect(page.get_by_test_id("raw")).to_contain_text('"user_id": "u-early"')

    collect(live, event("preexisting_sync_started", {}))  # the fix: the sync is open now
    page.get_by_test_id("replay-one").click()
    expect(page.get_by_test_id("replayed")).to_contain_text("1 accepted")
    expect(page.get_by_test_id("rejected-status")).to_have_text("accepted")
    with live.api_client() as api:
        assert api.get(f"/apispaces/{live.tenant.space}/users/u-early").status_code == 200


def test_a_profile_is_found_by_query_and_its_history_read(page: Page, live: LiveServer) -> None:
    collect(live, user_created("u-ada", email="ada@example.com", first_name="Ada"))
    collect(live, event("user_updated", {"user_id": "u-ada", "first_name": "Augusta"}))
    collect(live, user_created("u-bob", email="bob@example.com", utc_offset="+0100"))
    log_in(page, live, live.tenant.api_token)
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/profiles")
    expect(page.get_by_test_id("profiles")).to_contain_text("u-bob")

    page.get_by_test_id("query").fill("seats=>")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("error")).to_contain_text("needs a value")

    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/profiles")
    page.get_by_test_id("query").fill("utcOffset=+0100")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("profiles")).to_contain_text("u-bob")
    expect(page.get_by_test_id("profiles")).not_to_contain_text("u-ada")

    page.get_by_test_id("query").fill("email=ada@example.com")
    page.get_by_role("button", name="Search").click()
    expect(page.get_by_test_id("profiles")).not_to_contain_text("u-bob")
    page.get_by_role("link", name="u-ada").click()
    expect(page.get_by_test_id("document")).to_contain_text('"firstName": "Augusta"')
    history = page.get_by_test_id("history")
    expect(history.locator("tr")).to_have_count(3)  # a header, revisions 0 and 1
    expect(history).to_contain_text("create")
    expect(history).to_contain_text('"Ada" → "Augusta"')


def hook_for(live: LiveServer, url: str) -> str:
    with live.api_client() as api:
        made = api.post(f"/apispaces/{live.tenant.space}/webhooks", json={"url": url})
    assert made.status_code == 201, made.text
    return str(made.json()["id"])


@pytest.fixture
def hook() -> Iterator[Receiver]:
    with receiver() as r:
        yield r


def test_a_webhook_is_paused_then_resumed(page: Page, live: LiveServer, hook: Receiver) -> None:
    hook_id = hook_for(live, hook.url)
    log_in(page, live, live.tenant.api_token)
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/webhooks")
    page.get_by_role("link", name=hook.url).click()
    expect(page.get_by_test_id("hook-state")).to_have_text("enabled")
    page.get_by_test_id("pause").click()
    expect(page.get_by_test_id("hook-state")).to_have_text("paused")

    collect(live, user_created("u-paused"))
    expect(page.get_by_test_id("hook-backlog")).to_have_text("1")  # live, every 2 s
    assert hook.received == []

    page.get_by_test_id("resume").click()
    expect(page.get_by_test_id("hook-state")).to_have_text("enabled")
    hook.wait_for(lambda r: len(r.received) == 1)
    assert hook.envelopes()[0]["payload"]["id"] == "u-paused"
    expect(page.get_by_test_id("hook-backlog")).to_have_text("0")
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}")
    expect(page.get_by_test_id("hook-health")).to_contain_text("100.0%")
    assert hook_id in page.content()


def test_a_dead_letter_is_replayed_to_the_receiver(
    page: Page, live: LiveServer, hook: Receiver
) -> None:
    hook.answer(lambda request, n: Answer(400, body="bad payload") if n == 1 else Answer())
    hook_for(live, hook.url)
    collect(live, user_created("u-dead"))
    hook.wait_for(lambda r: len(r.received) == 1)
    log_in(page, live, live.tenant.api_token)
    page.goto(f"{live.url}/ui/spaces/{live.tenant.space}/webhooks")
    page.get_by_role("link", name=hook.url).click()
    expect(page.get_by_test_id("hook-dead")).to_have_text("1")
    expect(page.get_by_test_id("dead-letters")).to_contain_text("u-dead")
    expect(page.get_by_test_id("attempts")).to_contain_text("bad payload")

    page.get_by_test_id("replay-dead").click()
    expect(page.get_by_test_id("replayed")).to_contain_text("1 dead letter(s) queued again")
    hook.wait_for(lambda r: len(r.received) == 2)
    assert hook.envelopes()[1]["payload"]["id"] == "u-dead"
    expect(page.get_by_test_id("hook-dead")).to_have_text("0")
    page.reload()
    expect(page.get_by_test_id("attempts").locator(".badge.delivered")).to_have_count(1)
    expect(page.get_by_test_id("dead-letters")).to_contain_text("No dead letter")
