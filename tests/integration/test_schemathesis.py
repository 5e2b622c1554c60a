"""Schemathesis runs every operation of our own OpenAPI document against the real server
(SQLite): requests generated from the schemas, answers checked against them. No 500, no answer
outside what the document says."""

from __future__ import annotations

import base64
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import Bundle
from schemathesis.checks import (
    negative_data_rejection,
    positive_data_acceptance,
    use_after_free,
)
from schemathesis.generation.stateful.state_machine import StepInput
from schemathesis.specs.openapi.stateful import transition

from syncline.http.routes.docs import build_spec
from tests.support.server import LiveServer, Tenant, live_server

# Sequences are built from valid requests (each operation's bad input is fuzzed on its own).
STATEFUL_POSITIVE = {"phases": {"stateful": {"generation": {"mode": "positive"}}}}
schema = schemathesis.openapi.from_dict(
    build_spec(), config=schemathesis.Config.from_dict(STATEFUL_POSITIVE)
)
# Every other check runs (no 5xx; status codes, content types, headers and bodies as documented;
# 405 with the right Allow). Left out: positive_data_acceptance, since random ids and cursors are
# rightly 404 and 400; negative_data_rejection, since the credentials added below undo its
# "missing Authorization" cases, the profile query takes any `key=value` as a term, and bad
# events are answered in a 200's `invalid_events` by Copilot.cx's contract (the decoder has its
# own fuzzer, tests/unit/test_fuzz.py, and every bad input its test).
EXCLUDED = [positive_data_acceptance, negative_data_rejection]
TRIED: dict[str, int] = {}


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    # On SQLite only: this fuzzes the HTTP contract, which is the same code on both backends
    # (every API test runs on PostgreSQL too); a second pass would add a minute to `make test`.
    db = tmp_path_factory.mktemp("schemathesis") / "st.db"
    with live_server(str(db), webhooks_allow_private=True, webhook_retry_scale=0.001) as live:
        yield live
    print(
        f"\nschemathesis: {TRIED.get('cases', 0)} cases over {len(schema)} operations, "
        f"{TRIED.get('steps', 0)} steps in linked sequences "
        f"({TRIED.get('linked_ok', 0)} answered 2xx on an item a link named)"
    )


@schema.parametrize()
@settings(max_examples=40, deadline=None, suppress_health_check=list(HealthCheck))
def test_every_operation_keeps_to_its_document(case: Any, server: LiveServer) -> None:
    tenant: Tenant = server.tenant
    TRIED["cases"] = TRIED.get("cases", 0) + 1
    if "space" in (case.path_parameters or {}):
        case.path_parameters["space"] = tenant.space
    case.call_and_validate(
        base_url=server.url, headers=_credentials(case, tenant), excluded_checks=EXCLUDED
    )


def _credentials(case: Any, tenant: Tenant) -> dict[str, str]:
    security = case.operation.definition.raw.get("security", [{}])
    if any("bearer" in s for s in security):
        return {"Authorization": f"Bearer {tenant.api_token}"}
    if any("basic" in s for s in security):
        token = base64.b64encode(f"{tenant.client_id}:{tenant.client_secret}".encode()).decode()
        return {"Authorization": f"Basic {token}"}
    return {}


_PROFILE = schema["/apispaces/{space}/profiles/{profile_id}"]["PUT"]
_IDS = st.from_regex(r"[A-Za-z0-9:._@+-]{1,40}", fullmatch=True)


class Scenarios(schema.as_state_machine()):  # type: ignore[misc]
    """Stateful: sequences that follow the document's links (create a profile, then read, patch,
    delete, undelete it; add a webhook, then pause, rotate, replay, delete it), with the ids the
    answers gave. Schemathesis's stateful checks run too (a deleted resource is gone, a created
    one can be read)."""

    live: LiveServer
    tenant: Tenant

    def setup(self) -> None:
        # A new API space per scenario: what the server answers then depends on the scenario's
        # own steps only, as Hypothesis needs when it draws the next step from earlier answers.
        self.tenant = self.live.new_tenant()

    # One more way in, built as schemathesis builds its own rules: it starts only from POSTs,
    # and a PUT creates a profile here.
    create_profile = transition(
        name="create_profile",
        target=Bundle("catch_all"),
        input=_IDS.flatmap(lambda i: _PROFILE.as_strategy(path_parameters={"profile_id": i})).map(
            StepInput.initial
        ),
        precondition=lambda machine: True,
    )

    def before_call(self, case: Any) -> None:
        TRIED["steps"] = TRIED.get("steps", 0) + 1
        if "space" in (case.path_parameters or {}):
            case.path_parameters["space"] = self.tenant.space
        if "webhooks" in case.path and isinstance(case.body, dict) and "url" in case.body:
            case.body["url"] = f"{self.live.url}/healthz"
        if "profile_id" in case.path_parameters and isinstance(case.body, dict):
            case.body.pop("id", None)  # a body's id must be the path's: no schema says that

    def get_call_kwargs(self, case: Any) -> dict[str, Any]:
        return {"base_url": self.live.url, "headers": _credentials(case, self.tenant)}

    def validate_response(self, response: Any, case: Any, **kwargs: Any) -> None:
        named = {"profile_id", "webhook_id"} & set(case.path_parameters or {})
        if named and 200 <= response.status_code < 300 and case.method != "PUT":
            TRIED["linked_ok"] = TRIED.get("linked_ok", 0) + 1
        excluded = EXCLUDED
        if case.path.endswith("/history"):  # a deleted profile keeps its history, by design
            excluded = [*EXCLUDED, use_after_free]
        case.validate_response(
            response, excluded_checks=excluded, transport_kwargs=kwargs, recorder=self.recorder
        )


def test_linked_sequences_keep_to_the_document(server: LiveServer) -> None:
    Scenarios.live = server
    Scenarios.run(
        settings=settings(
            max_examples=60,
            stateful_step_count=6,
            deadline=None,
            # Ids the server makes differ from run to run: no shrinking and no example
            # database, a failure is reported as found.
            phases=[Phase.generate],
            database=None,
            suppress_health_check=list(HealthCheck),
        )
    )
    # The links were followed: answers of 2xx on items that only a link or a PUT names (about
    # 70 to 110 a run; a random id is a 404).
    assert TRIED.get("linked_ok", 0) > 20, TRIED
