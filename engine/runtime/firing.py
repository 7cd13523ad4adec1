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
from collections.abc import Mapping
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.definitions.model import Timer
from engine.errors import ConcurrencyConflict, EventRejected, PayloadInvalid
from engine.runtime.core import Core
from engine.runtime.machine import CompiledWorkflow
from engine.runtime.transact import HistoryFacts, commit_applied, history_row
from engine.store.queries import CASE_MUTABLE
from engine.timing.due import next_recurrence

log = logging.getLogger(__name__)

TIMER_ACTOR = "timer"
TIMER_ROLES = ("system",)


def fire_due_timers(core: Core, *, limit: int = 100) -> int:
    """Fire up to ``limit`` due timers, oldest first; returns how many fired."""
    fired = 0
    for _ in range(2 * limit):  # stale and failed timers do not count
        outcome = fire_one(core)
        if outcome is None:
            break
        if outcome == "fired":
            fired += 1
            if fired >= limit:
                break
    return fired


def fire_one(core: Core) -> str | None:
    """Claim and fire one due timer.

    Returns None when nothing is due (or every due timer's case is locked by
    another transaction right now), "fired", "stale" (the case left the state
    entry that armed the timer, which is then cancelled) or "failed": the
    firing raised, its transaction rolled back, and the timer is postponed
    with backoff (attempts and the exception type recorded on it) so that one
    case cannot stop every other case's deadlines.
    """
    store = core.store
    claimed_timer: Mapping[str, Any] | None = None
    try:
        with store.write() as conn:
            clock_now = None if core.use_db_clock else core.clock.now()
            claimed = store.claim_next_due_timer(conn, clock_now)
            if claimed is None:
                return None
            timer, case = claimed
            now: datetime = timer["db_now"] if clock_now is None else clock_now
            if case["state"] != timer["state"] or int(case["state_entry_seq"]) != int(
                timer["state_entry_seq"]
            ):
                store.update_timer(conn, int(timer["id"]), {"status": "cancelled"})
                return "stale"
            claimed_timer = timer
            compiled = core.registry.compiled(case["workflow_name"], int(case["workflow_version"]))
            _fire(core, conn, compiled, case, timer, now)
            return "fired"
    except Exception as exc:
        if claimed_timer is None:
            raise
        _postpone_failed(core, claimed_timer, exc)
        return "failed"


def _postpone_failed(core: Core, timer: Mapping[str, Any], exc: Exception) -> None:
    """Record a failed firing on its (rolled back, still pending) timer and postpone it."""
    attempts = int(timer.get("attempts") or 0) + 1
    with core.store.write() as conn:
        retry_at = core.now(conn) + core.backoff(attempts)
        core.store.update_timer(
            conn,
            int(timer["id"]),
            {"due_at": retry_at, "attempts": attempts, "last_error": type(exc).__name__[:200]},
        )
    log.warning(
        "timer %s of case %s failed (%s, attempt %d); retried at %s",
        timer["id"],
        timer["case_id"],
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
    core: Core,
    conn: sa.Connection,
    compiled: CompiledWorkflow,
    case: Mapping[str, Any],
    timer: Mapping[str, Any],
    now: datetime,
) -> None:
    store = core.store
    definition = compiled.definition
    tdef = _timer_def(compiled, timer["state"], timer["name"])
    recurring = bool(timer["recurring"])
    next_due: datetime | None = None
    payload: dict[str, Any] = {}
    if recurring and tdef is not None:
        next_due, skipped = next_recurrence(
            tdef,
            previous_due=timer["due_at"],
            now=now,
            definition=definition,
            case=case["record"],
        )
        if skipped:
            payload["skipped_periods"] = skipped
    facts = HistoryFacts(
        actor=TIMER_ACTOR,
        roles=TIMER_ROLES,
        payload=payload,
        idempotency_key=None,
        timer=timer["name"],
        lateness_seconds=max(0.0, (now - timer["due_at"]).total_seconds()),
    )
    overdue = None if recurring else (case["overdue_since"] or now)
    entered = False
    try:
        applied = compiled.apply(
            case_id=case["id"],
            state=case["state"],
            previous_state=case["previous_state"],
            event=timer["event"],
            payload={},
            record=case["record"],
            roles=TIMER_ROLES,
            now=now,
            system=True,
        )
    except (EventRejected, PayloadInvalid):
        _record_ignored(core, conn, compiled, case, timer, facts, now, overdue)
    else:
        entered = applied.entered
        commit_applied(
            store,
            conn,
            compiled,
            case,
            applied,
            event=timer["event"],
            facts=facts,
            now=now,
            outcome="timer",
            keep_overdue=overdue,
            want_view=False,
        )
    if recurring and not entered and next_due is not None:
        store.insert_timers(
            conn,
            [
                {
                    "case_id": case["id"],
                    "name": timer["name"],
                    "event": timer["event"],
                    "state": timer["state"],
                    "state_entry_seq": int(timer["state_entry_seq"]),
                    "due_at": next_due,
                    "status": "pending",
                    "recurring": True,
                    "pausable": bool(timer["pausable"]),
                    "remaining_seconds": None,
                    "created_at": now,
                    "fired_at": None,
                }
            ],
        )


def _record_ignored(
    core: Core,
    conn: sa.Connection,
    compiled: CompiledWorkflow,
    case: Mapping[str, Any],
    timer: Mapping[str, Any],
    facts: HistoryFacts,
    now: datetime,
    overdue: datetime | None,
) -> None:
    """History row for a timer whose event no transition accepted now."""
    store = core.store
    version = int(case["version"])
    seq = version + 1
    hist = history_row(
        case_id=case["id"],
        seq=seq,
        event=timer["event"],
        from_state=case["state"],
        to_state=case["state"],
        outcome="timer_ignored",
        workflow_version=compiled.definition.version,
        facts=facts,
        now=now,
        prev_hash=case["last_hash"],
        record=case["record"],
    )
    values = {
        **{c: case[c] for c in CASE_MUTABLE},
        "version": seq,
        "last_hash": hist["hash"],
        "overdue_since": overdue if overdue is not None else case["overdue_since"],
        "updated_at": now,
    }
    if not store.advance_case(
        conn, case["id"], version, values, hist, before=case
    ):  # pragma: no cover
        raise ConcurrencyConflict(  # the case row is locked: not expected
            case_id=case["id"], expected_version=version, actual_version=-1, state=case["state"]
        )
