"""Timer records for a state change: arm, pause, resume, cancel, and re-arm recurring ones.

Everything here runs inside the transaction of the change (the caller's);
the due-time rules themselves are pure, in :mod:`engine.timing.due`.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from engine.definitions.expressions import ExpressionError
from engine.definitions.model import State, Timer, TimerKind, WorkflowDefinition
from engine.errors import PayloadInvalid
from engine.runtime.convert import timer_view
from engine.runtime.machine import Applied
from engine.runtime.views import TimerView
from engine.store.interface import StoreTransaction
from engine.store.records import TimerRecord, TimerStatus
from engine.timing.due import first_due as compute_first_due
from engine.timing.due import resume_due

log = logging.getLogger("engine.runtime.transact")  # the name operators' log filters know

_LIVE = (TimerStatus.PENDING, TimerStatus.PAUSED)
_PENDING_ONLY = (TimerStatus.PENDING,)


def first_due(
    timer: Timer,
    *,
    entered_at: datetime,
    definition: WorkflowDefinition,
    case: Mapping[str, Any],
    case_id: str = "",
    item: Mapping[str, Any] | None = None,
) -> datetime | None:
    """When ``timer`` is first due; None (not armed) when its ``at`` expression fails
    (``item``: the work item a timer of an item sees).

    A failing ``at`` expression (the loader checks them statically, so this
    means case data the expression did not expect) must not block the
    transition: the timer is left unarmed and a warning names the case and
    timer (never the data).
    """
    try:
        return compute_first_due(
            timer,
            entered_at=entered_at,
            definition=definition,
            case=case,
            now=entered_at,
            item=item,
        )
    except ExpressionError:
        log.warning(
            "case %s: timer %r not armed: its `at` expression could not be evaluated",
            case_id,
            timer.name,
        )
        return None
    except (OverflowError, ValueError):  # datetime arithmetic past year 9999 (or before 1)
        raise PayloadInvalid(
            what="case record",
            json_path=_at_field_path(timer.at),
            problem=f"timer {timer.name!r}: the deadline falls outside the calendar's range",
            case_id=case_id or None,
        ) from None


_CASE_FIELD = re.compile(r"case\.[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*")


def _at_field_path(expression: str | None) -> str:
    """``case.discharge_date`` -> ``$.discharge_date``; ``$`` for anything less simple."""
    if expression and _CASE_FIELD.fullmatch(expression.strip()):
        return "$." + expression.strip().removeprefix("case.")
    return "$"


def timer_records(
    case_id: str,
    timers: Sequence[Timer],
    *,
    definition: WorkflowDefinition,
    record: Mapping[str, Any],
    entry_seq: int,
    now: datetime,
) -> list[TimerRecord]:
    """New pending timers for a state entry (those whose first due instant is known)."""
    out = []
    for tm in timers:
        due = first_due(tm, entered_at=now, definition=definition, case=record, case_id=case_id)
        if due is None:
            continue
        out.append(
            TimerRecord(
                None,
                case_id,
                tm.name,
                tm.event,
                tm.state,
                entry_seq,
                due,
                TimerStatus.PENDING,
                tm.kind == TimerKind.EVERY,
                tm.pausable,
                None,
                now,
            )
        )
    return out


def arm(tx: StoreTransaction, timers: list[TimerRecord]) -> list[TimerView]:
    """Insert new timers; their views (with the ids the store gave them)."""
    ids = tx.insert_timers(timers)
    return [timer_view(r, timer_id=i) for r, i in zip(timers, ids, strict=True)]


def rearm_recurring(
    tx: StoreTransaction, fired: TimerRecord, next_due: datetime, now: datetime
) -> None:
    """A recurring timer that fired while its case stayed in its state entry, due again."""
    tx.insert_timers(
        [
            TimerRecord(
                None,
                fired.case_id,
                fired.name,
                fired.event,
                fired.state,
                fired.state_entry_seq,
                next_due,
                TimerStatus.PENDING,
                True,
                bool(fired.pausable),
                None,
                now,
            )
        ]
    )


def move_timers(
    tx: StoreTransaction,
    definition: WorkflowDefinition,
    case_id: str,
    src: State,
    dst: State,
    applied: Applied,
    record: Mapping[str, Any],
    seq: int,
    now: datetime,
) -> list[TimerView] | None:
    """Cancel, pause, resume and arm timers for a state change.

    Returns the case's pending timers when they are known without a query.
    """
    d = definition
    if dst.hold and not src.hold:
        pausable = [tm.name for tm in src.timers if tm.pausable]
        tx.pause_timers(case_id, now, pausable)
        arm(
            tx,
            timer_records(case_id, dst.timers, definition=d, record=record, entry_seq=seq, now=now),
        )
        return None
    if applied.transition.returns_to_previous and src.hold:
        tx.cancel_timers(case_id, _PENDING_ONLY)
        resumed: set[str] = set()
        for r in tx.paused_timers_of(case_id):
            assert r.id is not None
            if r.state != dst.name:
                tx.cancel_timer(r.id)
                continue
            tx.resume_timer(r.id, resumed_due(r, dst, d, now, record=record), seq)
            resumed.add(r.name)
        fresh = [tm for tm in dst.timers if tm.name not in resumed]
        arm(tx, timer_records(case_id, fresh, definition=d, record=record, entry_seq=seq, now=now))
        return None
    if src.hold:
        tx.cancel_timers(case_id, _LIVE)
    elif src.timers:
        tx.cancel_timers(case_id, _PENDING_ONLY)
    rows = timer_records(case_id, dst.timers, definition=d, record=record, entry_seq=seq, now=now)
    return arm(tx, rows)


def resumed_due(
    timer: TimerRecord,
    state: State,
    definition: WorkflowDefinition,
    now: datetime,
    *,
    record: Mapping[str, Any] | None = None,
) -> datetime:
    """Where a paused timer is due when its case resumes at ``now``.

    With the pause facts (revision 0004) the local-time rule of
    :func:`engine.timing.due.resume_due`: business-day timers keep the
    business days that were left, calendar timers the local wall-clock time
    that was left (a daylight-saving change during the hold shifts nothing).
    A timer paused before those columns existed resumes with the seconds that
    were left.
    """
    tdef = next((tm for tm in state.timers if tm.name == timer.name), None)
    paused_at, due_at = timer.paused_at, timer.paused_due_at
    if tdef is not None and paused_at is not None and due_at is not None:
        result: datetime = resume_due(
            tdef,
            due_at=due_at,
            paused_at=paused_at,
            resumed_at=now,
            definition=definition,
            case=record,
        )
        return result
    return now + timedelta(seconds=float(timer.remaining_seconds or 0.0))
