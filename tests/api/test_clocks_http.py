"""Case clocks over HTTP: shown in the case view; a bad anchor is a 422 naming the field."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import httpx
import pytest

from engine.api import create_app
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import TOKENS, LiveServer, registry

PROGRAM = Path(__file__).resolve().parents[1] / "fixtures" / "clocks" / "program.yaml"
AUTH = {"Authorization": f"Bearer {TOKENS['cm']}"}


@pytest.fixture
def http(database_url: str) -> Iterator[httpx.Client]:
    clock = ManualClock(datetime(2026, 12, 4, 9, tzinfo=UTC))
    engine = Engine.open(database_url, workflows=[PROGRAM], clock=clock)
    app = create_app(engine, clients=registry(), max_body_bytes=64 * 1024)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        engine.close()


def _send(http: httpx.Client, case_id: str, event: str, payload: dict | None = None):
    return http.post(
        f"/v1/cases/{case_id}/events", json={"event": event, "payload": payload or {}}, headers=AUTH
    )


def test_case_view_shows_clocks_and_a_missing_anchor_is_a_422_with_its_path(http) -> None:
    r = http.post(
        "/v1/cases", json={"workflow": "clockdemo", "record": {"patient_id": "P-1"}}, headers=AUTH
    )
    assert r.status_code == 201, r.text
    case_id = r.json()["id"]
    r = _send(http, case_id, "accepted")
    assert r.status_code == 200, r.text
    (clock,) = [t for t in r.json()["pending_timers"] if t["scope"] == "clock"]
    assert (clock["name"], clock["status"]) == ("intake_decision", "pending")
    r = _send(http, case_id, "assessment_completed")
    assert r.status_code == 422, r.text
    problem = r.json()
    assert problem["json_path"] == "$.last_assessment_date"
    assert "annual_reassessment" in problem["problem"]
    r = _send(http, case_id, "assessment_completed", {"last_assessment_date": "2026-12-01"})
    assert r.status_code == 200, r.text
    clocks = {t["name"]: t for t in r.json()["pending_timers"] if t["scope"] == "clock"}
    assert clocks["annual_reassessment"]["due_at"] == "2027-12-01T00:00:00+00:00"
