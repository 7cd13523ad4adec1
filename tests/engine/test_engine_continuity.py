"""Transfers between workflows and reopening closed cases, on the real engine (both backends)."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa

from engine.clock import ManualClock
from engine.errors import (
    EventRejected,
    PayloadInvalid,
    ReopenDenied,
    TransferInvalid,
)
from engine.runtime.business_keys import BusinessKeyConflict
from engine.runtime.engine import Engine
from engine.runtime.views import CaseView

FIXTURES = Path(__file__).resolve().parent.parent / "fixtures" / "continuity"
START = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
WORKER = {"actor": "w-1", "roles": ["worker"]}
LEAD = {"actor": "lead-1", "roles": ["lead"]}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=[FIXTURES], clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _planned(engine: Engine, source: str = "clinic", patient: str = "P-1") -> str:
    case = engine.open_case("light", {"patient_id": patient}, **WORKER)
    engine.send(case.id, "accepted", **WORKER)
    engine.send(case.id, "assessed", **WORKER)
    engine.send(case.id, "planned", {"source": source}, **WORKER)
    return case.id


def _clock(view: CaseView, name: str) -> tuple[datetime | None, str]:
    (t,) = [t for t in view.pending_timers if t.name == name and t.scope == "clock"]
    return t.due_at, t.status


# -- transfer ---------------------------------------------------------------------------


def test_transfer_closes_here_opens_linked_there_and_keeps_the_review_date(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _planned(engine)
    review_due, _ = _clock(engine.get(case_id), "review")
    assert review_due == datetime(2027, 3, 2, 15, 0, tzinfo=UTC)
    clock.advance(timedelta(days=40))
    before = engine.history(case_id)

    result = engine.transfer(case_id, "heavy", {"urgent": True}, **LEAD)

    src, dst = result.source, result.target
    assert (src.workflow, src.state, src.closed_at) == ("light", "transferred", clock.now())
    assert (dst.workflow, dst.state, dst.closed_at) == ("heavy", "assessing", None)
    assert dict(dst.record) == {"patient_id": "P-1", "referral": "clinic", "urgent": True}
    # the 12-month review keeps its due instant in the target's clock; the target's own
    # 6-month rule did not restart it
    assert _clock(dst, "annual_review") == (review_due, "pending")
    assert [t.name for t in dst.pending_timers if t.scope == "state"] == ["assessment_deadline"]
    # the source keeps its whole history, the closing row names the target
    history = engine.history(case_id)
    assert [h.seq for h in history[: len(before)]] == [h.seq for h in before]
    last = history[-1]
    assert (last.event, last.outcome, last.to_state) == (
        "move_to_heavy",
        "transferred_out",
        "transferred",
    )
    assert last.payload["@link"]["to_case"] == dst.id
    assert last.payload["urgent"] is True
    (opening,) = engine.history(dst.id)
    assert (opening.event, opening.outcome, opening.to_state) == (
        "@transfer_in",
        "transferred_in",
        "assessing",
    )
    assert opening.payload["@link"]["from_case"] == case_id
    assert opening.payload["@link"]["from_hash"] == last.hash
    (out,) = engine.case_links(case_id)
    (back,) = engine.case_links(dst.id)
    assert (out.direction, out.case_id) == ("to", dst.id)
    assert (back.direction, back.case_id) == ("from", case_id)
    assert engine.verify_audit().ok
    assert engine.verify_audit(dst.id).ok


def test_a_watchdog_carried_into_the_target_keeps_its_lapse_instant(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _planned(engine)
    engine.send(case_id, "linked", **WORKER)  # monitoring starts the 30-day contact watchdog
    clock.advance(timedelta(days=10))
    lapse, _ = _clock(engine.get(case_id), "contact")
    dst = engine.transfer(case_id, "heavy", **LEAD).target
    assert _clock(dst, "weekly_contact") == (lapse, "pending")


def test_a_paused_clock_resumes_with_the_time_it_had_left(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _planned(engine)
    engine.send(case_id, "linked", **WORKER)
    clock.advance(timedelta(days=10))
    engine.send(case_id, "hold", **WORKER)  # pauses the contact watchdog with 20 days left
    clock.advance(timedelta(days=5))
    dst = engine.transfer(case_id, "heavy", **LEAD).target
    assert _clock(dst, "weekly_contact") == (clock.now() + timedelta(days=20), "pending")


def test_a_passed_deadline_is_carried_due_and_fires_once_in_the_target(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _planned(engine)
    clock.advance(timedelta(days=366))
    assert engine.fire_due_timers() == 1  # the light review fired: overdue in light
    dst = engine.transfer(case_id, "heavy", **LEAD).target
    due, status = _clock(dst, "annual_review")
    assert (due, status) == (datetime(2027, 3, 2, 15, 0, tzinfo=UTC), "pending")
    fired = engine.fire_due_timers()
    assert fired == 1
    assert [h.event for h in engine.history(dst.id)] == ["@transfer_in", "review_due"]
    assert engine.fire_due_timers() == 0


def test_a_mapped_record_that_breaks_the_target_schema_is_refused_with_its_json_path(
    engine: Engine,
) -> None:
    case_id = _planned(engine, source="court")  # heavy's referral enum has no court
    before = engine.get(case_id)
    with pytest.raises(PayloadInvalid) as info:
        engine.transfer(case_id, "heavy", **LEAD)
    assert info.value.json_path == "$.referral"
    assert "to workflow 'heavy'" in info.value.what
    assert info.value.case_id == case_id
    after = engine.get(case_id)  # nothing happened: one transaction
    assert (after.state, after.version) == (before.state, before.version)
    assert engine.case_links(case_id) == []
    assert engine.find(workflow="heavy").items == ()


def test_a_mapping_that_reads_a_missing_field_names_the_target_field(engine: Engine) -> None:
    case = engine.open_case("light", {"patient_id": "P-1"}, **WORKER)  # no source yet
    with pytest.raises(PayloadInvalid) as info:
        engine.transfer(case.id, "heavy", **LEAD)
    assert info.value.json_path == "$.referral"


def test_transfer_errors_say_what_is_declared_and_allowed(engine: Engine) -> None:
    case_id = _planned(engine)
    with pytest.raises(TransferInvalid) as undeclared:
        engine.transfer(case_id, "nowhere", **LEAD)
    assert undeclared.value.declared == ("heavy",)
    with pytest.raises(EventRejected) as role:
        engine.transfer(case_id, "heavy", **WORKER)
    assert role.value.reason == "role_missing"
    with pytest.raises(PayloadInvalid):
        engine.transfer(case_id, "heavy", {"urgent": "yes"}, **LEAD)
    engine.transfer(case_id, "heavy", **LEAD)
    with pytest.raises(EventRejected) as closed:  # transferred is final: nothing leaves it
        engine.transfer(case_id, "heavy", **LEAD)
    assert (closed.value.reason, closed.value.state) == ("wrong_state", "transferred")


def test_the_transfer_event_sent_directly_transfers_too(engine: Engine) -> None:
    case_id = _planned(engine)
    view = engine.send(case_id, "move_to_heavy", **LEAD)
    assert view.state == "transferred"
    (link,) = engine.case_links(case_id)
    assert engine.get(link.case_id).workflow == "heavy"


def test_a_retried_transfer_replays_and_opens_one_case(engine: Engine) -> None:
    case_id = _planned(engine)
    first = engine.transfer(case_id, "heavy", idempotency_key="xfer-1", **LEAD)
    again = engine.transfer(case_id, "heavy", idempotency_key="xfer-1", **LEAD)
    assert again.target.id == first.target.id
    assert len(engine.find(workflow="heavy").items) == 1


def test_the_target_business_key_is_unique_among_its_open_cases(engine: Engine) -> None:
    engine.transfer(_planned(engine, patient="P-7"), "heavy", **LEAD)
    second = _planned(engine, patient="P-7")
    with pytest.raises(BusinessKeyConflict):
        engine.transfer(second, "heavy", **LEAD)
    assert engine.get(second).state == "linking"


def _tamper(engine: Engine, statement: str) -> None:
    with engine._context.store.db.begin() as conn:  # type: ignore[attr-defined]
        conn.execute(sa.text(statement))


def test_audit_verification_catches_a_removed_or_forged_link(engine: Engine) -> None:
    case_id = _planned(engine)
    dst = engine.transfer(case_id, "heavy", **LEAD).target
    other = _planned(engine, patient="P-2")
    _tamper(engine, f"UPDATE case_links SET target_case_id = '{other}'")
    report = engine.verify_audit(case_id)
    assert not report.ok
    assert report.first_broken is not None
    assert report.first_broken.reason == "link_source_mismatch"
    _tamper(engine, "DELETE FROM case_links")
    report = engine.verify_audit()
    assert report.first_broken is not None
    assert (report.first_broken.case_id, report.first_broken.reason) in {
        (case_id, "link_missing"),
        (dst.id, "link_missing"),
    }


def test_step_down_from_intensive_keeps_the_plan_review_date(database_url: str) -> None:
    clock = ManualClock(START)
    with Engine.open(database_url, clock=clock) as eng:
        cm = {"actor": "cm", "roles": ["case_manager"]}
        md = {"actor": "md", "roles": ["team_psychiatrist"]}
        case = eng.open_case(
            "intensive",
            {"patient_id": "P-0042", "program": "act", "priority": "routine", "risk_level": "high"},
            roles=["intake_coordinator"],
            actor="ic",
        )
        eng.send(case.id, "referral_accepted", actor="ic", roles=["intake_coordinator"])
        eng.send(case.id, "first_contact_made", {"contact_date": "2026-03-02"}, **cm)
        eng.send(
            case.id,
            "assessment_completed",
            {"assessed_domains": ["housing"], "risk_level": "moderate"},
            **cm,
        )
        eng.send(case.id, "treatment_plan_signed", {"treatment_goals": ["housing"]}, **md)
        review, _ = _clock(eng.get(case.id), "treatment_plan_review")
        result = eng.transfer(case.id, "brokerage", **md)
        assert (result.target.workflow, result.target.state) == ("brokerage", "assessing")
        assert result.target.record["risk_level"] == "moderate"
        assert _clock(result.target, "annual_renewal") == (review, "pending")
        assert eng.verify_audit().ok


def test_step_down_at_the_plan_review_carries_no_stopped_clock(database_url: str) -> None:
    with Engine.open(database_url, clock=ManualClock(START)) as eng:
        cm = {"actor": "cm", "roles": ["case_manager"]}
        md = {"actor": "md", "roles": ["team_psychiatrist"]}
        case = eng.open_case(
            "intensive",
            {"patient_id": "P-0043", "program": "act", "priority": "routine", "risk_level": "low"},
            roles=["intake_coordinator"],
            actor="ic",
        )
        eng.send(case.id, "referral_accepted", actor="ic", roles=["intake_coordinator"])
        eng.send(case.id, "first_contact_made", {"contact_date": "2026-03-02"}, **cm)
        eng.send(
            case.id,
            "assessment_completed",
            {"assessed_domains": ["housing"], "risk_level": "low"},
            **cm,
        )
        eng.send(case.id, "treatment_plan_signed", {"treatment_goals": ["housing"]}, **md)
        eng.send(case.id, "treatment_plan_review_started", **cm)  # the review clock stops
        target = eng.transfer(case.id, "brokerage", **md).target
        assert [t for t in target.pending_timers if t.scope == "clock"] == []


# -- reopening --------------------------------------------------------------------------


def _closed(engine: Engine, clock: ManualClock) -> str:
    case_id = _planned(engine)
    engine.send(case_id, "linked", **WORKER)
    engine.send(case_id, "close", **WORKER)
    return case_id


def test_a_case_closed_within_the_window_reopens_as_the_same_case(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _closed(engine, clock)
    closed_history = engine.history(case_id)
    clock.advance(timedelta(days=10))
    view = engine.reopen(case_id, **WORKER)
    assert (view.id, view.state, view.closed_at) == (case_id, "monitoring", None)
    assert view.record["reopened"] == 1
    history = engine.history(case_id)
    assert history[: len(closed_history)] == closed_history
    last = history[-1]
    assert (last.event, last.outcome, last.from_state, last.to_state) == (
        "came_back",
        "reopened",
        "closed",
        "monitoring",
    )
    assert _clock(view, "contact")[1] == "pending"  # entering monitoring started it again
    assert engine.verify_audit(case_id).ok


def test_reopening_after_the_window_is_refused_as_window_passed(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _closed(engine, clock)
    clock.advance(timedelta(days=14, seconds=1))
    with pytest.raises(ReopenDenied) as info:
        engine.reopen(case_id, **WORKER)
    assert (info.value.reason, info.value.state, info.value.event) == (
        "window_passed",
        "closed",
        "came_back",
    )
    assert "P14D after the closure" in info.value.detail


def test_the_window_can_count_from_a_record_instant(engine: Engine, clock: ManualClock) -> None:
    case_id = _planned(engine)
    engine.send(case_id, "linked", **WORKER)
    engine.send(case_id, "withdraw", {"seen_on": "2026-02-20"}, **WORKER)
    clock.advance(timedelta(days=15))  # 2026-03-17: 25 days after the visit
    assert engine.reopen(case_id, **WORKER).state == "monitoring"
    engine.send(case_id, "withdraw", {"seen_on": "2026-02-01"}, **WORKER)
    with pytest.raises(ReopenDenied) as info:
        engine.reopen(case_id, **WORKER)
    assert info.value.reason == "window_passed"


def test_reopen_errors_name_the_reason(engine: Engine, clock: ManualClock) -> None:
    case_id = _planned(engine)
    with pytest.raises(ReopenDenied) as open_case:
        engine.reopen(case_id, **WORKER)
    assert open_case.value.reason == "not_closed"
    engine.send(case_id, "linked", **WORKER)
    engine.send(case_id, "close", **WORKER)
    with pytest.raises(ReopenDenied) as role:
        engine.reopen(case_id, **LEAD)
    assert (role.value.reason, role.value.allowed) == ("role_missing", ("worker",))
    with pytest.raises(ReopenDenied) as wrong:
        engine.reopen(case_id, event="came_back_seen", **WORKER)
    assert (wrong.value.reason, wrong.value.allowed) == ("wrong_state", ("withdrawn",))
    with pytest.raises(ReopenDenied) as unknown:
        engine.reopen(case_id, event="no_such_event", **WORKER)
    assert (unknown.value.reason, unknown.value.allowed) == ("wrong_state", ("came_back",))
    with pytest.raises(ReopenDenied) as sent:  # the same checks on the send path
        engine.send(case_id, "came_back", **LEAD)
    assert sent.value.reason == "role_missing"


def test_a_transferred_case_cannot_be_reopened(engine: Engine) -> None:
    case_id = _planned(engine)
    engine.transfer(case_id, "heavy", **LEAD)
    with pytest.raises(ReopenDenied) as info:
        engine.reopen(case_id, **WORKER)
    assert (info.value.reason, info.value.state) == ("wrong_state", "transferred")


def _hospital_case(eng: Engine) -> str:
    cm = {"actor": "cm", "roles": ["case_manager"]}
    case = eng.open_case(
        "hospital",
        {
            "patient_id": "P-0501",
            "program": "acute-medicine",
            "priority": "immediate",
            "risk_level": "high",
            "medicare_beneficiary": False,
        },
        **cm,
    )
    ur = {"actor": "ur", "roles": ["utilization_reviewer"]}
    eng.send(case.id, "admission_review_completed", {"continued_stay_days": 5}, **ur)
    eng.send(case.id, "discharge_planning_started", **cm)
    eng.send(case.id, "patient_education_completed", {"education_topics": ["medication"]}, **cm)
    eng.send(
        case.id,
        "discharge_ordered",
        {"disposition": "home"},
        actor="md",
        roles=["attending_physician"],
    )
    eng.send(case.id, "patient_discharged", **cm)
    return case.id


def test_hospital_readmission_within_30_days_of_discharge_reopens_the_closed_case(
    database_url: str,
) -> None:
    clock = ManualClock(START)
    cm = {"actor": "cm", "roles": ["case_manager"]}
    sup = {"actor": "sup", "roles": ["supervisor"]}
    with Engine.open(database_url, clock=clock) as eng:
        case_id = _hospital_case(eng)
        clock.advance(timedelta(days=3))
        for _ in range(3):
            eng.send(case_id, "contact_attempt_failed", **cm)
        clock.advance(timedelta(days=2))
        assert eng.send(case_id, "approve_closure", {"closure_date": "2026-03-07"}, **sup).closed
        clock.advance(timedelta(days=10))  # closed 10 days ago, 15 days after discharge
        with pytest.raises(EventRejected) as planned:
            eng.reopen(case_id, {"planned": True}, **cm)
        assert planned.value.reason == "guard_false"  # HRRP excludes planned readmissions
        view = eng.reopen(case_id, {"planned": False}, **cm)
        assert (view.state, view.closed_at, view.record["readmissions"]) == ("admitted", None, 1)
        assert {t.name for t in view.pending_timers} == {"admission_review"}
        assert eng.history(case_id)[-1].outcome == "reopened"
        assert eng.verify_audit().ok


def test_hospital_case_closed_after_the_30_day_window_is_not_reopened(database_url: str) -> None:
    clock = ManualClock(START)
    cm = {"actor": "cm", "roles": ["case_manager"]}
    with Engine.open(database_url, clock=clock) as eng:
        case_id = _hospital_case(eng)
        clock.advance(timedelta(days=30, hours=1))
        assert eng.fire_due_timers() >= 1  # the readmission window closed: closing review
        eng.send(
            case_id,
            "approve_closure",
            {"closure_date": "2026-04-01"},
            actor="sup",
            roles=["supervisor"],
        )
        clock.advance(timedelta(days=10))
        with pytest.raises(ReopenDenied) as info:
            eng.reopen(case_id, {"planned": False}, **cm)
        assert info.value.reason == "window_passed"
        assert "P30D after case.discharge_date" in info.value.detail


def test_reopening_reclaims_the_business_key(engine: Engine, clock: ManualClock) -> None:
    first = _closed(engine, clock)
    second = engine.open_case("light", {"patient_id": "P-1"}, **WORKER)  # P-1 is free again
    with pytest.raises(BusinessKeyConflict):
        engine.reopen(first, **WORKER)
    assert engine.get(first).state == "closed"
    engine.send(second.id, "accepted", **WORKER)
    engine.send(second.id, "assessed", **WORKER)
    engine.send(second.id, "planned", **WORKER)
    engine.send(second.id, "linked", **WORKER)
    engine.send(second.id, "close", **WORKER)
    assert engine.reopen(first, **WORKER).state == "monitoring"
