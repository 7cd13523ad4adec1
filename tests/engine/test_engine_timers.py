"""Timers: armed with the state entry, fired once through the transition path."""

from __future__ import annotations

from datetime import timedelta

from engine_support import CLERK, RECORD

from engine.clock import ManualClock
from engine.runtime.engine import Engine


def test_due_timer_fires_once_with_lateness_and_sets_overdue(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(days=1, hours=1)
    assert engine.fire_due_timers() == 1  # nudge (guard false: timer_ignored)
    clock.advance(days=1)
    assert engine.fire_due_timers() == 1  # contact_deadline
    assert engine.fire_due_timers() == 0
    rows = engine.history(case.id)
    assert [(h.event, h.outcome, h.timer) for h in rows[1:]] == [
        ("nudge_due", "timer_ignored", "nudge"),
        ("contact_overdue", "timer", "contact_deadline"),
    ]
    assert rows[1].actor == "timer"
    assert rows[1].roles == ("system",)
    assert rows[1].lateness_seconds == 3600.0
    assert rows[2].lateness_seconds == 3600.0
    assert [c.id for c in engine.find(overdue=True).items] == [case.id]
    assert engine.find(overdue=False).items == ()
    assert [o.action for o in engine.outbox().items] == ["escalate"]
    # leaving the state clears overdue
    engine.send(case.id, "contacted", **CLERK)
    assert engine.find(overdue=True).items == ()


def test_pending_past_due_timer_counts_as_overdue(engine: Engine, clock: ManualClock) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    assert engine.find(overdue=True).items == ()
    clock.advance(days=1, seconds=1)
    assert [c.id for c in engine.find(overdue=True).items] == [case.id]
    assert engine.stats().overdue_timers == 1


def test_leaving_state_cancels_its_timers(engine: Engine, clock: ManualClock) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    cancelled = engine.timers(case_id=case.id, status="cancelled").items
    assert sorted(t.name for t in cancelled) == ["contact_deadline", "nudge"]
    clock.advance(days=3)
    assert engine.fire_due_timers() == 0
    assert len(engine.history(case.id)) == 2


def test_recurring_timer_rearms_and_catches_up_once(engine: Engine, clock: ManualClock) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "contacted", **CLERK)
    (first,) = engine.get(case.id).pending_timers
    clock.advance(days=7)
    assert engine.fire_due_timers() == 1
    (second,) = engine.get(case.id).pending_timers
    assert second.due_at == first.due_at + timedelta(days=7)
    clock.advance(days=7 * 3 + 1)  # three periods passed while "down"
    assert engine.fire_due_timers() == 1
    (third,) = engine.get(case.id).pending_timers
    assert third.due_at > clock.now()
    last = engine.history(case.id)[-1]
    assert last.payload["skipped_periods"] == 2
    assert engine.find(overdue=True).items == ()  # recurring firings are not deadlines missed


def test_hold_pauses_pausable_timers_and_resume_restores_remaining_time(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    opened = clock.now()
    clock.advance(hours=12)
    held = engine.send(case.id, "put_on_hold", {"hold_reason": "hospitalised"}, **CLERK)
    assert held.state == "on_hold"
    paused = engine.timers(case_id=case.id, status="paused").items
    assert [(t.name, t.remaining_seconds) for t in paused] == [
        ("contact_deadline", timedelta(days=1, hours=12).total_seconds())
    ]
    assert [t.name for t in engine.timers(case_id=case.id, status="cancelled").items] == ["nudge"]
    clock.advance(days=10)
    assert engine.fire_due_timers() == 0
    resumed = engine.send(case.id, "resume", **CLERK)
    assert resumed.state == "intake"
    assert resumed.record["hold_reason"] is None
    due = {t.name: t.due_at for t in resumed.pending_timers}
    assert due["contact_deadline"] == clock.now() + timedelta(days=1, hours=12)
    assert due["nudge"] == clock.now() + timedelta(days=1)  # not pausable: armed fresh
    assert due["contact_deadline"] != opened + timedelta(days=2)
    clock.advance(days=1, hours=12)
    assert engine.fire_due_timers() == 2
    assert engine.history(case.id)[-1].event == "contact_overdue"


def test_resume_without_previous_state_is_rejected_and_hold_timers_cancel(
    engine: Engine, clock: ManualClock
) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    engine.send(case.id, "put_on_hold", {"hold_reason": "other"}, **CLERK)
    assert [t.name for t in engine.get(case.id).pending_timers] == [
        "contact_deadline",
        "hold_review",
    ]
    engine.send(case.id, "resume", **CLERK)
    statuses = {t.name: t.status for t in engine.timers(case_id=case.id, status=None).items}
    assert statuses["hold_review"] == "cancelled"


def test_stale_timer_is_cancelled_not_fired(engine: Engine, clock: ManualClock) -> None:
    case = engine.open_case("enginetest", RECORD, **CLERK)
    clock.advance(days=3)
    # the case leaves the state in the same instant the timers come due
    engine.send(case.id, "contacted", **CLERK)
    assert engine.fire_due_timers() == 0
    assert [h.event for h in engine.history(case.id)] == ["@open", "contacted"]


def test_backlog_fires_oldest_first_in_batches(engine: Engine, clock: ManualClock) -> None:
    ids = []
    for _ in range(3):
        ids.append(engine.open_case("enginetest", RECORD, **CLERK).id)
        clock.advance(minutes=1)
    clock.advance(days=5)
    assert engine.next_timer_due() is not None
    assert engine.fire_due_timers(limit=2) == 2
    fired = engine.timers(status="fired").items
    assert sorted((t.case_id, t.name) for t in fired) == sorted(
        [(ids[0], "nudge"), (ids[1], "nudge")]
    )  # the two oldest due
    assert engine.fire_due_timers(limit=100) == 4
    assert engine.next_timer_due() is None
    assert len(engine.timers(status="fired", limit=10).items) == 6
