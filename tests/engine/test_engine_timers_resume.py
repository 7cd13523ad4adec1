"""Resuming paused deadlines keeps their local-time meaning (issue 4 items 5 and 6).

A business-day deadline resumes with the business days that were left (never
onto a weekend or holiday); a calendar deadline resumes with the local
wall-clock time that was left, so a daylight-saving change during the hold
moves it by no hour. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest
from engine_support import CLERK, RECORD

from engine.clock import ManualClock
from engine.runtime.engine import Engine
from engine.timing.calendar import localize, zone

NY = zone("America/New_York")

WORKFLOW = """\
name: resumetest
version: 1
title: Resume test workflow
description: Pausable deadlines in a zone with daylight saving.
model: targeted
timezone: America/New_York
calendar:
  country: US
  subdivision: NY
roles:
  clerk:
    description: does everything
case_schema:
  type: object
  additionalProperties: false
  required: [patient_id]
  properties:
    patient_id: {type: string}
    note: {type: string}
initial: intake
states:
  intake:
    phase: intake
    description: Deadlines run.
    timers:
      - name: contact_deadline
        business_days: 3
        event: contact_overdue
        pausable: true
      - name: assessment_deadline
        after: P10D
        event: assessment_overdue
        pausable: true
    transitions:
      - {event: contact_overdue, internal: true}
      - {event: assessment_overdue, internal: true}
      - {event: put_on_hold, target: on_hold, roles: [clerk]}
      - {event: next, target: assessing, roles: [clerk]}
  on_hold:
    phase: monitoring
    description: Paused.
    hold: true
    transitions:
      - {event: resume, target: "@previous", roles: [clerk]}
  assessing:
    phase: assessment
    description: Filler.
    transitions:
      - {event: next, target: planning, roles: [clerk]}
  planning:
    phase: planning
    description: Filler.
    transitions:
      - {event: next, target: delivering, roles: [clerk]}
  delivering:
    phase: service_delivery
    description: Filler.
    transitions:
      - {event: next, target: closed, roles: [clerk]}
  closed:
    phase: closure
    description: Closed.
    final: true
"""


def local(y: int, mo: int, d: int, h: int = 9, mi: int = 0) -> datetime:
    """A New York wall-clock time as a UTC instant."""
    return localize(datetime(y, mo, d, h, mi), NY)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock(local(2026, 1, 28))  # a Wednesday, 09:00 New York


@pytest.fixture
def resume_engine(database_url: str, clock: ManualClock, tmp_path: Path) -> Iterator[Engine]:
    folder = tmp_path / "workflows"
    folder.mkdir()
    (folder / "resumetest.yaml").write_text(WORKFLOW, encoding="utf-8")
    eng = Engine.open(database_url, workflows=folder, clock=clock)
    try:
        yield eng
    finally:
        eng.close()


def due_of(engine: Engine, case_id: str, name: str) -> datetime:
    (timer,) = [t for t in engine.get(case_id).pending_timers if t.name == name]
    assert timer.due_at is not None
    return timer.due_at


def paused_of(engine: Engine, case_id: str, name: str) -> float | None:
    (timer,) = [t for t in engine.timers(case_id=case_id, status="paused").items if t.name == name]
    return timer.remaining_seconds


def test_business_day_deadline_resumed_on_friday_lands_on_next_business_day_not_weekend(
    resume_engine: Engine, clock: ManualClock
) -> None:
    case = resume_engine.open_case("resumetest", RECORD, **CLERK)
    # Wed 28 Jan + 3 business days: Thu 29, Fri 30, Mon 2 Feb at 09:00
    assert due_of(resume_engine, case.id, "contact_deadline") == local(2026, 2, 2)
    clock.set(local(2026, 1, 31))  # Saturday: one business day (Mon 2 Feb) is left
    resume_engine.send(case.id, "put_on_hold", **CLERK)
    assert (
        paused_of(resume_engine, case.id, "contact_deadline") == timedelta(days=2).total_seconds()
    )
    clock.set(local(2026, 2, 6))  # resumed on Friday 6 Feb, 09:00
    resume_engine.send(case.id, "resume", **CLERK)
    due = due_of(resume_engine, case.id, "contact_deadline")
    # the one business day left is Monday 9 Feb; "now + 2 days" would be Sunday 8 Feb
    assert due == local(2026, 2, 9)
    assert due.astimezone(NY).weekday() == 0
    clock.set(local(2026, 2, 9, 8, 59))
    assert resume_engine.fire_due_timers() == 0
    clock.set(local(2026, 2, 9))
    assert resume_engine.fire_due_timers() == 1
    assert resume_engine.history(case.id)[-1].event == "contact_overdue"


def test_calendar_deadline_paused_across_spring_dst_change_keeps_its_wall_clock_time(
    resume_engine: Engine, clock: ManualClock
) -> None:
    clock.set(local(2026, 3, 2))  # Monday 2 March 09:00 EST
    case = resume_engine.open_case("resumetest", RECORD, **CLERK)
    assert due_of(resume_engine, case.id, "assessment_deadline") == local(2026, 3, 12)
    clock.set(local(2026, 3, 4))  # Wednesday 4 March 09:00 EST: 8 local days left
    resume_engine.send(case.id, "put_on_hold", **CLERK)
    clock.set(local(2026, 3, 13))  # Friday 13 March 09:00 EDT (clocks went forward on 8 March)
    resume_engine.send(case.id, "resume", **CLERK)
    due = due_of(resume_engine, case.id, "assessment_deadline")
    # 09:00 local on Saturday 21 March; "now + remaining seconds" would give 08:00
    assert due == local(2026, 3, 21)
    assert due.astimezone(NY).hour == 9
    assert due - clock.now() == timedelta(days=8)  # no DST change in between


def test_pausing_and_resuming_twice_keeps_the_wall_clock_time_left_at_each_pause(
    resume_engine: Engine, clock: ManualClock
) -> None:
    clock.set(local(2026, 3, 2))  # Monday 2 March 09:00 EST, due Thursday 12 March 09:00 EDT
    case = resume_engine.open_case("resumetest", RECORD, **CLERK)
    clock.set(local(2026, 3, 3))  # 9 local days left
    resume_engine.send(case.id, "put_on_hold", **CLERK)
    clock.set(local(2026, 3, 4))
    resume_engine.send(case.id, "resume", **CLERK)
    assert due_of(resume_engine, case.id, "assessment_deadline") == local(2026, 3, 13)
    clock.set(local(2026, 3, 6, 21))  # Friday 21:00 EST: 6 days 12 hours of wall clock left
    resume_engine.send(case.id, "put_on_hold", **CLERK)
    left = paused_of(resume_engine, case.id, "assessment_deadline")
    assert left == timedelta(days=6, hours=11).total_seconds()  # real seconds: DST in between
    clock.set(local(2026, 3, 9))  # Monday 09:00 EDT
    resume_engine.send(case.id, "resume", **CLERK)
    assert due_of(resume_engine, case.id, "assessment_deadline") == local(2026, 3, 15, 21)
    assert resume_engine.timers(case_id=case.id, status="paused").items == ()
    clock.set(local(2026, 3, 15, 20, 59))
    resume_engine.fire_due_timers()
    assert "assessment_overdue" not in [h.event for h in resume_engine.history(case.id)]
    clock.set(local(2026, 3, 15, 21))
    resume_engine.fire_due_timers()
    events = [h.event for h in resume_engine.history(case.id)]
    assert events.count("assessment_overdue") == 1


def test_timer_paused_without_pause_facts_resumes_with_the_seconds_that_were_left(
    resume_engine: Engine, clock: ManualClock
) -> None:
    # a row paused before revision 0004 has remaining_seconds but no paused_at/paused_due_at
    from engine.runtime.timers import resumed_due

    definition = resume_engine.definition("resumetest")
    state = definition.states["intake"]
    now = local(2026, 3, 13)
    from dataclasses import replace

    from engine.store.records import TimerRecord, TimerStatus

    old_row = TimerRecord(
        1,
        "case",
        "assessment_deadline",
        "assessment_overdue",
        "intake",
        1,
        None,
        TimerStatus.PAUSED,
        False,
        True,
        3600.0,
        now,
    )
    assert resumed_due(old_row, state, definition, now) == now + timedelta(hours=1)
    new_row = replace(old_row, paused_at=local(2026, 3, 4), paused_due_at=local(2026, 3, 12))
    assert resumed_due(new_row, state, definition, now) == local(2026, 3, 21)
