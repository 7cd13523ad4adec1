"""What the simulator produces, and how it reads: text for analysts, JSON for tools."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from engine.store.records import HistoryOutcome, TimerStatus
from engine.timing.local import Deadline, LocalTime, local_parts

__all__ = [
    "ArmedTimer",
    "Deadline",
    "LocalTime",
    "Timeline",
    "TimelineEntry",
    "TimerChange",
    "local_parts",
    "render_deadlines",
    "render_timeline",
]


@dataclass(frozen=True, slots=True)
class TimerChange:
    name: str
    event: str
    due_at: datetime | None
    recurring: bool
    remaining_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "event": self.event,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "recurring": self.recurring,
            "remaining_seconds": self.remaining_seconds,
        }


@dataclass(frozen=True, slots=True)
class ArmedTimer:
    name: str
    event: str
    status: str
    due_at: datetime | None
    local: LocalTime | None
    day: int | None
    recurring: bool
    remaining_seconds: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "event": self.event,
            "status": self.status,
            "due_at": self.due_at.isoformat() if self.due_at else None,
            "local": self.local.to_dict() if self.local else None,
            "day": self.day,
            "recurring": self.recurring,
            "remaining_seconds": self.remaining_seconds,
        }


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One thing that happened to the case: opened, an event, a timer, or time passing."""

    kind: str  # "open" | "event" | "timer" | "nothing"
    line: int | None  # script line (None for timer firings)
    day: int
    at: datetime  # UTC
    local: LocalTime
    actor: str
    roles: tuple[str, ...]
    event: str
    from_state: str | None
    to_state: str
    outcome: str  # history outcome: opened / transitioned / internal / timer / timer_ignored
    timer: str | None = None
    lateness_seconds: float | None = None
    skipped_periods: int = 0
    armed: tuple[TimerChange, ...] = ()
    cancelled: tuple[TimerChange, ...] = ()
    paused: tuple[TimerChange, ...] = ()
    resumed: tuple[TimerChange, ...] = ()
    actions: tuple[str, ...] = ()  # host actions the step ran (delivered from the outbox)
    clock: str | None = None  # a case clock fired: "deadline" or "watchdog" (a lapse)
    item_id: str | None = None  # the work item the row changed (None on case rows)
    item_from: str | None = None  # its state before (None when the row created it)
    item_to: str | None = None  # its state after

    def to_dict(self) -> dict[str, Any]:
        return {
            "clock": self.clock,
            "kind": self.kind,
            "line": self.line,
            "day": self.day,
            "at": self.at.isoformat(),
            "local": self.local.to_dict(),
            "actor": self.actor,
            "roles": list(self.roles),
            "event": self.event,
            "from_state": self.from_state,
            "to_state": self.to_state,
            "outcome": self.outcome,
            "timer": self.timer,
            "lateness_seconds": self.lateness_seconds,
            "skipped_periods": self.skipped_periods,
            "armed": [c.to_dict() for c in self.armed],
            "cancelled": [c.to_dict() for c in self.cancelled],
            "paused": [c.to_dict() for c in self.paused],
            "resumed": [c.to_dict() for c in self.resumed],
            "actions": list(self.actions),
            "item_id": self.item_id,
            "item_from": self.item_from,
            "item_to": self.item_to,
        }


@dataclass(frozen=True, slots=True)
class Timeline:
    workflow: str
    version: int
    timezone: str
    calendar: str
    start: datetime
    start_local: LocalTime
    case_id: str | None
    final_state: str
    entries: tuple[TimelineEntry, ...]
    pending: tuple[ArmedTimer, ...]

    @property
    def timers_fired(self) -> tuple[TimelineEntry, ...]:
        return tuple(e for e in self.entries if e.kind == "timer")

    def to_dict(self) -> dict[str, Any]:
        return {
            "workflow": self.workflow,
            "version": self.version,
            "timezone": self.timezone,
            "calendar": self.calendar,
            "start": self.start.isoformat(),
            "start_local": self.start_local.to_dict(),
            "final_state": self.final_state,
            "entries": [e.to_dict() for e in self.entries],
            "pending_timers": [p.to_dict() for p in self.pending],
        }


def _when(day: int | None, local: LocalTime | None) -> str:
    if local is None or day is None:
        return "-"
    return f"day {day} ({local})"


def _transition(e: TimelineEntry) -> str:
    if e.kind == "nothing":
        return f"in {e.to_state}"
    if e.from_state is None:
        return f"→ {e.to_state}"
    if e.from_state == e.to_state:
        suffix = " (no transition)" if e.outcome == HistoryOutcome.TIMER_IGNORED else ""
        return f"stays in {e.to_state}{suffix}"
    return f"{e.from_state} → {e.to_state}"


def render_timeline(t: Timeline, *, day_of: Any = None) -> str:
    """The timeline as aligned text (one block per entry)."""
    lines = [
        f"Workflow {t.workflow} v{t.version} · zone {t.timezone} · calendar {t.calendar}",
        f"Start: {t.start_local} (day 0)",
        "",
    ]
    who_width = max([len(_who(e)) for e in t.entries] + [3])
    ev_width = max([len(_event(e)) for e in t.entries] + [5])
    header = f"{'day':>4}  {'when':<24}  {'who':<{who_width}}  {'event':<{ev_width}}  change"
    lines.append(header)
    lines.append("-" * len(header.rstrip()) + "-" * 20)
    for e in t.entries:
        lines.append(
            f"{e.day:>4}  {e.local!s:<24}  {_who(e):<{who_width}}  {_event(e):<{ev_width}}  "
            f"{_transition(e)}"
        )
        pad = " " * 32
        if e.item_id is not None:
            was = e.item_from or "(new)"
            change = f"{was} → {e.item_to}" if e.item_from != e.item_to else f"stays {e.item_to}"
            lines.append(f"{pad}item {e.item_id}: {change}")
        if e.kind == "timer" and e.skipped_periods:
            lines.append(f"{pad}caught up: {e.skipped_periods} period(s) skipped")
        if e.lateness_seconds:
            lines.append(f"{pad}late by {e.lateness_seconds:.0f}s")
        for c in e.armed:
            every = " (recurring)" if c.recurring else ""
            lines.append(f"{pad}+ armed {c.name} → {c.event}{every}: {_due(c, t, day_of)}")
        for c in e.resumed:
            lines.append(f"{pad}▶ resumed {c.name}: {_due(c, t, day_of)}")
        for c in e.paused:
            left = _left(c.remaining_seconds)
            lines.append(f"{pad}⏸ paused {c.name}{left}")
        for c in e.cancelled:
            lines.append(f"{pad}- cancelled {c.name}")
        if e.actions:
            lines.append(f"{pad}» actions: {', '.join(e.actions)}")
    lines.append("")
    lines.append(f"Final state: {t.final_state}")
    if t.pending:
        lines.append("Timers still pending:")
        for p in t.pending:
            if p.status == TimerStatus.PAUSED:
                lines.append(f"  {p.name} → {p.event}: paused{_left(p.remaining_seconds)}")
            else:
                lines.append(f"  {p.name} → {p.event}: {_when(p.day, p.local)}")
    fired = len(t.timers_fired)
    lines.append(f"Timers fired: {fired}")
    return "\n".join(lines) + "\n"


def _who(e: TimelineEntry) -> str:
    if e.kind == "timer" and e.clock == "watchdog":
        return f"watchdog {e.timer} lapsed"
    if e.kind == "timer" and e.clock is not None:
        return f"clock {e.timer}"
    if e.kind == "timer":
        return f"timer {e.timer}"
    if e.kind == "nothing":
        return "-"
    roles = ",".join(e.roles)
    return f"{e.actor} ({roles})" if roles and e.actor not in e.roles else e.actor


def _event(e: TimelineEntry) -> str:
    return f"{e.item_id} {e.event}" if e.item_id is not None else e.event


def _due(c: TimerChange, t: Timeline, day_of: Any) -> str:
    if c.due_at is None:
        return "-"
    from engine.timing.calendar import zone

    tz = zone(t.timezone)
    local = local_parts(c.due_at, tz)
    start_day = t.start.astimezone(tz).date()
    day = (c.due_at.astimezone(tz).date() - start_day).days
    return f"due day {day} ({local})"


def _left(seconds: float | None) -> str:
    if seconds is None:
        return ""
    days, rest = divmod(int(seconds), 86400)
    hours = rest // 3600
    return f" with {days}d {hours}h left" if days else f" with {hours}h left"


def render_deadlines(
    workflow: str, version: int, timezone: str, start_local: LocalTime, rows: list[Deadline]
) -> str:
    lines = [
        f"Deadlines of {workflow} v{version} (zone {timezone}) "
        f"if the case enters each state at {start_local} (day 0)",
        "",
    ]
    headers = ("state", "timer", "fires", "when", "event")
    table = [
        (
            r.state,
            r.timer + (" (pausable)" if r.pausable else ""),
            r.spec,
            _when(r.day, r.local) if r.due_at else r.note,
            r.event,
        )
        for r in rows
    ]
    widths = [max([len(h)] + [len(row[i]) for row in table]) for i, h in enumerate(headers)]
    lines.append("  ".join(h.ljust(w) for h, w in zip(headers, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths))
    for row in table:
        lines.append("  ".join(v.ljust(w) for v, w in zip(row, widths, strict=True)).rstrip())
    from engine.timing.calendar import zone

    tz = zone(timezone)
    for r in rows:
        if r.then:
            later = ", ".join(str(local_parts(x, tz)) for x in r.then)
            lines.append(f"  {r.state}.{r.timer} then: {later}, ...")
    return "\n".join(lines) + "\n"
