"""Timers, transitions and locations from checked raw data (case states and item states)."""

from __future__ import annotations

from typing import Any

from engine.definitions.assemble import Assembled, Origin, RawTransition, as_dict
from engine.definitions.model import CatchUp, SourceLocation, Timer, TimerKind, Transition
from engine.definitions.resolve import resolve_business_days, resolve_duration, resolve_offset


def location_of(origin: Origin) -> SourceLocation:
    """The file, line and column where ``origin``'s element (its key) was written."""
    line, col = origin.position()
    return SourceLocation(origin.doc.file, line, col)


def build_timer(asm: Assembled, state: str, t: dict[str, Any], origin: Origin) -> Timer:
    """A checked timer entry (of a case state, or of an item state) as a :class:`Timer`."""

    def dur(key: str) -> Any:
        return resolve_duration(asm, t[key])[0] if key in t else None

    if "after" in t:
        kind = TimerKind.AFTER
    elif "business_days" in t:
        kind = TimerKind.BUSINESS_DAYS
    elif "at" in t:
        kind = TimerKind.AT
    else:
        kind = TimerKind.EVERY
    business_days = (
        resolve_business_days(asm, t["business_days"])[0] if "business_days" in t else None
    )
    return Timer(
        name=t["name"],
        state=state,
        event=t["event"],
        kind=kind,
        after=dur("after"),
        business_days=business_days,
        at=t.get("at"),
        offset=resolve_offset(asm, t["offset"])[0] if "offset" in t else None,
        every=dur("every"),
        catch_up=CatchUp(t.get("catch_up", "once")),
        pausable=t.get("pausable", False),
        description=t.get("description", ""),
        location=location_of(origin),
        calendar=t.get("calendar"),
    )


def build_transition(t: RawTransition) -> Transition:
    """A checked transition (of a case state, or of an item state) as a :class:`Transition`."""
    data = t.data
    writes = data.get("writes")
    if isinstance(writes, dict):
        pairs = tuple((k, v) for k, v in writes.items())
    else:
        pairs = tuple((w, w) for w in writes or ())
    return Transition(
        source=t.source,
        event=data["event"],
        target=t.target,
        guard=data.get("guard"),
        roles=tuple(data.get("roles", ())),
        payload_schema=data.get("payload"),
        writes=pairs,
        sets=tuple((k, v) for k, v in as_dict(data.get("set")).items()),
        actions=tuple(data.get("actions", ())),
        description=data.get("description", ""),
        location=location_of(t.origin),
        case_event=data.get("case_event"),
    )
