"""Workflow definitions to and from JSON, so every registered version survives.

Open cases stay on the version they started with even after its file is
replaced by a newer version; the engine rebuilds that version from the JSON
stored in ``workflow_definitions.ir``. Plain data only: no pickling, nothing
that could import or run code.
"""

from __future__ import annotations

from typing import Any

from engine.definitions.build import action_specs
from engine.definitions.business_keys import BusinessKey
from engine.definitions.items import ItemClock, ItemCreate, ItemState, ItemType
from engine.definitions.model import (
    CatchUp,
    Model,
    Phase,
    Role,
    SourceLocation,
    State,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
)
from engine.store.clock_codec import (
    calendar_from_json,
    calendar_to_json,
    clock_from_json,
    clock_to_json,
    duration_from_json,
    duration_to_json,
)

CODEC_VERSION = 1


def _loc(loc: SourceLocation | None) -> list[Any] | None:
    return None if loc is None else [loc.file, loc.line, loc.column]


def _unloc(data: list[Any] | None) -> SourceLocation | None:
    return None if data is None else SourceLocation(str(data[0]), int(data[1]), int(data[2]))


def _timer(t: Timer) -> dict[str, Any]:
    return {
        "name": t.name,
        "state": t.state,
        "event": t.event,
        "kind": t.kind.value,
        "after": duration_to_json(t.after),
        "business_days": t.business_days,
        "at": t.at,
        "offset": duration_to_json(t.offset),
        "every": duration_to_json(t.every),
        "catch_up": t.catch_up.value,
        "pausable": t.pausable,
        "description": t.description,
        "location": _loc(t.location),
        "calendar": t.calendar,
    }


def _untimer(d: dict[str, Any]) -> Timer:
    return Timer(
        name=d["name"],
        state=d["state"],
        event=d["event"],
        kind=TimerKind(d["kind"]),
        after=duration_from_json(d["after"]),
        business_days=d["business_days"],
        at=d["at"],
        offset=duration_from_json(d["offset"]),
        every=duration_from_json(d["every"]),
        catch_up=CatchUp(d["catch_up"]),
        pausable=bool(d["pausable"]),
        description=d["description"],
        location=_unloc(d["location"]),
        calendar=d.get("calendar"),
    )


def _transition(t: Transition) -> dict[str, Any]:
    return {
        "source": t.source,
        "event": t.event,
        "target": t.target,
        "guard": t.guard,
        "roles": list(t.roles),
        "payload_schema": t.payload_schema,
        "writes": [list(w) for w in t.writes],
        "sets": [list(s) for s in t.sets],
        "actions": list(t.actions),
        "description": t.description,
        "location": _loc(t.location),
        "case_event": t.case_event,
    }


def _untransition(d: dict[str, Any]) -> Transition:
    return Transition(
        source=d["source"],
        event=d["event"],
        target=d["target"],
        guard=d["guard"],
        roles=tuple(d["roles"]),
        payload_schema=d["payload_schema"],
        writes=tuple((a, b) for a, b in d["writes"]),
        sets=tuple((a, b) for a, b in d["sets"]),
        actions=tuple(d["actions"]),
        description=d["description"],
        location=_unloc(d["location"]),
        case_event=d.get("case_event"),  # absent in rows stored before items
    )


def _state(s: State) -> dict[str, Any]:
    return {
        "name": s.name,
        "phase": s.phase.value,
        "description": s.description,
        "final": s.final,
        "hold": s.hold,
        "on_enter": list(s.on_enter),
        "on_exit": list(s.on_exit),
        "timers": [_timer(t) for t in s.timers],
        "location": _loc(s.location),
    }


def _unstate(d: dict[str, Any]) -> State:
    return State(
        name=d["name"],
        phase=Phase(d["phase"]),
        description=d["description"],
        final=bool(d["final"]),
        hold=bool(d["hold"]),
        on_enter=tuple(d["on_enter"]),
        on_exit=tuple(d["on_exit"]),
        timers=tuple(_untimer(t) for t in d["timers"]),
        location=_unloc(d["location"]),
    )


def _item_type(t: ItemType) -> dict[str, Any]:
    c = t.create
    return {
        "name": t.name,
        "data_schema": t.data_schema,
        "initial": t.initial,
        "states": [
            {
                "name": s.name,
                "description": s.description,
                "final": s.final,
                "on_enter": list(s.on_enter),
                "on_exit": list(s.on_exit),
                "timers": [_timer(x) for x in s.timers],
                "location": _loc(s.location),
            }
            for s in t.states.values()
        ],
        "transitions": [_transition(x) for x in t.transitions],
        "create": {
            "roles": list(c.roles),
            "case_states": list(c.case_states),
            "payload_schema": c.payload_schema,
            "writes": [list(w) for w in c.writes],
            "copy_payload": c.copy_payload,
            "sets": [list(x) for x in c.sets],
            "actions": list(c.actions),
            "case_event": c.case_event,
            "description": c.description,
            "location": _loc(c.location),
        },
        "clocks": [
            {
                "name": k.name,
                "states": list(k.states),
                "event": k.event,
                "kind": k.kind.value,
                "after": duration_to_json(k.after),
                "business_days": k.business_days,
                "at": k.at,
                "offset": duration_to_json(k.offset),
                "calendar": k.calendar,
                "description": k.description,
                "location": _loc(k.location),
            }
            for k in t.clocks
        ],
        "max_items": t.max_items,
        "title": t.title,
        "description": t.description,
        "location": _loc(t.location),
    }


def _unitem_type(d: dict[str, Any]) -> ItemType:
    c = d["create"]
    states = [
        ItemState(
            name=s["name"],
            description=s["description"],
            final=bool(s["final"]),
            on_enter=tuple(s["on_enter"]),
            on_exit=tuple(s["on_exit"]),
            timers=tuple(_untimer(x) for x in s["timers"]),
            location=_unloc(s["location"]),
        )
        for s in d["states"]
    ]
    return ItemType(
        name=d["name"],
        data_schema=d["data_schema"],
        initial=d["initial"],
        states={s.name: s for s in states},
        transitions=tuple(_untransition(x) for x in d["transitions"]),
        create=ItemCreate(
            roles=tuple(c["roles"]),
            case_states=tuple(c["case_states"]),
            payload_schema=c["payload_schema"],
            writes=tuple((a, b) for a, b in c["writes"]),
            copy_payload=bool(c["copy_payload"]),
            sets=tuple((a, b) for a, b in c["sets"]),
            actions=tuple(c["actions"]),
            case_event=c["case_event"],
            description=c["description"],
            location=_unloc(c["location"]),
        ),
        clocks=tuple(
            ItemClock(
                name=k["name"],
                states=tuple(k["states"]),
                event=k["event"],
                kind=TimerKind(k["kind"]),
                after=duration_from_json(k["after"]),
                business_days=k["business_days"],
                at=k["at"],
                offset=duration_from_json(k["offset"]),
                calendar=k["calendar"],
                description=k["description"],
                location=_unloc(k["location"]),
            )
            for k in d["clocks"]
        ),
        max_items=int(d["max_items"]),
        title=d["title"],
        description=d["description"],
        location=_unloc(d["location"]),
    )


def definition_to_json(d: WorkflowDefinition) -> dict[str, Any]:
    """A JSON-ready dict holding everything the runtime needs."""
    return {
        "codec": CODEC_VERSION,
        "name": d.name,
        "version": d.version,
        "title": d.title,
        "description": d.description,
        "model": d.model.value,
        "initial": d.initial,
        "case_schema": d.case_schema,
        "roles": [[r.name, r.description] for r in d.roles.values()],
        "states": [_state(s) for s in d.states.values()],
        "transitions": [_transition(t) for t in d.transitions],
        "timezone": d.timezone,
        "calendar": calendar_to_json(d.calendar),
        "calendars": {name: calendar_to_json(c) for name, c in d.calendars.items()},
        "clocks": [clock_to_json(c) for c in d.clocks],
        "parameters": d.parameters,
        "actions": {
            a.name: {
                "arguments": dict(a.arguments),
                "include_record": a.include_record,
                "description": a.description,
            }
            for a in d.action_specs.values()
        },
        "source_path": d.source_path,
        "content_hash": d.content_hash,
        "business_keys": [[k.name, k.unique] for k in d.business_keys],
        "open_roles": list(d.open_roles),
        "items": [_item_type(t) for t in d.item_types.values()],
    }


def definition_from_json(data: dict[str, Any], source_text: str) -> WorkflowDefinition:
    """Rebuild a definition stored by :func:`definition_to_json`."""
    states = [_unstate(s) for s in data["states"]]
    return WorkflowDefinition(
        name=data["name"],
        version=int(data["version"]),
        title=data["title"],
        description=data["description"],
        model=Model(data["model"]),
        initial=data["initial"],
        case_schema=data["case_schema"],
        roles={name: Role(name, desc) for name, desc in data["roles"]},
        states={s.name: s for s in states},
        transitions=tuple(_untransition(t) for t in data["transitions"]),
        timezone=data["timezone"],
        calendar=calendar_from_json(data["calendar"]),
        parameters=data["parameters"],
        action_specs=action_specs(data.get("actions", {})),
        calendars={n: calendar_from_json(c) for n, c in data.get("calendars", {}).items()},
        clocks=tuple(clock_from_json(c) for c in data.get("clocks", ())),
        source_path=data["source_path"],
        source_text=source_text,
        content_hash=data["content_hash"],
        business_keys=tuple(BusinessKey(n, bool(u)) for n, u in data.get("business_keys", [])),
        open_roles=tuple(data.get("open_roles", ())),  # absent in rows stored before it
        item_types={t.name: t for t in map(_unitem_type, data.get("items", ()))},
    )
