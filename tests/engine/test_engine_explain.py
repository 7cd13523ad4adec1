"""``Engine.explain``: why a case is where it is, on SQLite and PostgreSQL."""

from __future__ import annotations

import dataclasses
import json
from datetime import timedelta

import pytest
from engine_support import CLERK, MANAGER, RECORD

from engine import CaseExplanation
from engine.clock import ManualClock
from engine.errors import CaseNotFound
from engine.runtime.engine import Engine


def test_explain_reports_time_in_state_and_timers_due_that_nobody_fired(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(days=2, hours=1)
    why = engine.explain(case.id)
    assert isinstance(why, CaseExplanation)
    assert (why.case_id, why.state, why.phase, why.version) == (case.id, "intake", "intake", 1)
    assert why.as_of == clock.now()
    assert why.in_state_since == case.opened_at
    assert why.seconds_in_state == timedelta(days=2, hours=1).total_seconds()
    assert why.fired_deadlines == ()
    overdue = {t.timer: t for t in why.overdue_timers}
    assert set(overdue) == {"nudge", "contact_deadline"}
    assert overdue["contact_deadline"].event == "contact_overdue"
    assert overdue["contact_deadline"].overdue_seconds == timedelta(hours=1).total_seconds()
    assert overdue["nudge"].overdue_seconds == timedelta(days=1, hours=1).total_seconds()
    assert why.last_event is not None
    assert (why.last_event.event, why.last_event.actor) == ("@open", "clerk-1")


def test_explain_lists_deadlines_that_fired_while_the_case_stayed(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(days=2, hours=1)
    assert engine.fire_due_timers() == 2
    why = engine.explain(case.id)
    assert why.state == "intake"
    assert why.overdue_timers == ()
    assert why.pending_timers == ()  # nothing will move it but an event
    # the nudge fired too, but its guard was false (outcome "timer_ignored"): not a deadline
    (fired,) = why.fired_deadlines
    assert (fired.timer, fired.event) == ("contact_deadline", "contact_overdue")
    assert fired.fired_at == clock.now()
    assert why.last_event is not None
    assert (why.last_event.seq, why.last_event.outcome) == (fired.seq, "timer")


def test_explain_says_what_would_move_the_case_and_who_may_send_it(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    why = engine.explain(case.id)
    moves = {o.event: o.roles for o in why.waiting_for}
    assert moves["contacted"] == ("clerk",)
    assert moves["put_on_hold"] == ("clerk", "manager")
    options = {o.event: o for o in why.events}
    assert options["contact_overdue"].reason == "role_missing"  # only the engine sends it
    assert options["assessed"].reason == "wrong_state"
    assert set(options) == set(engine.definition("enginetest").events)


def test_explain_measures_time_from_entering_the_current_state(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(hours=5)
    moved = engine.send(case.id, "contacted", **CLERK)
    clock.advance(hours=3)
    why = engine.explain(case.id)
    assert why.state == "assessing"
    assert why.in_state_since == moved.updated_at
    assert why.seconds_in_state == timedelta(hours=3).total_seconds()
    assert [t.name for t in why.pending_timers] == ["weekly_check"]
    assert why.fired_deadlines == ()


def test_explain_of_a_closed_case_has_nothing_waiting(engine: Engine) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    engine.send(case.id, "assessed", {"score": 9}, **MANAGER)
    engine.send(case.id, "plan_done", **MANAGER)
    engine.send(case.id, "finish", **MANAGER)
    why = engine.explain(case.id)
    assert why.closed
    assert why.closed_at is not None
    assert why.state == "closed"
    assert why.waiting_for == ()


def test_explain_is_a_frozen_view_without_case_data(engine: Engine, clock: ManualClock) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(days=3)
    engine.fire_due_timers()
    why = engine.explain(case.id)
    with pytest.raises(dataclasses.FrozenInstanceError):
        why.state = "closed"  # type: ignore[misc]
    doc = json.loads(json.dumps(why.to_dict()))
    assert doc["case_id"] == case.id
    assert doc["in_state_since"] == case.opened_at.isoformat()
    assert [d["timer"] for d in doc["fired_deadlines"]] == ["contact_deadline"]
    assert "P-0001" not in json.dumps(doc)  # ids and names only, never the record


def test_explain_unknown_case_raises_case_not_found(engine: Engine) -> None:
    with pytest.raises(CaseNotFound):
        engine.explain("no-such-case")
