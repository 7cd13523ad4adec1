"""Every timer of every state of a workflow, and when it would fire (``simulate --deadlines``)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime
from typing import Any

from engine.definitions.model import Timer, TimerKind, WorkflowDefinition
from engine.timing.calendar import add_duration, zone
from engine.timing.due import first_due
from engine.timing.local import Deadline, local_parts

__all__ = ["deadlines", "timer_spec"]


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
    return rows
