"""Why is a case where it is: a diagnosis built from the engine's public reads.

:func:`explain_case` reads the case, its history, every event of its
workflow for every role and the clock, and answers: since when the case has
been in its state, which deadlines fired while it stayed there, which timers
are due but nobody fired (is a worker running?), the last event and who sent
it, and which events would move it and which roles may send them.

The explanation names ids, states, events, timers, roles and actors only:
never the record or an event's payload (patient data).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any, Protocol

from engine.clock import Clock
from engine.definitions.model import WorkflowDefinition
from engine.runtime.views import CaseView, EventOption, HistoryEntry, TimerView


class CaseReader(Protocol):
    """The reads an explanation is built from (the :class:`~engine.Engine` has them)."""

    @property
    def clock(self) -> Clock: ...

    def get(self, case_id: str) -> CaseView:
        """Raises CaseNotFound."""
        ...

    def history(self, case_id: str) -> list[HistoryEntry]:
        """Raises CaseNotFound."""
        ...

    def allowed_events(self, case_id: str, roles: Sequence[str]) -> list[EventOption]:
        """Raises CaseNotFound."""
        ...

    def definition(self, name: str, version: int | None = None) -> WorkflowDefinition:
        """Raises UnknownWorkflow."""
        ...


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _flat_dict(view: Any) -> dict[str, Any]:
    """A flat view's fields as JSON values (instants as RFC 3339 strings)."""
    out: dict[str, Any] = {}
    for f in fields(view):
        value = getattr(view, f.name)
        out[f.name] = value.isoformat() if isinstance(value, datetime) else value
    return out


@dataclass(frozen=True, slots=True)
class FiredDeadline:
    """A timer that fired while the case stayed in its state (its deadline passed)."""

    seq: int  # the history row of the firing
    timer: str  # the timer's name (the event's, for a row that names no timer)
    event: str
    fired_at: datetime
    lateness_seconds: float | None  # fired_at - due_at, when recorded

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class OverdueTimer:
    """A pending timer past its due instant that has not fired (no worker running?)."""

    id: int
    timer: str
    event: str
    due_at: datetime
    overdue_seconds: float  # as of the explanation

    def to_dict(self) -> dict[str, Any]:
        return _flat_dict(self)


@dataclass(frozen=True, slots=True)
class LastEvent:
    """The newest history row: what happened last, and who did it."""

    seq: int
    event: str
    actor: str
    outcome: str  # "opened" | "transitioned" | "internal" | "timer"
    recorded_at: datetime

    def to_dict(self) -> dict[str, Any]:
        return {
            "seq": self.seq,
            "event": self.event,
            "actor": self.actor,
            "outcome": self.outcome,
            "recorded_at": self.recorded_at.isoformat(),
        }


@dataclass(frozen=True, slots=True)
class CaseExplanation:
    """Why a case is where it is, as of one instant (see the module docstring)."""

    case_id: str
    workflow: str
    workflow_version: int
    state: str
    phase: str
    version: int
    closed_at: datetime | None
    as_of: datetime  # the engine clock's "now" the durations below are measured to
    in_state_since: datetime | None  # when the case last entered its state
    seconds_in_state: float | None
    fired_deadlines: tuple[FiredDeadline, ...]  # oldest first
    overdue_timers: tuple[OverdueTimer, ...]
    pending_timers: tuple[TimerView, ...]  # pending and paused; empty: only an event moves it
    last_event: LastEvent | None
    events: tuple[EventOption, ...]  # every event of the workflow, for every role
    # case clocks that fired (a deadline passed, a watchdog lapsed) and were not yet
    # stopped or restarted: the case is overdue because of them
    overdue_clocks: tuple[TimerView, ...] = ()

    @property
    def closed(self) -> bool:
        return self.closed_at is not None

    @property
    def waiting_for(self) -> tuple[EventOption, ...]:
        """The events that would move the case now (each with the roles that may send it)."""
        return tuple(o for o in self.events if o.allowed)

    def to_dict(self) -> dict[str, Any]:
        return {
            "case_id": self.case_id,
            "workflow": self.workflow,
            "workflow_version": self.workflow_version,
            "state": self.state,
            "phase": self.phase,
            "version": self.version,
            "closed_at": _iso(self.closed_at),
            "as_of": self.as_of.isoformat(),
            "in_state_since": _iso(self.in_state_since),
            "seconds_in_state": self.seconds_in_state,
            "fired_deadlines": [d.to_dict() for d in self.fired_deadlines],
            "overdue_timers": [t.to_dict() for t in self.overdue_timers],
            "pending_timers": [t.to_dict() for t in self.pending_timers],
            "last_event": self.last_event.to_dict() if self.last_event else None,
            "events": [o.to_dict() for o in self.events],
            "overdue_clocks": [t.to_dict() for t in self.overdue_clocks],
        }


def explain_case(reader: CaseReader, case_id: str) -> CaseExplanation:
    """Read the case and explain it. Raises CaseNotFound."""
    view = reader.get(case_id)
    definition = reader.definition(view.workflow, view.workflow_version)
    events = reader.allowed_events(view.id, list(definition.roles))
    history = reader.history(view.id)
    return build_explanation(view, history, events, reader.clock.now())


def _entered_state(history: Sequence[HistoryEntry], state: str) -> HistoryEntry | None:
    """The history row that last moved the case into ``state`` (else the first row)."""
    for entry in reversed(history):
        if entry.to_state == state and entry.from_state != state:
            return entry
    return history[0] if history else None


def build_explanation(
    view: CaseView,
    history: Sequence[HistoryEntry],
    events: Sequence[EventOption],
    now: datetime,
) -> CaseExplanation:
    """The explanation of ``view`` from reads already made (no I/O)."""
    entered = _entered_state(history, view.state)
    fired: tuple[FiredDeadline, ...] = ()
    if entered is not None:
        fired = tuple(
            FiredDeadline(e.seq, e.timer or e.event, e.event, e.recorded_at, e.lateness_seconds)
            for e in history
            if e.seq > entered.seq
            and e.outcome == "timer"
            and e.to_state == view.state
            and "clock" not in e.payload  # case clocks: overdue_clocks says so until stopped
        )
    overdue = tuple(
        OverdueTimer(t.id, t.name, t.event, t.due_at, (now - t.due_at).total_seconds())
        for t in view.pending_timers
        if t.status == "pending" and t.due_at is not None and t.due_at <= now
    )
    last = history[-1] if history else None
    return CaseExplanation(
        case_id=view.id,
        workflow=view.workflow,
        workflow_version=view.workflow_version,
        state=view.state,
        phase=view.phase,
        version=view.version,
        closed_at=view.closed_at,
        as_of=now,
        in_state_since=entered.recorded_at if entered else None,
        seconds_in_state=(now - entered.recorded_at).total_seconds() if entered else None,
        fired_deadlines=fired,
        overdue_timers=overdue,
        pending_timers=tuple(view.pending_timers),
        last_event=(
            LastEvent(last.seq, last.event, last.actor, last.outcome, last.recorded_at)
            if last
            else None
        ),
        events=tuple(events),
        overdue_clocks=tuple(t for t in view.pending_timers if t.status == "overdue"),
    )
