"""Case clocks and named calendars: their frozen IR and how it is built from checked YAML.

A :class:`Clock` is a deadline declared once for the whole case, not inside a
state: it starts on an event, on entering a state or phase, or when a record
field is set; counts from an anchor (a record instant, or the start); and is
stopped by events, states, phases or a CEL condition. A watchdog is a clock
restarted by each of its ``reset_on`` events that fires when its interval
passes without one, then re-arms. Named calendars (``calendars:``) give
business-day timers and clocks their own holidays and weekend.

Nothing here knows about the runtime: :mod:`engine.runtime.clocks` runs them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from engine.definitions.assemble import Assembled, Origin, as_dict, as_list, as_str, str_list
from engine.definitions.model import (
    Calendar,
    Duration,
    Phase,
    SourceLocation,
    State,
    Timer,
    TimerKind,
)
from engine.definitions.resolve import resolve_business_days, resolve_duration

__all__ = [
    "WEEKDAYS",
    "Clock",
    "ClockKind",
    "ClockTriggers",
    "build_calendar",
    "build_calendars",
    "build_clocks",
]

WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
"""Weekday names as written under ``weekend``; index = ``date.weekday()``."""

CLOCK_STATE = ""
"""The ``state`` of a clock's pseudo-timer: a clock belongs to no state."""


class ClockKind(StrEnum):
    """What a case clock does."""

    DEADLINE = "deadline"  # due once per start (or every period, with `every`)
    WATCHDOG = "watchdog"  # due when no `reset_on` event came within the interval


@dataclass(frozen=True, slots=True)
class ClockTriggers:
    """What starts (or stops) a clock: any one of these."""

    events: tuple[str, ...] = ()
    states: tuple[str, ...] = ()
    phases: tuple[Phase, ...] = ()
    field: str | None = None  # start only: the record field is set or changes value
    when: str | None = None  # stop only: CEL over case/params/now, checked after each change

    @property
    def empty(self) -> bool:
        return not (self.events or self.states or self.phases or self.field or self.when)

    def on_entry(self, state: State) -> bool:
        """Entering ``state`` triggers this."""
        return state.name in self.states or state.phase in self.phases


@dataclass(frozen=True, slots=True)
class Clock:
    """A case clock (see the module docstring).

    ``timing`` is how the due instant is computed from the anchor: ``after``
    (deadlines ``after``, watchdogs ``within``), ``business_days`` or
    ``every`` (a recurring deadline).
    """

    name: str
    event: str
    timing: TimerKind
    kind: ClockKind = ClockKind.DEADLINE
    start: ClockTriggers = ClockTriggers()
    stop: ClockTriggers = ClockTriggers()
    reset_on: tuple[str, ...] = ()
    after: Duration | None = None
    business_days: int | None = None
    every: Duration | None = None
    anchor: str | None = None  # CEL instant; None: the instant of the start
    calendar: str | None = None  # a name under `calendars`; None: the workflow's `calendar`
    pausable: bool = False
    description: str = ""
    location: SourceLocation | None = None

    @property
    def recurring(self) -> bool:
        return self.timing is TimerKind.EVERY

    @property
    def watchdog(self) -> bool:
        return self.kind is ClockKind.WATCHDOG

    def as_timer(self) -> Timer:
        """The clock's duration as a :class:`Timer`, for the pure due-time rules."""
        return Timer(
            name=self.name,
            state=CLOCK_STATE,
            event=self.event,
            kind=self.timing,
            after=self.after,
            business_days=self.business_days,
            every=self.every,
            pausable=self.pausable,
            description=self.description,
            location=self.location,
            calendar=self.calendar,
        )


# -- building (only from a document the schema and the checks accepted) --------------------


def build_calendar(data: Any) -> Calendar:
    cal = as_dict(data)
    weekend = cal.get("weekend")
    return Calendar(
        country=cal.get("country", "US"),
        subdivision=cal.get("subdivision"),
        extra_holidays=tuple(str_list(cal.get("extra_holidays"))),
        categories=tuple(str_list(cal.get("categories"))),
        weekend=(5, 6)
        if weekend is None
        else tuple(sorted(WEEKDAYS.index(d) for d in str_list(weekend))),
        removed_holidays=tuple(str_list(cal.get("removed_holidays"))),
    )


def build_calendars(asm: Assembled) -> dict[str, Calendar]:
    return {name: build_calendar(c) for name, c in as_dict(asm.data.get("calendars")).items()}


def _triggers(data: Any) -> ClockTriggers:
    d = as_dict(data)
    return ClockTriggers(
        events=tuple(str_list(d.get("events"))),
        states=tuple(str_list(d.get("states"))),
        phases=tuple(Phase(p) for p in str_list(d.get("phases"))),
        field=as_str(d.get("field")),
        when=as_str(d.get("when")),
    )


def _location(origin: Origin) -> SourceLocation:
    line, col = origin.position()
    return SourceLocation(origin.doc.file, line, col)


def build_clock(asm: Assembled, c: dict[str, Any], origin: Origin) -> Clock:
    kind = ClockKind(c.get("kind", "deadline"))

    def dur(key: str) -> Duration | None:
        return resolve_duration(asm, c[key])[0] if key in c else None

    after = dur("within") if kind is ClockKind.WATCHDOG else dur("after")
    every = dur("every")
    business_days = (
        resolve_business_days(asm, c["business_days"])[0] if "business_days" in c else None
    )
    if business_days is not None:
        timing = TimerKind.BUSINESS_DAYS
    elif every is not None:
        timing = TimerKind.EVERY
    else:
        timing = TimerKind.AFTER
    return Clock(
        name=c["name"],
        event=c["event"],
        timing=timing,
        kind=kind,
        start=_triggers(c.get("start")),
        stop=_triggers(c.get("stop")),
        reset_on=tuple(str_list(c.get("reset_on"))),
        after=after,
        business_days=business_days,
        every=every,
        anchor=as_str(c.get("anchor")),
        calendar=as_str(c.get("calendar")),
        pausable=c.get("pausable", False) is True,
        description=c.get("description", ""),
        location=_location(origin),
    )


def build_clocks(asm: Assembled) -> tuple[Clock, ...]:
    origin = asm.origin("clocks")
    return tuple(
        build_clock(asm, c, origin.child(i))
        for i, c in enumerate(as_list(asm.data.get("clocks")))
        if isinstance(c, dict)
    )
