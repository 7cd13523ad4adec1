"""Issue 15's "done when", from the CLI: a brokerage case transferred to intensive keeps its
history and its reassessment date; a hospital case closed 10 days ago is reopened by a
readmission. The cases are seeded through the Python API on a clock set in the past (the
CLI runs on the real clock), then driven with ``casework cases ...``."""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

CM = {"actor": "cm-1", "roles": ["case_manager"]}
SUP = {"actor": "sup-1", "roles": ["supervisor"]}


@dataclass
class Seeded:
    url: str
    case_id: str
    due: datetime | None = None


def cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def seed_brokerage(url: str) -> Seeded:
    """A brokerage case whose plan was signed 80 days ago (renewal due in ~9 months)."""
    clock = ManualClock(datetime.now(UTC).replace(microsecond=0) - timedelta(days=90))
    with Engine.open(url, clock=clock) as eng:
        case = eng.open_case(
            "brokerage",
            {
                "patient_id": "P-0001",
                "program": "housing",
                "priority": "routine",
                "risk_level": "low",
            },
            actor="intake-1",
            roles=["intake_coordinator"],
        )
        clock.advance(timedelta(days=3))
        eng.send(case.id, "first_contact_made", {"contact_date": "2026-01-01"}, **CM)
        clock.advance(timedelta(days=7))
        eng.send(
            case.id,
            "assessment_completed",
            {"assessed_needs": ["housing", "mental_health"], "risk_level": "moderate"},
            **CM,
        )
        view = eng.send(
            case.id,
            "plan_completed",
            {"plan_services": ["housing_assistance"], "plan_start_date": "2026-01-15"},
            **CM,
        )
        (renewal,) = [t for t in view.pending_timers if t.name == "annual_renewal"]
        return Seeded(url, case.id, renewal.due_at)


def seed_hospital(url: str, *, closed_days_ago: int, via_window: bool = False) -> Seeded:
    """A hospital case closed ``closed_days_ago`` days ago: as unable to contact after a
    discharge 5 days before the closure, or (``via_window``) once the 30-day readmission
    window after discharge had closed."""
    before = 35 if via_window else 5
    clock = ManualClock(
        datetime.now(UTC).replace(microsecond=0) - timedelta(days=closed_days_ago + before + 2)
    )
    with Engine.open(url, clock=clock) as eng:
        case = eng.open_case(
            "hospital",
            {
                "patient_id": "P-0501",
                "program": "acute-medicine",
                "priority": "immediate",
                "risk_level": "high",
                "medicare_beneficiary": False,
            },
            **CM,
        )
        ur = {"actor": "ur-1", "roles": ["utilization_reviewer"]}
        eng.send(case.id, "admission_review_completed", {"continued_stay_days": 3}, **ur)
        eng.send(case.id, "discharge_planning_started", **CM)
        eng.send(case.id, "patient_education_completed", {"education_topics": ["medication"]}, **CM)
        clock.advance(timedelta(days=2))
        md = {"actor": "md-1", "roles": ["attending_physician"]}
        eng.send(case.id, "discharge_ordered", {"disposition": "home"}, **md)
        eng.send(case.id, "patient_discharged", **CM)
        if via_window:
            clock.advance(timedelta(days=before))
            eng.fire_due_timers()
        else:
            clock.advance(timedelta(days=before - 1))
            for _ in range(3):
                eng.send(case.id, "contact_attempt_failed", **CM)
            clock.advance(timedelta(days=1))
        view = eng.send(case.id, "approve_closure", {"closure_date": "2026-01-01"}, **SUP)
        assert view.closed
        return Seeded(url, case.id)


def test_brokerage_case_transferred_to_intensive_keeps_history_and_reassessment_date(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_brokerage(database_url)
    url = ["--database-url", database_url]
    code, out, _ = cli(capsys, "cases", "history", seeded.case_id, *url, "--json")
    before = json.loads(out)
    code, out, err = cli(
        capsys,
        "cases",
        "transfer",
        seeded.case_id,
        "--to",
        "intensive",
        "--role",
        "supervisor",
        "--actor",
        "sup-1",
        *url,
        "--json",
    )
    assert code == 0, err
    result = json.loads(out)
    target = result["target"]
    assert (result["source"]["state"], target["workflow"], target["state"]) == (
        "transferred",
        "intensive",
        "outreach",
    )
    assert seeded.due is not None
    (review,) = [t for t in target["pending_timers"] if t["name"] == "treatment_plan_review"]
    assert review["due_at"] == seeded.due.isoformat()  # the renewal date, not restarted

    code, out, _ = cli(capsys, "cases", "history", seeded.case_id, *url, "--json")
    after = json.loads(out)
    assert after[: len(before)] == before  # history kept
    assert after[-1]["payload"]["@link"]["to_case"] == target["id"]
    code, out, _ = cli(capsys, "cases", "history", target["id"], *url)
    assert f"from brokerage case {seeded.case_id}" in out
    code, out, _ = cli(capsys, "cases", "show", seeded.case_id, *url)
    assert f"transfer: continued as case {target['id']}" in out
    code, out, _ = cli(capsys, "cases", "links", target["id"], *url, "--json")
    (link,) = json.loads(out)
    assert (link["direction"], link["case_id"]) == ("from", seeded.case_id)
    code, out, _ = cli(capsys, "audit", "verify", *url)
    assert code == 0, out


def test_hospital_case_closed_ten_days_ago_is_reopened_by_a_readmission(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_hospital(database_url, closed_days_ago=10)
    url = ["--database-url", database_url]
    code, out, err = cli(
        capsys,
        "cases",
        "reopen",
        seeded.case_id,
        "--payload",
        '{"planned": false}',
        "--role",
        "case_manager",
        *url,
    )
    assert code == 0, err
    assert f"case {seeded.case_id}: reopened -> state admitted" in out
    code, out, _ = cli(capsys, "cases", "history", seeded.case_id, *url, "--json")
    last = json.loads(out)[-1]
    assert (last["event"], last["outcome"], last["from_state"], last["to_state"]) == (
        "readmitted_after_closure",
        "reopened",
        "unable_to_contact",
        "admitted",
    )
    code, out, err = cli(capsys, "cases", "reopen", seeded.case_id, "--role", "case_manager", *url)
    assert code == 1
    assert "(not_closed)" in err


def test_hospital_case_closed_after_the_readmission_window_is_refused(
    database_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    seeded = seed_hospital(database_url, closed_days_ago=10, via_window=True)
    code, _, err = cli(
        capsys,
        "cases",
        "reopen",
        seeded.case_id,
        "--payload",
        '{"planned": false}',
        "--role",
        "case_manager",
        "--database-url",
        database_url,
    )
    assert code == 1
    assert "denied (window_passed)" in err
    assert "P30D after case.discharge_date" in err
