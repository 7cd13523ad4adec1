"""The committed OpenAPI document matches the app, and a bounded fuzz run finds no 5xx."""

from __future__ import annotations

import json
from contextlib import contextmanager
from urllib.parse import quote

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from phi_sentinel import SENTINEL
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


@contextmanager
def _target(url):
    engine = Engine.open(url, workflows=WORKFLOWS, clock=ManualClock())
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
                                "program": SENTINEL,
                                "priority": "routine",
                                "risk_level": "low",
                            },
                        },
                        headers={"Authorization": f"Bearer {TOKENS['admin']}"},
                    )
            yield app, server
    finally:
        engine.close()


@pytest.fixture
def fuzz_target(sqlite_url):
    with _target(sqlite_url) as target:
        yield target


@pytest.fixture
def hostile_target(database_url):
    """On SQLite and PostgreSQL: NaN and NUL are refused alike on both."""
    with _target(database_url) as target:
        yield target


@pytest.mark.timeout(1200)  # every operation x 30 examples: ~40 operations since items/ownership
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


# -- hostile values through every operation ---------------------------------------------

HOSTILE_EXAMPLES_PER_OPERATION = 5
#: JSON values Python's parser accepts and the API must refuse (or ignore) with a 4xx
HOSTILE_JSON = [
    float("nan"),
    float("inf"),
    float("-inf"),
    2**64,
    -(2**63) - 1,
    10**400,
    "\ud800",
    "a\udfffb",
    "nul\x00byte",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "9999-12-31T00:00:00Z",
]
#: the same for query strings and path segments (text only)
HOSTILE_TEXT = [
    "NaN",
    "Infinity",
    "1" * 40,
    "\ud800",
    "nul\x00byte",
    "9999-12-31T23:59:59-23:59",
    "0001-01-01T00:00:00+23:59",
    "2026-01-05",
    "%0a",
]


def _encode(text: str) -> str:
    """Percent-encoded UTF-8, lone surrogates as the bytes Python would write for them."""
    return quote(text.encode("utf-8", "surrogatepass"), safe="")


def _inject(body: object, value: object, data: st.DataObject) -> object:
    """``body`` with ``value`` in one place: a leaf, a new key, or the whole body."""
    if isinstance(body, dict) and body:
        key = data.draw(st.sampled_from([*sorted(body), "extra"]))
        inner = body.get(key)
        if isinstance(inner, dict | list) and inner and data.draw(st.booleans()):
            return {**body, key: _inject(inner, value, data)}
        return {**body, key: value}
    if isinstance(body, list) and body:
        i = data.draw(st.integers(0, len(body) - 1))
        return [*body[:i], _inject(body[i], value, data), *body[i + 1 :]]
    return value


@pytest.mark.timeout(1200)
def test_hostile_values_through_every_operation_never_cause_server_errors(hostile_target):
    """NaN and Infinity, integers beyond 64 bits, lone surrogates, NUL and instants at the
    calendar's ends, in bodies, query strings and path segments; records and payloads
    carry the PHI sentinel, which no error body may echo."""
    app, server = hostile_target
    schema = schemathesis.openapi.from_dict(openapi_document(app))
    auth = {"Authorization": f"Bearer {TOKENS['admin']}"}
    failures: list[str] = []
    statuses: list[int] = []
    operations = [result.ok() for result in schema.get_all_operations()]
    with httpx.Client(base_url=server.url, timeout=60) as http:
        for operation in operations:

            @settings(
                max_examples=HOSTILE_EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                derandomize=True,
                suppress_health_check=list(HealthCheck),
            )
            @given(case=operation.as_strategy(GenerationMode.POSITIVE), data=st.data())
            def run(case, data):
                path_params = dict(case.path_parameters or {})
                query = dict(case.query or {})
                body = case.body if isinstance(case.body, dict | list) else None
                where = data.draw(st.sampled_from(["body", "query", "path"]))
                if where == "body" and body is not None:
                    body = _inject(body, data.draw(st.sampled_from(HOSTILE_JSON)), data)
                    for part in ("record", "payload"):  # case data carries the sentinel
                        if isinstance(body, dict) and isinstance(body.get(part), dict):
                            body = {**body, part: {**body[part], "note": SENTINEL}}
                elif where == "path" and path_params:
                    name = data.draw(st.sampled_from(sorted(path_params)))
                    path_params[name] = data.draw(st.sampled_from(HOSTILE_TEXT))
                else:
                    name = data.draw(st.sampled_from([*sorted(query), "opened_after"]))
                    query[name] = data.draw(st.sampled_from(HOSTILE_TEXT))
                path = case.path
                for name, value in path_params.items():
                    path = path.replace("{" + name + "}", _encode(str(value)))
                qs = "&".join(f"{_encode(k)}={_encode(str(v))}" for k, v in query.items())
                url = path + ("?" + qs if qs else "")
                headers = dict(auth)
                content = None
                if body is not None:
                    headers["Content-Type"] = "application/json"
                    content = json.dumps(body, allow_nan=True).encode("ascii")
                response = http.request(case.method, url, content=content, headers=headers)
                statuses.append(response.status_code)
                if response.status_code >= 500:
                    failures.append(f"{case.method} {case.path} ({where}): {response.status_code}")
                elif response.status_code >= 400:
                    kind = response.headers.get("content-type", "")
                    assert kind.startswith("application/problem+json"), (response.status_code, kind)
                assert SENTINEL not in response.text or response.status_code < 300

            run()
    assert failures == []
    assert len(statuses) >= 3 * len(operations)
    assert {400, 422} & set(statuses)
