"""Case clocks in the operator's views: ``cases show``, ``timers list``, ``simulate``."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
PROGRAM = ROOT / "tests" / "fixtures" / "clocks" / "program.yaml"
CM = {"actor": "cm-1", "roles": ["case_manager"]}


@pytest.fixture
def overdue_case(database_url: str) -> dict[str, str]:
    """A case whose annual reassessment clock fired (its anchor is years old)."""
    clock = ManualClock(datetime(2026, 12, 4, 9, tzinfo=UTC))
    with Engine.open(database_url, workflows=[PROGRAM], clock=clock) as eng:
        case = eng.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
        eng.send(case.id, "accepted", **CM)
        eng.send(case.id, "assessment_completed", {"last_assessment_date": "2020-01-01"}, **CM)
        assert eng.fire_due_timers() == 1
    return {"url": database_url, "case": case.id}


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    code = main(list(argv))
    return code, capsys.readouterr().out


def test_cases_show_names_the_overdue_clock(overdue_case, capsys) -> None:
    code, out = cli(
        capsys, "cases", "show", overdue_case["case"], "--database-url", overdue_case["url"]
    )
    assert code == 0
    assert "OVERDUE: clock 'annual_reassessment' fired" in out
    assert "annual_reassessment (clock)" in out


def test_timers_list_shows_overdue_clocks(overdue_case, capsys) -> None:
    code, out = cli(
        capsys,
        "timers",
        "list",
        "--database-url",
        overdue_case["url"],
        "--status",
        "overdue",
        "--json",
    )
    assert code == 0
    (row,) = json.loads(out)["items"]
    assert (row["name"], row["scope"], row["status"]) == ("annual_reassessment", "clock", "overdue")
    assert row["fired_at"] is not None


def test_cases_list_overdue_includes_a_case_with_an_overdue_clock(overdue_case, capsys) -> None:
    code, out = cli(
        capsys, "cases", "list", "--database-url", overdue_case["url"], "--overdue", "--json"
    )
    assert code == 0
    assert [r["id"] for r in json.loads(out)["items"]] == [overdue_case["case"]]


SCRIPT = """\
day 0 open {"patient_id": "P-1"}
day 0 accepted as case_manager
day 1 assessment_completed as case_manager {"last_assessment_date": "2026-01-06"}
day 2 plan_signed as case_manager
day 3 services_started as case_manager
day 40 contact_recorded as case_manager
day 60 close as case_manager
"""


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_simulate_shows_the_watchdog_lapse_within_a_day_of_the_interval(
    tmp_path: Path, capsys, database_url: str
) -> None:
    script = tmp_path / "s.txt"
    script.write_text(SCRIPT)
    code, out = cli(capsys, "simulate", str(PROGRAM), "--script", str(script), "--json")
    assert code == 0
    entries = json.loads(out)["entries"]
    lapses = [e for e in entries if e["clock"] == "watchdog"]
    assert [(e["timer"], e["day"]) for e in lapses] == [("monthly_contact", 33)]
    decision = [e for e in entries if e["timer"] == "intake_decision"]
    assert decision == []  # stopped by the assessment on day 1


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
def test_simulate_deadlines_lists_every_clock(capsys, database_url: str) -> None:
    code, out = cli(
        capsys,
        "simulate",
        str(PROGRAM),
        "--deadlines",
        "--record",
        '{"patient_id": "P-1", "last_assessment_date": "2026-01-02"}',
    )
    assert code == 0
    assert "(clock)" in out
    for name in ("annual_reassessment", "monthly_contact", "intake_decision"):
        assert name in out
    assert "Sat 2027-01-02" in out  # 12 months from the record's date
