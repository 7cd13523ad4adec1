"""Every timer of every state of a workflow, and when it would fire (``simulate --deadlines``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.definitions.clocks import Clock
from engine.definitions.model import Timer, TimerKind, WorkflowDefinition
from engine.timing.calendar import add_duration, zone
from engine.timing.due import first_due
from engine.timing.local import Deadline, local_parts

__all__ = ["clock_deadlines", "clock_spec", "deadlines", "timer_spec"]


def timer_spec(timer: Timer) -> str:
    """How the timer's due instant is defined, in words an analyst reads."""
    if timer.kind is TimerKind.AFTER and timer.after is not None:
        return f"after {timer.after.text}"
    if timer.kind is TimerKind.BUSINESS_DAYS:
        return f"after {timer.business_days} business day(s)"
    if timer.kind is TimerKind.EVERY and timer.every is not None:
        return f"every {timer.every.text} (catch-up {timer.catch_up.value})"
    if timer.kind is TimerKind.AT:
        offset = f" + {timer.offset.text}" if timer.offset else ""
        return f"at {timer.at}{offset}"
    return timer.kind.value


def deadlines(
    definition: WorkflowDefinition,
    *,
    start: datetime,
    case: Mapping[str, Any] | None = None,
    recurrences: int = 3,
) -> list[Deadline]:
    """For a fresh case (record ``case``, default empty) entering each state at ``start``."""
    from engine.definitions.expressions import ExpressionError

    tz = zone(definition.timezone)
    start_day = start.astimezone(tz).date()
    rows: list[Deadline] = []
    for state in definition.states.values():
        for timer in state.timers:
            note = ""
            due: datetime | None = None
            try:
                due = first_due(
                    timer, entered_at=start, definition=definition, case=case or {}, now=start
                )
            except ExpressionError as exc:
                note = f"expression error: {exc}"
            if due is None and not note:
                note = "not armed until the expression has a value (depends on the case record)"
            then: tuple[datetime, ...] = ()
            if due is not None and timer.kind is TimerKind.EVERY and timer.every is not None:
                then = tuple(
                    add_duration(due, timer.every, tz, times=k) for k in range(1, recurrences)
                )
            rows.append(
                Deadline(
                    state=state.name,
                    timer=timer.name,
                    event=timer.event,
                    kind=timer.kind.value,
                    spec=timer_spec(timer),
                    due_at=due,
                    local=local_parts(due, tz) if due else None,
                    day=(due.astimezone(tz).date() - start_day).days if due else None,
                    pausable=timer.pausable,
                    note=note,
                    then=then,
                )
            )
    rows.extend(clock_deadlines(definition, start=start, case=case, recurrences=recurrences))
    return rows


def clock_spec(clock: Clock) -> str:
    """How a case clock is defined, in words an analyst reads."""
    if clock.timing is TimerKind.BUSINESS_DAYS:
        length = f"{clock.business_days} business day(s)"
        if clock.calendar:
            length += f" of calendar {clock.calendar}"
    elif clock.timing is TimerKind.EVERY and clock.every is not None:
        length = f"every {clock.every.text}"
    else:
        length = clock.after.text if clock.after is not None else "?"
    what = f"within {length} of each {' or '.join(clock.reset_on)}" if clock.watchdog else length
    anchor = f" from {clock.anchor}" if clock.anchor else " from its start"
    starts = _triggers("starts", clock.start.events, clock.start.states, clock.start.phases)
    if clock.start.field:
        starts += f"{'; ' if starts else ''}starts when {clock.start.field} is set"
    stops = _triggers("stops", clock.stop.events, clock.stop.states, clock.stop.phases)
    if clock.stop.when:
        stops += f"{'; ' if stops else ''}stops when {clock.stop.when}"
    return "; ".join(p for p in (f"{clock.kind.value} {what}{anchor}", starts, stops) if p)


def _triggers(verb: str, events: Any, states: Any, phases: Any) -> str:
    parts = [f"on {e}" for e in events] + [f"in {s}" for s in states]
    parts += [f"in phase {p}" for p in phases]
    return f"{verb} {', '.join(parts)}" if parts else ""


def clock_deadlines(
    definition: WorkflowDefinition,
    *,
    start: datetime,
    case: Mapping[str, Any] | None = None,
    recurrences: int = 3,
) -> list[Deadline]:
    """For each case clock: when it would fire if it started at ``start`` (state ``clock``).

    An anchored clock counts from its anchor in ``case``; without that value
    the row says which field it waits for.
    """
    from engine.definitions.expressions import ExpressionError, compile_expression
    from engine.timing.due import parse_at_value

    tz = zone(definition.timezone)
    start_day = start.astimezone(tz).date()
    rows: list[Deadline] = []
    for clock in definition.clocks:
        note = ""
        due: datetime | None = None
        anchor: datetime | None = start
        if clock.anchor is not None:
            try:
                value = compile_expression(clock.anchor).evaluate(
                    case=case or {}, event={}, params=definition.parameters, now=start
                )
                anchor = parse_at_value(value, tz, timer_name=clock.name)
            except ExpressionError:
                anchor = None
            if anchor is None:
                note = f"counts from {clock.anchor} when the clock starts (depends on the record)"
        timer = clock.as_timer()
        if anchor is not None:
            due = first_due(
                timer, entered_at=anchor, definition=definition, case=case or {}, now=start
            )
        then: tuple[datetime, ...] = ()
        if due is not None:
            step = clock.every if clock.recurring else (clock.after if clock.watchdog else None)
            if step is not None:
                then = tuple(add_duration(due, step, tz, times=k) for k in range(1, recurrences))
        rows.append(
            Deadline(
                state="(clock)",
                timer=clock.name,
                event=clock.event,
                kind=clock.kind.value,
                spec=clock_spec(clock),
                due_at=due,
                local=local_parts(due, tz) if due else None,
                day=(due.astimezone(tz).date() - start_day).days if due else None,
                pausable=clock.pausable,
                note=note,
                then=then,
            )
        )
    return rows
