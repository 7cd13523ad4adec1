"""Opening cases, sending events, reading them back; every rejection reason."""

from __future__ import annotations

from datetime import timedelta

import pytest
from engine_support import CLERK, MANAGER, RECORD

from engine.errors import CaseNotFound, EventRejected, PayloadInvalid, UnknownWorkflow
from engine.runtime.engine import Engine


def test_open_case_starts_in_initial_state_with_timers_and_history(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    assert (case.state, case.phase, case.version, case.workflow_version) == (
        "intake",
        "intake",
        1,
        1,
    )
    assert case.record["attempts"] == 0  # schema default filled in
    assert sorted(t.name for t in case.pending_timers) == ["contact_deadline", "nudge"]
    assert engine.get(case.id) == case
    (h,) = engine.history(case.id)
    assert (h.seq, h.event, h.from_state, h.to_state, h.outcome) == (
        1,
        "@open",
        None,
        "intake",
        "opened",
    )
    assert h.actor == "clerk-1"
    assert h.roles == ("clerk",)


def test_send_moves_case_writes_record_and_rearms_timers(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    case = engine.send(case.id, "contacted", **CLERK)
    assert (case.state, case.phase, case.version) == ("assessing", "assessment", 2)
    assert [t.name for t in case.pending_timers] == ["weekly_check"]
    case = engine.send(case.id, "assessed", {"score": 7, "note": "ok"}, **MANAGER)
    assert case.state == "planning"
    assert case.record["score"] == 7
    assert case.pending_timers == ()
    assert engine.get(case.id) == case
    assert [h.seq for h in engine.history(case.id)] == [1, 2, 3]
    assert engine.timers(case_id=case.id, status="pending").items == ()


def test_internal_transition_keeps_state_and_timers(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    after = engine.send(case.id, "attempt_failed", **CLERK)
    assert after.state == "intake"
    assert after.record["attempts"] == 1
    assert after.pending_timers == case.pending_timers
    assert engine.history(case.id)[-1].outcome == "internal"


def test_guard_picks_first_true_transition(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "attempt_failed", **CLERK)
    engine.send(case.id, "attempt_failed", **CLERK)
    closed = engine.send(case.id, "attempt_failed", **CLERK)
    assert closed.state == "closed"
    assert closed.closed
    assert closed.record["attempts"] == 3


def test_wrong_state_rejection_names_state_and_allowed_events(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    with pytest.raises(EventRejected) as err:
        engine.send(case.id, "assessed", {"score": 1}, **MANAGER)
    assert err.value.reason == "wrong_state"
    assert err.value.state == "intake"
    assert "put_on_hold" in err.value.allowed_events
    assert engine.get(case.id).version == 1


def test_role_missing_rejection_lists_needed_roles(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    with pytest.raises(EventRejected) as err:
        engine.send(case.id, "contacted", **MANAGER)
    assert err.value.reason == "role_missing"
    assert "clerk" in err.value.detail


def test_timer_only_event_is_refused_to_people(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    with pytest.raises(EventRejected) as err:
        engine.send(case.id, "contact_overdue", actor="x", roles=["clerk", "manager", "system"])
    assert err.value.reason == "role_missing"


def test_guard_false_rejection_names_guard(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(EventRejected) as err:
        engine.send(case.id, "assessed", {"score": 2}, **MANAGER)
    assert err.value.reason == "guard_false"
    assert "event.score >= 5" in err.value.detail


def test_payload_invalid_names_json_path_not_value(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(PayloadInvalid) as err:
        engine.send(case.id, "assessed", {"score": "SECRET-VALUE"}, **MANAGER)
    assert err.value.json_path == "$.score"
    assert "SECRET-VALUE" not in str(err.value)
    with pytest.raises(PayloadInvalid) as missing:
        engine.send(case.id, "assessed", {}, **MANAGER)
    assert missing.value.json_path == "$.score"


def test_record_revalidated_against_case_schema(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    with pytest.raises(PayloadInvalid) as err:
        engine.send(case.id, "annotate", {"note": "x" * 30 + "PHI"}, **CLERK)
    assert err.value.what == "case record"
    assert err.value.json_path == "$.note"
    assert "PHI" not in str(err.value)
    assert engine.get(case.id).version == 2


def test_open_case_validates_record(engine: Engine) -> None:
    with pytest.raises(PayloadInvalid) as err:
        engine.open_case("enginetest", {"patient_id": "Jane Doe"}, **CLERK)
    assert err.value.json_path == "$.patient_id"
    assert "Jane" not in str(err.value)
    with pytest.raises(PayloadInvalid) as missing:
        engine.open_case("enginetest", {}, **CLERK)
    assert missing.value.json_path == "$.patient_id"


def test_unknown_case_and_workflow(engine: Engine) -> None:
    with pytest.raises(CaseNotFound):
        engine.get("nope")
    with pytest.raises(CaseNotFound):
        engine.send("nope", "contacted", **CLERK)
    with pytest.raises(CaseNotFound):
        engine.history("nope")
    with pytest.raises(UnknownWorkflow):
        engine.open_case("nope", RECORD, **CLERK)
    with pytest.raises(UnknownWorkflow):
        engine.definition("enginetest", 9)


def test_views_are_immutable(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    with pytest.raises(TypeError):
        case.record["patient_id"] = "P-9999"  # type: ignore[index]
    with pytest.raises(AttributeError):
        case.state = "closed"  # type: ignore[misc]


def test_allowed_events_explains_every_event(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    options = {o.event: o for o in engine.allowed_events(case.id, ["clerk"])}
    assert options["contacted"].allowed
    assert options["assessed"].reason == "wrong_state"
    assert options["contact_overdue"].reason == "role_missing"
    assert options["nudge_due"].reason == "role_missing"
    engine.send(case.id, "contacted", **CLERK)
    options = {o.event: o for o in engine.allowed_events(case.id, ["clerk"])}
    assert options["assessed"].reason == "role_missing"
    assert options["assessed"].roles == ("manager",)
    assert options["annotate"].allowed


def test_find_filters_and_paginates(engine: Engine, clock) -> None:
    ids = []
    for _ in range(5):
        ids.append(engine.open_case("enginetest", RECORD, **CLERK).id)
        clock.advance(minutes=1)
    engine.send(ids[0], "contacted", **CLERK)
    assert [c.id for c in engine.find(state="assessing").items] == [ids[0]]
    assert len(engine.find(phase="intake").items) == 4
    page1 = engine.find(workflow="enginetest", limit=2)
    page2 = engine.find(workflow="enginetest", limit=2, cursor=page1.next_cursor)
    page3 = engine.find(workflow="enginetest", limit=2, cursor=page2.next_cursor)
    got = [c.id for p in (page1, page2, page3) for c in p.items]
    assert got == ids
    assert page3.next_cursor is None
    assert engine.find(closed=True).items == ()
    start = engine.get(ids[0]).opened_at
    assert len(engine.find(opened_after=start + timedelta(seconds=90)).items) == 3
    assert len(engine.find(opened_before=start + timedelta(seconds=90)).items) == 2


def test_schema_defaults_do_not_override_given_values(engine: Engine) -> None:
    case = engine.open_case("enginetest", {**RECORD, "attempts": 2}, **CLERK)
    assert case.record["attempts"] == 2
