"""Readiness, metrics from the in-process worker, logs without patient data, 5xx hygiene."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import timedelta

import httpx
import pytest
import sqlalchemy as sa

from engine.api import create_app
from engine.api.health import schema_readiness
from engine.api.metrics import ApiMetrics
from engine.api.worker_metrics import LagObservingEngine, watch_worker
from engine.runtime.engine import Engine
from engine.scheduling.worker import TimerWorker

from .conftest import TOKENS, WORKFLOWS, LiveServer, registry

PATIENT = "P-7777"
RECORD = {
    "patient_id": PATIENT,
    "program": "secret-program",
    "priority": "routine",
    "risk_level": "low",
}


def _auth(who="admin"):
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def test_ready_is_503_when_the_schema_is_behind(sqlite_url):
    engine = Engine.open(sqlite_url, workflows=WORKFLOWS)
    check = schema_readiness(engine)
    assert check() == {"database": "ok", "schema": "ok"}
    db = sa.create_engine(sqlite_url)
    with db.begin() as conn:
        conn.execute(sa.text("update alembic_version set version_num = '0000'"))
    db.dispose()
    assert check()["schema"] == "out_of_date"
    app = create_app(_NoEngine(), clients=registry(), readiness=check, metrics=ApiMetrics())
    with LiveServer(app) as server:
        r = httpx.get(f"{server.url}/ready", timeout=30)
    assert r.status_code == 503
    assert r.json()["checks"]["schema"] == "out_of_date"
    engine.close()


class _NoEngine:
    """Stands in where a test needs no engine behind the app."""


def test_ready_reports_an_unreachable_database():
    from engine.clock import SystemClock
    from engine.runtime.context import EngineContext
    from engine.runtime.registry import Registry
    from engine.store.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore("postgresql+psycopg://nobody@127.0.0.1:1/none")  # connects lazily
    engine = Engine(EngineContext(store, Registry(), SystemClock(), use_db_clock=False))
    check = schema_readiness(engine)
    assert check() == {"database": "unreachable", "schema": "unknown"}
    engine.close()


def test_worker_beside_the_api_feeds_timer_lag_and_counters(api):
    metrics = api.server.server.config.app.state.metrics
    case = api.http.post(
        "/v1/cases", json={"workflow": "brokerage", "record": RECORD}, headers=_auth()
    ).json()
    worker = TimerWorker(LagObservingEngine(api.engine, metrics))
    watch_worker(metrics, lambda: worker.stats)
    api.clock.advance(timedelta(days=16, hours=1))  # first contact was due on day 15
    worker.drain()
    assert api.engine.history(case["id"])[-1].actor == "timer"
    text = api.http.get("/metrics", headers=_auth()).text
    assert "casework_timer_lag_seconds_count 1.0" in text
    assert 'casework_timer_lag_seconds_bucket{le="86400.0"} 0.0' in text  # a day late
    assert "casework_worker_timers_fired_total 1.0" in text


def test_metrics_can_be_public(sqlite_url):
    engine = Engine.open(sqlite_url, workflows=WORKFLOWS)
    try:
        app = create_app(engine, clients=registry(), metrics_public=True)
        with LiveServer(app) as server:
            r = httpx.get(f"{server.url}/metrics", timeout=30)
        assert r.status_code == 200
        assert "casework_open_cases 0.0" in r.text
    finally:
        engine.close()


def test_server_logs_carry_route_templates_and_ids_never_record_values(api, caplog):
    caplog.set_level(logging.INFO)
    r = api.http.post(
        "/v1/cases", json={"workflow": "brokerage", "record": RECORD}, headers=_auth()
    )
    case_id = r.json()["id"]
    api.http.get(f"/v1/cases/{case_id}", params={"q": PATIENT}, headers=_auth())
    api.http.post(
        "/v1/cases",
        json={"workflow": "brokerage", "record": {**RECORD, "risk_level": PATIENT}},
        headers=_auth(),
    )

    # httpx logs on the client side; uvicorn's access log (which would print query
    # strings) is off in `casework serve` and only shows here through pytest's capture.
    # The server thread writes its access line after the response has gone out, so
    # the client may read the response first: wait (bounded) for the lines to appear.
    def server_lines() -> list[str]:
        return [
            rec.getMessage()
            for rec in list(caplog.records)
            if rec.name not in ("httpx", "uvicorn.access")
        ]

    def logged() -> bool:
        access = [
            json.loads(rec.getMessage())
            for rec in list(caplog.records)
            if rec.name == "casework.api.access"
        ]
        seen = {(a["method"], a["route"], a["status"], a["case_id"], a["actor"]) for a in access}
        return ("GET", "/v1/cases/{case_id}", 200, case_id, "api:admin") in seen and any(
            (a["method"], a["route"], a["status"]) == ("POST", "/v1/cases", 422) for a in access
        )

    deadline = time.monotonic() + 10
    while not logged() and time.monotonic() < deadline:
        time.sleep(0.02)
    assert logged()
    lines = server_lines()
    assert not any(PATIENT in line or "secret-program" in line for line in lines)


def test_unexpected_errors_are_500_problems_without_the_message(api, caplog, monkeypatch):
    def boom(case_id):
        raise RuntimeError(f"driver error quoting {PATIENT}")

    monkeypatch.setattr(api.engine, "get", boom)
    caplog.set_level(logging.INFO)
    r = api.http.get("/v1/cases/some-case", headers=_auth())
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert r.json()["type"] == "https://casework.dev/problems/internal-error"
    assert PATIENT not in r.text
    logged = "\n".join(rec.getMessage() for rec in caplog.records)
    assert "unhandled RuntimeError on GET /v1/cases/{case_id}" in logged
    assert PATIENT not in logged


def test_concurrent_sends_with_the_same_if_match_apply_once(api):
    case_id = api.http.post(
        "/v1/cases", json={"workflow": "brokerage", "record": RECORD}, headers=_auth()
    ).json()["id"]
    results: list[int] = []
    barrier = threading.Barrier(4)

    def send() -> None:
        barrier.wait()
        with httpx.Client(base_url=api.server.url, timeout=60) as http:
            r = http.post(
                f"/v1/cases/{case_id}/events",
                json={"event": "contact_attempt_failed"},
                headers={**_auth(), "If-Match": '"1"'},
            )
        results.append(r.status_code)

    threads = [threading.Thread(target=send) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == [200, 412, 412, 412]
    assert api.engine.get(case_id).version == 2


@pytest.mark.parametrize("header", ["Basic abc", "Bearer", "bearer " + TOKENS["admin"] + "x"])
def test_malformed_authorization_headers_are_401(api, header):
    r = api.http.get("/v1/definitions", headers={"Authorization": header})
    assert r.status_code == 401
    assert r.headers["content-type"].startswith("application/problem+json")
