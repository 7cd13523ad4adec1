"""Checked ``items:`` YAML -> the frozen item types (engine/definitions/items.py).

Only called once the schema and the checks found no error, so shapes are
trusted here. ``$param`` references resolve as they do in case timers.
"""

from __future__ import annotations

from typing import Any

from engine.definitions.assemble import (
    Assembled,
    Origin,
    RawTransition,
    as_dict,
    as_list,
    as_str,
    str_list,
)
from engine.definitions.build_parts import build_timer, build_transition, location_of
from engine.definitions.items import (
    DEFAULT_MAX_ITEMS,
    ItemClock,
    ItemCreate,
    ItemState,
    ItemType,
)
from engine.definitions.model import TimerKind
from engine.definitions.resolve import resolve_business_days, resolve_duration, resolve_offset

__all__ = ["build_item_types", "item_transitions", "write_pairs"]


def build_item_types(asm: Assembled) -> dict[str, ItemType]:
    """Every declared item type, in the order written."""
    return {
        name: _item_type(asm, name, as_dict(raw), asm.origin("items", name))
        for name, raw in as_dict(asm.data.get("items")).items()
    }


def item_transitions(origin: Origin, data: dict[str, Any]) -> list[RawTransition]:
    """The raw transitions of an item type (``origin`` is the type's), state by state."""
    out: list[RawTransition] = []
    for sname, sdata in as_dict(data.get("states")).items():
        for i, t in enumerate(as_list(as_dict(sdata).get("transitions"))):
            if isinstance(t, dict):
                out.append(RawTransition(sname, t, origin.child("states", sname, "transitions", i)))
    return out


def write_pairs(writes: Any) -> tuple[tuple[str, str], ...]:
    """``writes`` as (target field, payload field) pairs: a list names both the same."""
    if isinstance(writes, dict):
        return tuple((str(k), str(v)) for k, v in writes.items())
    return tuple((w, w) for w in str_list(writes))


def _item_type(asm: Assembled, name: str, data: dict[str, Any], origin: Origin) -> ItemType:
    states = {
        sname: _item_state(asm, sname, as_dict(sdata), origin.child("states", sname))
        for sname, sdata in as_dict(data.get("states")).items()
    }
    return ItemType(
        name=name,
        data_schema=as_dict(data.get("schema")),
        initial=str(data["initial"]),
        states=states,
        transitions=tuple(build_transition(t) for t in item_transitions(origin, data)),
        create=_create(as_dict(data.get("create")), origin.child("create")),
        clocks=tuple(
            _clock(asm, as_dict(c), origin.child("clocks", i))
            for i, c in enumerate(as_list(data.get("clocks")))
        ),
        max_items=int(data.get("max", DEFAULT_MAX_ITEMS)),
        title=str(data.get("title", "")),
        description=str(data.get("description", "")),
        location=location_of(origin),
    )


def _item_state(asm: Assembled, name: str, data: dict[str, Any], origin: Origin) -> ItemState:
    return ItemState(
        name=name,
        description=str(data.get("description", "")),
        final=data.get("final") is True,
        on_enter=tuple(str_list(data.get("on_enter"))),
        on_exit=tuple(str_list(data.get("on_exit"))),
        timers=tuple(
            build_timer(asm, name, t, origin.child("timers", i))
            for i, t in enumerate(as_list(data.get("timers")))
        ),
        location=location_of(origin),
    )


def _create(data: dict[str, Any], origin: Origin) -> ItemCreate:
    writes = data.get("writes")
    payload = data.get("payload")
    return ItemCreate(
        roles=tuple(str_list(data.get("roles"))),
        case_states=tuple(str_list(data.get("in"))),
        payload_schema=payload if isinstance(payload, dict) else None,
        writes=write_pairs(writes),
        copy_payload=writes is None,
        sets=tuple((str(k), str(v)) for k, v in as_dict(data.get("set")).items()),
        actions=tuple(str_list(data.get("actions"))),
        case_event=as_str(data.get("case_event")),
        description=str(data.get("description", "")),
        location=location_of(origin),
    )


def _clock(asm: Assembled, c: dict[str, Any], origin: Origin) -> ItemClock:
    if "after" in c:
        kind = TimerKind.AFTER
    elif "business_days" in c:
        kind = TimerKind.BUSINESS_DAYS
    else:
        kind = TimerKind.AT
    return ItemClock(
        name=str(c["name"]),
        states=tuple(str_list(c.get("states"))),
        event=str(c["event"]),
        kind=kind,
        after=resolve_duration(asm, c["after"])[0] if "after" in c else None,
        business_days=(
            resolve_business_days(asm, c["business_days"])[0] if "business_days" in c else None
        ),
        at=as_str(c.get("at")),
        offset=resolve_offset(asm, c["offset"])[0] if "offset" in c else None,
        calendar=as_str(c.get("calendar")),
        description=str(c.get("description", "")),
        location=location_of(origin),
    )
