"""Firing due timers: one transaction per timer, each timer fired once.

In one transaction: claim the oldest due pending timer together with its
case in one statement (``FOR UPDATE OF timers, cases SKIP LOCKED`` on
PostgreSQL, so a timer whose case is busy is passed over instead of waited
for, and no lock-order deadlock with ``send`` is possible; due-ness judged by
the database's ``now()`` when the engine runs on the system clock; the single
writer lock on SQLite), check that the case is still in the state entry that
armed the timer (else the timer is cancelled), mark the timer fired and apply its event through the
normal transition path as actor ``timer`` with roles ``("system",)``.

When no transition accepts the timer's event now (every guard false), the
firing is still recorded: a history row with outcome ``timer_ignored`` and
the case staying where it is. A one-shot timer that fires while the case
stays in its state sets ``cases.overdue_since`` (the deadline passed); any
state change clears it. A recurring (``every``) timer still in its state
entry is re-armed at ``next_recurrence`` (catch-up once or all); the number
of skipped periods is recorded in the history payload as ``skipped_periods``.
"""

from __future__ import annotations

import logging
from datetime import datetime
from typing import Any

from engine.definitions.model import Timer
from engine.runtime.clock_firing import fire_clock
from engine.runtime.context import EngineContext
from engine.runtime.item_transact import fire_item_timer
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.timers import rearm_recurring
from engine.runtime.transact import fire_timer_event
from engine.store.interface import StoreTransaction
from engine.store.records import CaseRecord, TimerRecord, TimerScope, TimerStatus
from engine.timing.due import next_recurrence

log = logging.getLogger(__name__)

TIMER_ACTOR = "timer"
TIMER_ROLES = ("system",)


def fire_due_timers(ctx: EngineContext, *, limit: int = 100) -> int:
    """Fire up to ``limit`` due timers, oldest first; returns how many fired."""
    fired = 0
    for _ in range(2 * limit):  # stale and failed timers do not count
        outcome = fire_one(ctx)
        if outcome is None:
            break
        if outcome == TimerStatus.FIRED:
            fired += 1
            if fired >= limit:
                break
    return fired


def fire_one(ctx: EngineContext) -> str | None:
    """Claim and fire one due timer.

    Returns None when nothing is due (or every due timer's case is locked by
    another transaction right now), "fired", "stale" (the case left the state
    entry that armed the timer, which is then cancelled) or "failed": the
    firing raised, its transaction rolled back, and the timer is postponed
    with backoff (attempts and the exception type recorded on it) so that one
    case cannot stop every other case's deadlines.
    """
    claimed_timer: TimerRecord | None = None
    try:
        with ctx.store.write() as tx:
            claimed = tx.claim_next_due_timer(None if ctx.use_db_clock else ctx.clock.now())
            if claimed is None:
                return None
            timer, case, now = claimed.timer, claimed.case, claimed.now
            if timer.scope in (TimerScope.ITEM, TimerScope.ITEM_CLOCK):  # a work item's
                claimed_timer = timer
                compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
                fired = fire_item_timer(
                    tx, compiled, case, timer, now, actor=TIMER_ACTOR, roles=TIMER_ROLES
                )
                return TimerStatus.FIRED if fired else "stale"
            if timer.scope == TimerScope.CLOCK:  # a case clock: never stale by state
                claimed_timer = timer
                compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
                fired = fire_clock(
                    tx, compiled, case, timer, now, actor=TIMER_ACTOR, roles=TIMER_ROLES
                )
                return TimerStatus.FIRED if fired else "stale"
            if case.state != timer.state or case.state_entry_seq != timer.state_entry_seq:
                assert timer.id is not None
                tx.cancel_timer(timer.id)
                return "stale"
            claimed_timer = timer
            compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
            _fire(tx, compiled, case, timer, now)
            return TimerStatus.FIRED
    except Exception as exc:
        if claimed_timer is None:
            raise
        _postpone_failed(ctx, claimed_timer, exc)
        return "failed"


def _postpone_failed(ctx: EngineContext, timer: TimerRecord, exc: Exception) -> None:
    """Record a failed firing on its (rolled back, still pending) timer and postpone it."""
    assert timer.id is not None
    attempts = timer.attempts + 1
    with ctx.store.write() as tx:
        retry_at = ctx.now(tx) + ctx.backoff(attempts)
        tx.postpone_failed_timer(timer.id, retry_at, attempts, type(exc).__name__)
    log.warning(
        "timer %s of case %s failed (%s, attempt %d); retried at %s",
        timer.id,
        timer.case_id,
        type(exc).__name__,
        attempts,
        retry_at.isoformat(),
    )


def _timer_def(compiled: CompiledWorkflow, state: str, name: str) -> Timer | None:
    st = compiled.definition.states.get(state)
    if st is None:
        return None
    return next((tm for tm in st.timers if tm.name == name), None)


def _fire(
    tx: StoreTransaction,
    compiled: CompiledWorkflow,
    case: CaseRecord,
    timer: TimerRecord,
    now: datetime,
) -> None:
    definition = compiled.definition
    tdef = _timer_def(compiled, timer.state, timer.name)
    recurring = bool(timer.recurring)
    next_due: datetime | None = None
    payload: dict[str, Any] = {}
    assert timer.due_at is not None  # a pending timer is always due somewhen
    if recurring and tdef is not None:
        next_due, skipped = next_recurrence(
            tdef, previous_due=timer.due_at, now=now, definition=definition, case=case.record
        )
        if skipped:
            payload["skipped_periods"] = skipped
    overdue = None if recurring else (case.overdue_since or now)
    applied = fire_timer_event(
        tx,
        compiled,
        case,
        timer,
        now,
        actor=TIMER_ACTOR,
        roles=TIMER_ROLES,
        payload=payload,
        overdue=overdue,
    )
    entered = applied is not None and applied.entered
    if recurring and not entered and next_due is not None:
        rearm_recurring(tx, timer, next_due, now)
