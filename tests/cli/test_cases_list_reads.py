"""``casework cases list`` runs one listing query, and the overdue one only when asked."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

WORKFLOWS = Path(__file__).resolve().parents[2] / "workflows"
RECORD = {"patient_id": "P-0001", "program": "housing", "priority": "routine", "risk_level": "low"}
CM = {"actor": "cm-17", "roles": ["case_manager"]}


@pytest.fixture
def two_cases(database_url):
    past = ManualClock(datetime(2020, 3, 2, 9, 0, tzinfo=UTC))
    with Engine.open(database_url, workflows=WORKFLOWS, clock=past) as eng:
        stale = eng.open_case("brokerage", RECORD, **CM)  # its deadlines long passed
    with Engine.open(database_url, workflows=WORKFLOWS) as eng:
        fresh = eng.open_case("brokerage", {**RECORD, "patient_id": "P-0002"}, **CM)
    return database_url, stale.id, fresh.id


@pytest.mark.parametrize("flags", [[], ["--overdue"]], ids=["all", "overdue"])
def test_cases_list_asks_for_overdue_cases_only_with_the_flag(
    two_cases, capsys, monkeypatch, flags
):
    url, stale, fresh = two_cases
    calls: list[bool | None] = []
    find = Engine.find

    def spy(self, **kwargs):
        calls.append(kwargs.get("overdue"))
        return find(self, **kwargs)

    monkeypatch.setattr(Engine, "find", spy)
    assert main(["cases", "list", "--database-url", url, "--json", *flags]) == 0
    rows = {r["id"]: r["overdue"] for r in json.loads(capsys.readouterr().out)["items"]}
    assert calls == ([True] if flags else [None])
    assert rows[stale] is True
    if not flags:
        assert rows[fresh] is False
