"""Case clocks, named calendars and timer calendars to and from JSON (see :mod:`codec`).

Definitions stored before clocks existed have none of these keys: they read
back as no clocks, no named calendars and the default weekend.
"""

from __future__ import annotations

from typing import Any

from engine.definitions.clocks import Clock, ClockKind, ClockTriggers
from engine.definitions.model import Calendar, Duration, Phase, SourceLocation, TimerKind


def calendar_to_json(c: Calendar) -> dict[str, Any]:
    return {
        "country": c.country,
        "subdivision": c.subdivision,
        "extra_holidays": list(c.extra_holidays),
        "categories": list(c.categories),
        "weekend": list(c.weekend),
        "removed_holidays": list(c.removed_holidays),
    }


def calendar_from_json(d: dict[str, Any]) -> Calendar:
    return Calendar(
        country=d["country"],
        subdivision=d["subdivision"],
        extra_holidays=tuple(d["extra_holidays"]),
        categories=tuple(d.get("categories", ())),
        weekend=tuple(d.get("weekend", (5, 6))),
        removed_holidays=tuple(d.get("removed_holidays", ())),
    )


def duration_to_json(d: Duration | None) -> dict[str, Any] | None:
    """A duration as stored (every part, and the text it was written as)."""
    if d is None:
        return None
    return {
        "text": d.text,
        "years": d.years,
        "months": d.months,
        "weeks": d.weeks,
        "days": d.days,
        "hours": d.hours,
        "minutes": d.minutes,
        "seconds": d.seconds,
    }


def duration_from_json(data: dict[str, Any] | None) -> Duration | None:
    return None if data is None else Duration(**data)


def _triggers(t: ClockTriggers) -> dict[str, Any]:
    return {
        "events": list(t.events),
        "states": list(t.states),
        "phases": [p.value for p in t.phases],
        "field": t.field,
        "when": t.when,
    }


def _untriggers(d: dict[str, Any]) -> ClockTriggers:
    return ClockTriggers(
        events=tuple(d["events"]),
        states=tuple(d["states"]),
        phases=tuple(Phase(p) for p in d["phases"]),
        field=d["field"],
        when=d["when"],
    )


def clock_to_json(c: Clock) -> dict[str, Any]:
    loc = c.location
    return {
        "name": c.name,
        "event": c.event,
        "timing": c.timing.value,
        "kind": c.kind.value,
        "start": _triggers(c.start),
        "stop": _triggers(c.stop),
        "reset_on": list(c.reset_on),
        "after": duration_to_json(c.after),
        "business_days": c.business_days,
        "every": duration_to_json(c.every),
        "anchor": c.anchor,
        "calendar": c.calendar,
        "pausable": c.pausable,
        "description": c.description,
        "location": None if loc is None else [loc.file, loc.line, loc.column],
    }


def clock_from_json(d: dict[str, Any]) -> Clock:
    loc = d["location"]
    return Clock(
        name=d["name"],
        event=d["event"],
        timing=TimerKind(d["timing"]),
        kind=ClockKind(d["kind"]),
        start=_untriggers(d["start"]),
        stop=_untriggers(d["stop"]),
        reset_on=tuple(d["reset_on"]),
        after=duration_from_json(d["after"]),
        business_days=d["business_days"],
        every=duration_from_json(d["every"]),
        anchor=d["anchor"],
        calendar=d["calendar"],
        pausable=bool(d["pausable"]),
        description=d["description"],
        location=None if loc is None else SourceLocation(str(loc[0]), int(loc[1]), int(loc[2])),
    )
