"""Work item types in ``casework describe`` (text) and its JSON (see :mod:`describe`).

For every item type: its data fields, who may add one and where, its states
(initial, final), events (from, event, target, guard, roles, writes, case
event), timers and clocks. Only the definition is described, never an item.
"""

from __future__ import annotations

from typing import Any

from engine.definitions.describe import (
    _jsonable,
    _location,
    _timer_dict,
    _transition_dict,
    first_sentence,
    roles_text,
    table,
    target_text,
    timer_when,
    writes_text,
)
from engine.definitions.items import ItemClock, ItemType
from engine.definitions.model import Transition, WorkflowDefinition

NONE = "-"


def item_clock_when(clock: ItemClock) -> str:
    """When an item clock is due, in words (as :func:`describe.timer_when`)."""
    return timer_when(clock.as_timer(""))


def data_fields_text(item: ItemType) -> str:
    """``provider*, service*, sent_on`` (* required), or ``-`` when the schema names none."""
    props = item.data_schema.get("properties")
    required = set(item.data_schema.get("required") or ())
    if not isinstance(props, dict) or not props:
        return NONE
    return ", ".join(f"{name}*" if name in required else str(name) for name in props)


def create_text(item: ItemType) -> list[str]:
    """The creation rule, one clause a line."""
    c = item.create
    lines = [f"roles: {', '.join(c.roles) or NONE}"]
    lines.append(f"in case states: {', '.join(c.case_states) or 'every state that is not final'}")
    lines.append(
        "payload: its own schema" if c.payload_schema is not None else "payload: the data schema"
    )
    if not c.copy_payload:
        lines.append("writes: " + ", ".join(f if f == p else f"{f}<-{p}" for f, p in c.writes))
    if c.sets:
        lines.append("set: " + ", ".join(f"{f} := {' '.join(e.split())}" for f, e in c.sets))
    if c.actions:
        lines.append(f"actions: {', '.join(c.actions)}")
    if c.case_event:
        lines.append(f"then sends the case: {c.case_event}")
    return lines


def _state_kind(item: ItemType, name: str) -> str:
    flags = []
    if name == item.initial:
        flags.append("initial")
    if item.states[name].final:
        flags.append("final")
    return ", ".join(flags) or "open"


def item_sections(defn: WorkflowDefinition) -> list[str]:
    """The ``Item types`` overview and one section per type (empty without items)."""
    if not defn.item_types:
        return []
    out = ["", "Item types"]
    rows = [
        [
            t.name,
            first_sentence(t.title, 40) or NONE,
            str(len(t.states)),
            str(t.max_items),
            ", ".join(t.create.roles) or NONE,
        ]
        for t in defn.item_types.values()
    ]
    out += table(["type", "title", "states", "max", "added by"], rows, "  ")
    for item in defn.item_types.values():
        title = f": {item.title}" if item.title else ""
        out += ["", f"Item {item.name}{title} (at most {item.max_items} per case)"]
        if item.description.strip():
            out.append(f"  {first_sentence(item.description, 116)}")
        out.append(f"  data: {data_fields_text(item)}")
        out.append("  create:")
        out += [f"    {line}" for line in create_text(item)]
        out.append("  states:")
        rows = [
            [s.name, _state_kind(item, s.name), first_sentence(s.description, 60) or NONE]
            for s in item.states.values()
        ]
        out += table(["state", "kind", "description"], rows, "    ")
        if item.transitions:
            out.append("  events:")
            rows = [
                [
                    t.source,
                    t.event,
                    target_text(t),
                    " ".join(t.guard.split()) if t.guard else NONE,
                    roles_text(t),
                    writes_text(t),
                    t.case_event or NONE,
                ]
                for t in item.transitions
            ]
            headers = ["from", "event", "target", "guard", "roles allowed", "writes", "case event"]
            out += table(headers, rows, "    ")
        timers = [tm for s in item.states.values() for tm in s.timers]
        if timers:
            out.append("  timers:")
            rows = [[tm.state, tm.name, timer_when(tm), tm.event] for tm in timers]
            out += table(["state", "timer", "when", "event"], rows, "    ")
        if item.clocks:
            out.append("  clocks:")
            rows = [[c.name, ", ".join(c.states), item_clock_when(c), c.event] for c in item.clocks]
            out += table(["clock", "runs in", "when", "event"], rows, "    ")
        actions = _item_actions(item)
        if actions:
            out.append("  actions:")
            out += [f"    {line}" for line in actions]
    return out


def _item_actions(item: ItemType) -> list[str]:
    lines = []
    for s in item.states.values():
        if s.on_enter:
            lines.append(f"on entering {s.name}: {', '.join(s.on_enter)}")
        if s.on_exit:
            lines.append(f"on leaving {s.name}: {', '.join(s.on_exit)}")
    for t in item.transitions:
        if t.actions:
            lines.append(f"on {t.source} {t.event} -> {target_text(t)}: {', '.join(t.actions)}")
    return lines


# -- JSON ---------------------------------------------------------------------------------


def items_dict(defn: WorkflowDefinition) -> list[dict[str, Any]]:
    """Every item type as JSON-ready data (for ``describe --format json``)."""
    out = []
    for item in defn.item_types.values():
        c = item.create
        out.append(
            {
                "name": item.name,
                "title": item.title,
                "description": item.description,
                "max": item.max_items,
                "schema": _jsonable(item.data_schema),
                "initial": item.initial,
                "final_states": list(item.final_states),
                "events": list(item.events),
                "create": {
                    "roles": list(c.roles),
                    "in": list(c.case_states),
                    "payload_schema": _jsonable(c.payload_schema),
                    "writes": [{"field": f, "payload_field": p} for f, p in c.writes],
                    "copy_payload": c.copy_payload,
                    "sets": [{"field": f, "expression": e} for f, e in c.sets],
                    "actions": list(c.actions),
                    "case_event": c.case_event,
                    "description": c.description,
                    "location": _location(c.location),
                },
                "states": [
                    {
                        "name": s.name,
                        "description": s.description,
                        "initial": s.name == item.initial,
                        "final": s.final,
                        "on_enter": list(s.on_enter),
                        "on_exit": list(s.on_exit),
                        "events": [_item_transition_dict(t) for t in item.transitions_from(s.name)],
                        "timers": [_timer_dict(t) for t in s.timers],
                    }
                    for s in item.states.values()
                ],
                "clocks": [
                    {
                        "name": k.name,
                        "states": list(k.states),
                        "kind": str(k.kind),
                        "when": item_clock_when(k),
                        "event": k.event,
                        "description": k.description,
                        "location": _location(k.location),
                    }
                    for k in item.clocks
                ],
                "location": _location(item.location),
            }
        )
    return out


def _item_transition_dict(t: Transition) -> dict[str, Any]:
    data = _transition_dict(t)
    data["writes"] = [{"field": f, "payload_field": p} for f, p in t.writes]
    data["sets"] = [{"field": f, "expression": e} for f, e in t.sets]
    data["case_event"] = t.case_event
    return data
