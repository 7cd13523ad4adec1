"""Case clocks at run time: started, restarted, stopped, paused and resumed with the change.

A clock (:class:`engine.definitions.clocks.Clock`) is stored as timer rows of
scope ``clock`` (revision 0006): at most one pending or paused row per clock
while it runs, plus the rows of firings that are still *overdue* (a deadline
that passed, a watchdog that lapsed) until the clock is stopped or
restarted. Everything here runs in the transaction of the change that causes
it (:func:`engine.runtime.transact.commit_applied`, ``open_case``), so an
event and the clocks it starts or stops commit together; firing goes through
:mod:`engine.runtime.firing` like any timer.

Per clock and change, in this order:

1. a final state stops every clock;
2. entering a hold pauses pausable clocks; leaving holds resumes them with
   the time that was left (:func:`engine.timing.due.resume_due`);
3. a stop (event, state or phase entered, ``when`` true after the change)
   stops the clock, and wins over a start in the same change;
4. a start (event, state or phase entered, ``field`` set or changed)
   starts it, or restarts it re-anchored; a watchdog's ``reset_on`` event
   restarts a running watchdog.

Returning from a hold (``@previous``) is not an entry for 3 and 4: a hold
must not restart the clocks of the state the case returns to.

An anchor that cannot give an instant (missing, null, malformed, or a due
instant outside the calendar's range) rejects the change with
:class:`~engine.errors.PayloadInvalid` naming the field's JSON path, so a
deadline is never silently unarmed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any

from engine.definitions.clocks import Clock
from engine.definitions.expressions import ExpressionError, compile_expression
from engine.definitions.model import State, WorkflowDefinition
from engine.errors import PayloadInvalid
from engine.store.interface import StoreTransaction
from engine.store.records import TimerRecord, TimerScope, TimerStatus
from engine.timing.calendar import zone
from engine.timing.due import first_due, parse_at_value, resume_due, timezone_of

__all__ = ["ClockChange", "ClockOverdue", "apply_clock_changes", "next_lapse", "overdue_since"]

_CASE_FIELD = re.compile(r"case\.([A-Za-z_][A-Za-z0-9_]*)")
_MAX_CATCH_UP = 10_000  # lapse intervals skipped at most when the worker was down


@dataclass(frozen=True, slots=True)
class ClockChange:
    """One accepted change of a case, as the clocks see it."""

    case_id: str
    event: str
    src: State | None  # None when the case opens
    dst: State
    entered: bool  # the case entered ``dst`` (not an internal transition)
    returned_from_hold: bool  # a ``@previous`` return from a hold state
    before: Mapping[str, Any]  # the record before the change
    after: Mapping[str, Any]  # the record after it
    seq: int  # the history seq of the change
    now: datetime


@dataclass(frozen=True, slots=True)
class ClockOverdue:
    """When the case's clocks made it overdue, before and after the change (None: not)."""

    before: datetime | None
    after: datetime | None


def overdue_since(rows: Sequence[TimerRecord]) -> datetime | None:
    """The earliest firing among overdue clock rows."""
    instants = [r.fired_at for r in rows if r.status == TimerStatus.OVERDUE and r.fired_at]
    return min(instants) if instants else None


def _may_touch(d: WorkflowDefinition, ch: ClockChange) -> bool:
    """Could this change start, stop or reset a clock? (Entering a state always could.)"""
    if ch.src is None or ch.entered:
        return True
    for clock in d.clocks:
        if ch.event in clock.start.events or ch.event in clock.stop.events:
            return True
        if ch.event in clock.reset_on:
            return True
        field = clock.start.field
        if field is not None and ch.after.get(field) != ch.before.get(field):
            return True
        if clock.stop.when is not None and _when(clock.stop.when, d, ch):
            return True
    return False


def apply_clock_changes(
    tx: StoreTransaction, definition: WorkflowDefinition, change: ClockChange
) -> ClockOverdue | None:
    """Start, restart, stop, pause and resume the case's clocks for one change.

    None when the change cannot affect any clock (an internal transition whose
    event no clock names, that sets no start field and satisfies no stop
    condition): then nothing is read or written, which keeps firings cheap.
    """
    if not _may_touch(definition, change):
        return None
    rows = tx.clock_timers_of(change.case_id) if change.src is not None else []
    before = overdue_since(rows)
    by_clock: dict[str, list[TimerRecord]] = {}
    for r in rows:
        by_clock.setdefault(r.name, []).append(r)
    remaining: list[TimerRecord] = []
    for clock in definition.clocks:
        remaining.extend(_apply(tx, definition, clock, by_clock.get(clock.name, []), change))
    return ClockOverdue(before, overdue_since(remaining))


def _apply(
    tx: StoreTransaction,
    d: WorkflowDefinition,
    clock: Clock,
    rows: list[TimerRecord],
    ch: ClockChange,
) -> list[TimerRecord]:
    """Apply one change to one clock; returns the clock's rows still live afterwards."""
    if ch.entered and ch.dst.final:
        return _end(tx, rows)
    src_hold = ch.src is not None and ch.src.hold
    if clock.pausable and ch.entered and ch.dst.hold and not src_hold:
        rows = [_pause(tx, r, ch.now) for r in rows]
    elif clock.pausable and src_hold and not ch.dst.hold:
        rows = [_resume(tx, d, clock, r, ch) for r in rows]
    entry = ch.entered and not ch.returned_from_hold
    stop = clock.stop
    stopped = ch.event in stop.events or (entry and stop.on_entry(ch.dst))
    if not stopped and stop.when is not None and _when(stop.when, d, ch):
        stopped = True
    if stopped:
        return _end(tx, rows)
    start = clock.start
    started = ch.event in start.events or (entry and start.on_entry(ch.dst))
    if not started and start.field is not None:
        value = ch.after.get(start.field)
        started = value is not None and value != ch.before.get(start.field)
    running = any(r.status != TimerStatus.OVERDUE for r in rows)
    if not started and clock.watchdog and running and ch.event in clock.reset_on:
        started = True
    if not started:
        return rows
    _end(tx, rows)
    return [_start(tx, d, clock, ch)]


def _end(tx: StoreTransaction, rows: Sequence[TimerRecord]) -> list[TimerRecord]:
    tx.end_clock_timers([r.id for r in rows if r.id is not None])
    return []


def _pause(tx: StoreTransaction, r: TimerRecord, now: datetime) -> TimerRecord:
    if r.status != TimerStatus.PENDING or r.due_at is None or r.id is None:
        return r
    tx.pause_timer(r.id, now, r.due_at)
    return r


def _resume(
    tx: StoreTransaction, d: WorkflowDefinition, clock: Clock, r: TimerRecord, ch: ClockChange
) -> TimerRecord:
    if r.status != TimerStatus.PAUSED or r.id is None:
        return r
    if r.paused_at is not None and r.paused_due_at is not None:
        due = resume_due(
            clock.as_timer(),
            due_at=r.paused_due_at,
            paused_at=r.paused_at,
            resumed_at=ch.now,
            definition=d,
            case=ch.after,
        )
    else:  # pragma: no cover - clock rows always have the pause facts
        due = ch.now
    tx.resume_timer(r.id, due, r.state_entry_seq)
    return r


def _when(source: str, d: WorkflowDefinition, ch: ClockChange) -> bool:
    try:
        value = compile_expression(source).evaluate(
            case=ch.after, event={}, params=d.parameters, now=ch.now
        )
    except ExpressionError:  # a field it reads is absent: not (yet) satisfied
        return False
    return value is True


def _field_path(expression: str | None) -> str:
    if expression:
        m = _CASE_FIELD.fullmatch(expression.strip())
        if m:
            return f"$.{m.group(1)}"
        m = _CASE_FIELD.search(expression)
        if m:
            return f"$.{m.group(1)}"
    return "$"


def _invalid(clock: Clock, case_id: str, problem: str) -> PayloadInvalid:
    return PayloadInvalid(
        what="case record",
        json_path=_field_path(clock.anchor),
        problem=f"clock {clock.name!r}: {problem}",
        case_id=case_id,
    )


def anchor_instant(
    clock: Clock, d: WorkflowDefinition, record: Mapping[str, Any], now: datetime, case_id: str
) -> datetime:
    """The instant ``clock`` counts from when it (re)starts now: its anchor, or ``now``.

    Raises PayloadInvalid (the anchor field's JSON path) when the anchor has no
    usable instant: the field is missing or null, or its value is not a date or
    timestamp.
    """
    if clock.anchor is None:
        return now
    try:
        value = compile_expression(clock.anchor).evaluate(
            case=record, event={}, params=d.parameters, now=now
        )
    except ExpressionError:
        raise _invalid(clock, case_id, "the anchor has no value (missing field)") from None
    try:
        instant = parse_at_value(value, zone(timezone_of(d, record)), timer_name=clock.name)
    except ExpressionError:
        raise _invalid(clock, case_id, "the anchor is not a date or timestamp") from None
    except (OverflowError, ValueError):
        raise _invalid(clock, case_id, "the anchor falls outside the calendar's range") from None
    if instant is None:
        raise _invalid(clock, case_id, "the anchor has no value (null or empty)")
    return instant


def _due(
    clock: Clock, d: WorkflowDefinition, anchor: datetime, record: Mapping[str, Any], case_id: str
) -> datetime:
    try:
        due = first_due(clock.as_timer(), entered_at=anchor, definition=d, case=record, now=anchor)
    except (OverflowError, ValueError):  # past year 9999, or before year 1
        raise _invalid(clock, case_id, "the deadline falls outside the calendar's range") from None
    assert due is not None  # only `at` timers have no due instant, and clocks have no `at`
    return due


def _start(
    tx: StoreTransaction, d: WorkflowDefinition, clock: Clock, ch: ClockChange
) -> TimerRecord:
    anchor = anchor_instant(clock, d, ch.after, ch.now, ch.case_id)
    due = _due(clock, d, anchor, ch.after, ch.case_id)
    paused = clock.pausable and ch.dst.hold
    row = TimerRecord(
        None,
        ch.case_id,
        clock.name,
        clock.event,
        ch.dst.name,
        ch.seq,
        None if paused else due,
        TimerStatus.PAUSED if paused else TimerStatus.PENDING,
        clock.recurring,
        clock.pausable,
        max(0.0, (due - ch.now).total_seconds()) if paused else None,
        ch.now,
        paused_at=ch.now if paused else None,
        paused_due_at=due if paused else None,
        scope=TimerScope.CLOCK,
    )
    (tid,) = tx.insert_timers([row])
    return replace(row, id=tid)


def next_lapse(
    clock: Clock,
    d: WorkflowDefinition,
    lapsed_at: datetime,
    now: datetime,
    record: Mapping[str, Any],
) -> tuple[datetime, int]:
    """A lapsed watchdog's next due instant and how many whole intervals were skipped.

    The watchdog re-arms for another interval from the instant it lapsed; when
    the worker ran so late that this is past too, whole intervals are skipped
    (counted) so one outage does not fire a burst of lapses.
    """
    due = _due(clock, d, lapsed_at, record, "")
    skipped = 0
    while due <= now and skipped < _MAX_CATCH_UP:
        due = _due(clock, d, due, record, "")
        skipped += 1
    return due, skipped


def rearm_row(fired: TimerRecord, due: datetime, now: datetime) -> TimerRecord:
    """The next pending row of a clock that fired (a recurring deadline, a lapsed watchdog)."""
    return TimerRecord(
        None,
        fired.case_id,
        fired.name,
        fired.event,
        fired.state,
        fired.state_entry_seq,
        due,
        TimerStatus.PENDING,
        fired.recurring,
        fired.pausable,
        None,
        now,
        scope=TimerScope.CLOCK,
    )
