"""Work item types to and from JSON (see :mod:`codec`; revision 0011).

Definitions stored before items existed have no ``item_types`` key: they read
back as declaring none. Timers and transitions are encoded by the codec's own
functions, handed in, so both stay one copy.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from engine.definitions.items import ItemClock, ItemCreate, ItemState, ItemType
from engine.definitions.model import SourceLocation, Timer, TimerKind, Transition
from engine.store.clock_codec import duration_from_json, duration_to_json

Encode = Callable[[Any], dict[str, Any]]
Decode = Callable[[dict[str, Any]], Any]


def _loc(loc: SourceLocation | None) -> list[Any] | None:
    return None if loc is None else [loc.file, loc.line, loc.column]


def _unloc(data: list[Any] | None) -> SourceLocation | None:
    return None if data is None else SourceLocation(str(data[0]), int(data[1]), int(data[2]))


def _clock(c: ItemClock) -> dict[str, Any]:
    return {
        "name": c.name,
        "states": list(c.states),
        "event": c.event,
        "kind": c.kind.value,
        "after": duration_to_json(c.after),
        "business_days": c.business_days,
        "at": c.at,
        "offset": duration_to_json(c.offset),
        "calendar": c.calendar,
        "description": c.description,
        "location": _loc(c.location),
    }


def _unclock(d: dict[str, Any]) -> ItemClock:
    return ItemClock(
        name=d["name"],
        states=tuple(d["states"]),
        event=d["event"],
        kind=TimerKind(d["kind"]),
        after=duration_from_json(d["after"]),
        business_days=d["business_days"],
        at=d["at"],
        offset=duration_from_json(d["offset"]),
        calendar=d["calendar"],
        description=d["description"],
        location=_unloc(d["location"]),
    )


def _create(c: ItemCreate) -> dict[str, Any]:
    return {
        "roles": list(c.roles),
        "case_states": list(c.case_states),
        "payload_schema": c.payload_schema,
        "writes": [list(w) for w in c.writes],
        "copy_payload": c.copy_payload,
        "sets": [list(s) for s in c.sets],
        "actions": list(c.actions),
        "case_event": c.case_event,
        "description": c.description,
        "location": _loc(c.location),
    }


def _uncreate(d: dict[str, Any]) -> ItemCreate:
    return ItemCreate(
        roles=tuple(d["roles"]),
        case_states=tuple(d["case_states"]),
        payload_schema=d["payload_schema"],
        writes=tuple((a, b) for a, b in d["writes"]),
        copy_payload=bool(d["copy_payload"]),
        sets=tuple((a, b) for a, b in d["sets"]),
        actions=tuple(d["actions"]),
        case_event=d["case_event"],
        description=d["description"],
        location=_unloc(d["location"]),
    )


def item_types_to_json(
    types: dict[str, ItemType], *, timer: Callable[[Timer], dict[str, Any]], transition: Encode
) -> list[dict[str, Any]]:
    """Every item type, in declaration order."""
    return [
        {
            "name": it.name,
            "title": it.title,
            "description": it.description,
            "data_schema": it.data_schema,
            "initial": it.initial,
            "max_items": it.max_items,
            "states": [
                {
                    "name": s.name,
                    "description": s.description,
                    "final": s.final,
                    "on_enter": list(s.on_enter),
                    "on_exit": list(s.on_exit),
                    "timers": [timer(tm) for tm in s.timers],
                    "location": _loc(s.location),
                }
                for s in it.states.values()
            ],
            "transitions": [transition(t) for t in it.transitions],
            "create": _create(it.create),
            "clocks": [_clock(c) for c in it.clocks],
            "location": _loc(it.location),
        }
        for it in types.values()
    ]


def item_types_from_json(
    data: list[dict[str, Any]],
    *,
    timer: Callable[[dict[str, Any]], Timer],
    transition: Callable[[dict[str, Any]], Transition],
) -> dict[str, ItemType]:
    out: dict[str, ItemType] = {}
    for d in data:
        states = [
            ItemState(
                name=s["name"],
                description=s["description"],
                final=bool(s["final"]),
                on_enter=tuple(s["on_enter"]),
                on_exit=tuple(s["on_exit"]),
                timers=tuple(timer(tm) for tm in s["timers"]),
                location=_unloc(s["location"]),
            )
            for s in d["states"]
        ]
        out[d["name"]] = ItemType(
            name=d["name"],
            data_schema=d["data_schema"],
            initial=d["initial"],
            states={s.name: s for s in states},
            transitions=tuple(transition(t) for t in d["transitions"]),
            create=_uncreate(d["create"]),
            clocks=tuple(_unclock(c) for c in d["clocks"]),
            max_items=int(d["max_items"]),
            title=d["title"],
            description=d["description"],
            location=_unloc(d["location"]),
        )
    return out
