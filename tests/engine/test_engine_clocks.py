"""Case clocks on the real engine: deadlines, watchdogs, holds, anchors, calendars."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from engine.clock import ManualClock
from engine.errors import PayloadInvalid
from engine.runtime.engine import Engine
from engine.runtime.views import CaseView, TimerView

PROGRAM = Path(__file__).resolve().parent.parent / "fixtures" / "clocks" / "program.yaml"
CM = {"actor": "cm-1", "roles": ["case_manager"]}
START = datetime(2026, 12, 4, 9, 0, tzinfo=UTC)  # a Friday


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(START)


@pytest.fixture
def engine(database_url: str, clock: ManualClock) -> Iterator[Engine]:
    eng = Engine.open(database_url, workflows=[PROGRAM], clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def _clocks(view: CaseView, name: str | None = None) -> list[TimerView]:
    return [t for t in view.pending_timers if t.scope == "clock" and name in (None, t.name)]


def _to_monitoring(engine: Engine, assessed: str = "2026-12-01") -> str:
    case = engine.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
    engine.send(case.id, "accepted", **CM)
    engine.send(case.id, "assessment_completed", {"last_assessment_date": assessed}, **CM)
    engine.send(case.id, "plan_signed", **CM)
    engine.send(case.id, "services_started", **CM)
    return case.id


def test_deadline_counts_from_the_record_date_whatever_the_state(engine: Engine) -> None:
    case_id = _to_monitoring(engine, "2026-12-01")
    (reassess,) = _clocks(engine.get(case_id), "annual_reassessment")
    assert reassess.due_at == datetime(2027, 12, 1, tzinfo=UTC)
    assert reassess.status == "pending"
    assert reassess.state == "planning"


def test_a_hold_neither_restarts_nor_pauses_a_clock_that_is_not_pausable(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _to_monitoring(engine)
    clock.advance(days=30)
    engine.send(case_id, "hospitalised", **CM)
    clock.advance(days=30)
    engine.send(case_id, "discharged", **CM)
    (reassess,) = _clocks(engine.get(case_id), "annual_reassessment")
    assert reassess.due_at == datetime(2027, 12, 1, tzinfo=UTC)


def test_restart_re_anchors_on_the_new_date(engine: Engine) -> None:
    case_id = _to_monitoring(engine, "2026-12-01")
    engine.send(case_id, "reassessment_completed", {"last_assessment_date": "2027-06-10"}, **CM)
    (reassess,) = _clocks(engine.get(case_id), "annual_reassessment")
    assert reassess.due_at == datetime(2028, 6, 10, tzinfo=UTC)
    cancelled = engine.timers(case_id=case_id, status="cancelled").items
    assert sorted(t.name for t in cancelled if t.scope == "clock") == [
        "annual_reassessment",
        "intake_decision",
    ]


def test_missing_anchor_rejects_the_starting_event_with_the_fields_path(engine: Engine) -> None:
    case = engine.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
    engine.send(case.id, "accepted", **CM)
    with pytest.raises(PayloadInvalid) as info:
        engine.send(case.id, "assessment_completed", {}, **CM)
    assert info.value.json_path == "$.last_assessment_date"
    assert "annual_reassessment" in info.value.problem
    assert "P-1" not in str(info.value)
    assert engine.get(case.id).state == "assessing"  # nothing was committed


def test_anchor_beyond_the_calendar_is_rejected_not_a_worker_error(engine: Engine) -> None:
    case = engine.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
    engine.send(case.id, "accepted", **CM)
    with pytest.raises(PayloadInvalid) as info:
        engine.send(case.id, "assessment_completed", {"last_assessment_date": "9999-06-01"}, **CM)
    assert info.value.json_path == "$.last_assessment_date"
    assert "range" in info.value.problem


def test_anchor_far_in_the_past_fires_once_late_and_marks_the_case_overdue(
    engine: Engine,
) -> None:
    case_id = _to_monitoring(engine, "2020-03-01")
    assert engine.fire_due_timers() == 1
    assert engine.fire_due_timers() == 0
    fired = [h for h in engine.history(case_id) if h.timer == "annual_reassessment"]
    assert len(fired) == 1
    (row,) = fired
    assert row.event == "reassessment_overdue"
    assert row.outcome == "timer"
    assert row.payload == {"clock": "deadline"}
    due = datetime(2021, 3, 1, tzinfo=UTC)
    assert row.lateness_seconds == pytest.approx((START - due).total_seconds())
    assert [c.id for c in engine.find(overdue=True).items] == [case_id]
    (over,) = _clocks(engine.get(case_id), "annual_reassessment")
    assert over.status == "overdue"
    # a state change does not clear a clock's overdue; restarting the clock does
    engine.send(case_id, "hospitalised", **CM)
    assert [c.id for c in engine.find(overdue=True).items] == [case_id]
    engine.send(case_id, "discharged", **CM)
    engine.send(case_id, "reassessment_completed", {"last_assessment_date": "2026-12-04"}, **CM)
    assert engine.find(overdue=True).items == ()
    (again,) = _clocks(engine.get(case_id), "annual_reassessment")
    assert again.status == "pending"


def test_stop_condition_is_checked_after_each_change(engine: Engine) -> None:
    case_id = _to_monitoring(engine)
    engine.send(case_id, "reassessment_waived", **CM)
    assert _clocks(engine.get(case_id), "annual_reassessment") == []


def test_watchdog_lapses_rearms_and_is_reset_by_its_events(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _to_monitoring(engine)
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.due_at == START + timedelta(days=30)
    clock.advance(days=10)
    engine.send(case_id, "contact_recorded", **CM)
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.due_at == START + timedelta(days=40)
    clock.advance(days=30, hours=1)
    assert engine.fire_due_timers() == 1
    lapse = engine.history(case_id)[-1]
    assert (lapse.event, lapse.timer, lapse.payload) == (
        "contact_lapsed",
        "monthly_contact",
        {"clock": "watchdog"},
    )
    assert [c.id for c in engine.find(overdue=True).items] == [case_id]
    rows = _clocks(engine.get(case_id), "monthly_contact")
    assert sorted(t.status for t in rows) == ["overdue", "pending"]
    (rearmed,) = [t for t in rows if t.status == "pending"]
    assert rearmed.due_at == START + timedelta(days=70)  # 30 days from the lapse
    engine.send(case_id, "contact_recorded", **CM)
    assert engine.find(overdue=True).items == ()
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.status == "pending"
    assert dog.due_at == clock.now() + timedelta(days=30)


def test_pausable_watchdog_resumes_after_a_hold_with_the_time_left(
    engine: Engine, clock: ManualClock
) -> None:
    case_id = _to_monitoring(engine)
    clock.advance(days=10)
    engine.send(case_id, "hospitalised", **CM)
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.status == "paused"
    assert dog.remaining_seconds == 20 * 86400
    clock.advance(days=45)
    assert engine.fire_due_timers() == 0  # paused: no lapse in hospital
    engine.send(case_id, "discharged", **CM)
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.status == "pending"
    assert dog.due_at == clock.now() + timedelta(days=20)


def test_business_day_clock_uses_its_named_calendar(engine: Engine) -> None:
    case = engine.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
    engine.send(case.id, "accepted", **CM)  # Friday 2026-12-04
    (decision,) = _clocks(engine.get(case.id), "intake_decision")
    # Saturday is a working day of this calendar, Sunday is not: Sat, Mon
    assert decision.due_at == datetime(2026, 12, 7, 9, 0, tzinfo=UTC)
    engine.send(case.id, "assessment_completed", {"last_assessment_date": "2026-12-04"}, **CM)
    assert _clocks(engine.get(case.id), "intake_decision") == []


def test_a_final_state_stops_every_clock(engine: Engine, clock: ManualClock) -> None:
    case_id = _to_monitoring(engine, "2020-01-01")
    engine.fire_due_timers()
    engine.send(case_id, "close", **CM)
    assert _clocks(engine.get(case_id)) == []
    assert engine.find(overdue=True).items == ()
    clock.advance(days=400)
    assert engine.fire_due_timers() == 0


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(
    pattern=st.lists(
        st.tuples(st.integers(0, 6 * 24), st.integers(1, 40 * 24)), min_size=0, max_size=4
    )
)
def test_time_left_is_kept_across_any_hold_pattern(
    engine: Engine, clock: ManualClock, pattern: list[tuple[int, int]]
) -> None:
    """Run r hours, hold h hours, repeatedly: the watchdog is due 30 days of running time in."""
    case_id = _to_monitoring(engine)
    ran = timedelta()
    for run_hours, hold_hours in pattern:
        clock.advance(hours=run_hours)
        ran += timedelta(hours=run_hours)
        engine.send(case_id, "hospitalised", **CM)
        clock.advance(hours=hold_hours)
        engine.send(case_id, "discharged", **CM)
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    assert dog.due_at == clock.now() + timedelta(days=30) - ran
    engine.send(case_id, "close", **CM)


FIELD_CLOCK = """\
  - name: plan_review
    description: A plan review every 90 days from the last assessment date (program rule).
    start: {field: last_assessment_date}
    anchor: case.last_assessment_date
    every: P90D
    event: plan_review_due
    stop: {phases: [closure]}
"""
FIELD_HANDLER = """\
  - event: plan_review_due
    from: open
    internal: true
"""


@pytest.fixture
def field_engine(database_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Engine]:
    text = PROGRAM.read_text(encoding="utf-8")
    text = text.replace("clocks:\n", "clocks:\n" + FIELD_CLOCK, 1)
    text = text.replace("shared_transitions:\n", "shared_transitions:\n" + FIELD_HANDLER, 1)
    path = tmp_path / "program.yaml"
    path.write_text(text, encoding="utf-8")
    eng = Engine.open(database_url, workflows=[path], clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def test_field_start_and_recurring_clock_follow_the_record_date(
    field_engine: Engine, clock: ManualClock
) -> None:
    engine = field_engine
    case = engine.open_case("clockdemo", {"patient_id": "P-1"}, **CM)
    engine.send(case.id, "accepted", **CM)
    assert _clocks(engine.get(case.id), "plan_review") == []  # the field is not set yet
    engine.send(case.id, "assessment_completed", {"last_assessment_date": "2026-11-01"}, **CM)
    (review,) = _clocks(engine.get(case.id), "plan_review")
    assert review.due_at == datetime(2027, 1, 30, tzinfo=UTC)
    assert review.recurring
    clock.set(datetime(2027, 1, 30, 1, tzinfo=UTC))
    assert engine.fire_due_timers() == 1
    (review,) = _clocks(engine.get(case.id), "plan_review")
    assert review.due_at == datetime(2027, 4, 30, tzinfo=UTC)  # the next period
    assert engine.find(overdue=True).items == ()  # a cadence is not a missed deadline


_OPS = st.lists(
    st.tuples(st.sampled_from(["run", "contact", "hold", "discharge"]), st.integers(1, 20 * 24)),
    max_size=10,
)


@pytest.mark.parametrize("database_url", ["sqlite"], indirect=True)
@settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture],
)
@given(ops=_OPS)
def test_watchdog_matches_a_model_of_resets_holds_and_running_time(
    engine: Engine, clock: ManualClock, ops: list[tuple[str, int]]
) -> None:
    """Any mix of running time, contacts (restart) and holds (pause): the watchdog is due
    when 30 days of running time have passed since the last contact."""
    case_id = _to_monitoring(engine)
    left = timedelta(days=30)  # the model: running time left before the lapse
    held = False
    for op, hours in ops:
        step = timedelta(hours=hours)
        if op == "run":
            if not held and step >= left:
                continue  # keep the model free of lapses
            clock.advance(step)
            if not held:
                left -= step
        elif op == "contact" and not held:
            engine.send(case_id, "contact_recorded", **CM)
            left = timedelta(days=30)
        elif op == "hold" and not held:
            engine.send(case_id, "hospitalised", **CM)
            held = True
        elif op == "discharge" and held:
            engine.send(case_id, "discharged", **CM)
            held = False
    (dog,) = _clocks(engine.get(case_id), "monthly_contact")
    if held:
        assert dog.status == "paused"
        assert dog.remaining_seconds == left.total_seconds()
    else:
        assert dog.status == "pending"
        assert dog.due_at == clock.now() + left
    engine.send(case_id, "close", **CM)
