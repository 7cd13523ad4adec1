"""The committed OpenAPI document matches the app, and a bounded fuzz run finds no 5xx."""

from __future__ import annotations

import json

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis.generation.modes import GenerationMode

from engine.api import create_app, openapi_document
from engine.api.routes_changes import configure_change_feed
from engine.cli.serve import build_openapi_app, openapi_text
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import ROOT, TOKENS, WORKFLOWS, LiveServer, registry

EXAMPLES_PER_OPERATION = 30


def test_committed_openapi_document_matches_the_app():
    committed = json.loads((ROOT / "docs" / "openapi.json").read_text(encoding="utf-8"))
    assert committed == openapi_document(build_openapi_app()), (
        "docs/openapi.json is stale: run `casework openapi`"
    )
    assert json.loads(openapi_text()) == committed


def test_openapi_document_declares_bearer_auth_and_problem_responses():
    doc = openapi_document(build_openapi_app())
    assert doc["components"]["securitySchemes"]["HTTPBearer"]["scheme"] == "bearer"
    send = doc["paths"]["/v1/cases/{case_id}/events"]["post"]
    assert "application/problem+json" in send["responses"]["412"]["content"]
    assert "security" not in doc["paths"]["/health"]["get"]


@pytest.fixture
def fuzz_target(sqlite_url):
    engine = Engine.open(sqlite_url, workflows=WORKFLOWS, clock=ManualClock())
    app = create_app(engine, clients=registry(), max_body_bytes=64 * 1024)
    configure_change_feed(app, max_wait_seconds=0.2, stream_seconds=0.3)  # bounded fuzzing
    try:
        with LiveServer(app) as server:
            # a few real cases so that some generated ids and filters hit data
            with httpx.Client(base_url=server.url, timeout=60) as http:
                for i in range(3):
                    http.post(
                        "/v1/cases",
                        json={
                            "workflow": "brokerage",
                            "record": {
                                "patient_id": f"P-100{i}",
                                "program": "housing",
                                "priority": "routine",
                                "risk_level": "low",
                            },
                        },
                        headers={"Authorization": f"Bearer {TOKENS['admin']}"},
                    )
            yield app, server
    finally:
        engine.close()


def test_fuzzed_requests_never_cause_server_errors(fuzz_target):
    app, server = fuzz_target
    schema = schemathesis.openapi.from_dict(openapi_document(app))
    auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 10
    for operation in operations:

        @settings(
            max_examples=EXAMPLES_PER_OPERATION,
            deadline=None,
            database=None,
            derandomize=True,
            suppress_health_check=list(HealthCheck),
        )
        @given(
            case=st.one_of(
                operation.as_strategy(GenerationMode.POSITIVE),
                operation.as_strategy(GenerationMode.NEGATIVE),
            ),
            with_token=st.booleans(),
        )
        def run(case, with_token):
            response = case.call(base_url=server.url, headers=auth if with_token else {})
            status = response.status_code
            statuses.append(status)
            if status >= 500:
                failures.append(f"{case.method} {case.formatted_path}: {status}")
            elif status >= 400:
                headers = {k.lower(): v for k, v in response.headers.items()}
                content_type = headers.get("content-type", [""])[0]
                assert content_type.startswith("application/problem+json"), (status, content_type)

        run()
    assert failures == []
    assert len(statuses) >= 5 * len(operations)
    assert any(s < 300 for s in statuses)
    assert {401, 422} <= set(statuses)
