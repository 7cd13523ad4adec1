"""Firing a case clock: a deadline that passed, a watchdog that lapsed, a recurring deadline.

Called by :func:`engine.runtime.firing.fire_one` for a claimed timer row of
scope ``clock``, in the claim's transaction. A clock is not tied to a state
entry, so it is never stale; its event goes through the normal transition
path as actor ``timer`` (history outcome ``timer``, or ``timer_ignored`` when
no transition accepts it now), with the lateness recorded. A deadline's row
stays *overdue* (and the case with it) until the clock is stopped or
restarted; a watchdog's lapse does the same and re-arms the watchdog for
another interval from the lapse; a recurring (``every``) deadline re-arms at
its next period. The history payload says ``clock`` (deadline or watchdog),
which is what operators' views and the lapse metric count.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from engine.runtime.clocks import next_lapse, rearm_row
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.transact import fire_timer_event
from engine.store.interface import StoreTransaction
from engine.store.records import CaseRecord, TimerRecord
from engine.timing.due import next_recurrence

__all__ = ["fire_clock"]


def fire_clock(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    timer: TimerRecord,
    now: datetime,
    *,
    actor: str,
    roles: tuple[str, ...],
) -> bool:
    """Fire one claimed clock row; False when its clock is gone from the case's version."""
    d = compiled.definition
    clock = d.clock(timer.name)
    assert timer.id is not None
    assert timer.due_at is not None
    if clock is None or case.closed_at is not None:
        tx.end_clock_timers([timer.id])
        return False
    payload: dict[str, Any] = {"clock": clock.kind.value}
    overdue: datetime | None = None
    if clock.recurring:
        next_due, skipped = next_recurrence(
            clock.as_timer(), previous_due=timer.due_at, now=now, definition=d, case=case.record
        )
        tx.insert_timers([rearm_row(timer, next_due, now)])
    else:  # the claim left the row overdue
        overdue = case.overdue_since or now
        skipped = 0
        if clock.watchdog:
            next_due, skipped = next_lapse(clock, d, timer.due_at, now, case.record)
            tx.insert_timers([rearm_row(timer, next_due, now)])
    if skipped:
        payload["skipped_periods"] = skipped
    fire_timer_event(
        tx, compiled, case, timer, now, actor=actor, roles=roles, payload=payload, overdue=overdue
    )
    return True
