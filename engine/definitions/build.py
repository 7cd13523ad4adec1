"""Assembled, checked raw data -> the immutable :class:`WorkflowDefinition`.

Only called once the schema and the checks found no error, so shapes are
trusted here.
"""

from __future__ import annotations

import hashlib
from typing import Any

from engine.definitions.assemble import Assembled, as_dict, str_list
from engine.definitions.build_parts import build_timer, build_transition, location_of
from engine.definitions.business_keys import build_business_keys
from engine.definitions.clocks import build_calendar, build_calendars, build_clocks
from engine.definitions.item_build import build_item_types
from engine.definitions.model import (
    ActionSpec,
    Model,
    Phase,
    Role,
    State,
    WorkflowDefinition,
)

FRAGMENT_SEPARATOR = "\n---\n# fragment: {path}\n"


def source_text(asm: Assembled) -> str:
    """The workflow file's text, then each fragment's after a separator naming it.

    Fragments are named as written under ``include`` (relative to the workflow
    file), so the text and its hash do not depend on the directory the
    workflow was loaded from.
    """
    parts = [asm.main.text]
    for inc, frag in zip(asm.fragment_includes, asm.fragments, strict=True):
        parts.append(FRAGMENT_SEPARATOR.format(path=inc))
        parts.append(frag.text)
    return "".join(parts)


def build_definition(asm: Assembled, source_path: str) -> WorkflowDefinition:
    data = asm.data
    text = source_text(asm)
    states = {name: _state(asm, name) for name in asm.states}
    return WorkflowDefinition(
        name=data["name"],
        version=int(data["version"]),
        title=data["title"],
        description=data["description"],
        model=Model(data["model"]),
        initial=data["initial"],
        case_schema=data["case_schema"],
        roles={
            name: Role(name, str(as_dict(r.data).get("description", "")))
            for name, r in asm.roles.items()
        },
        states=states,
        transitions=tuple(build_transition(t) for t in asm.transitions),
        timezone=data.get("timezone", "UTC"),
        calendar=build_calendar(data.get("calendar")),
        parameters={name: as_dict(p.data).get("value") for name, p in asm.parameters.items()},
        action_specs=action_specs(as_dict(data.get("actions"))),
        calendars=build_calendars(asm),
        clocks=build_clocks(asm),
        source_path=source_path,
        source_text=text,
        content_hash=hashlib.sha256(text.encode("utf-8")).hexdigest(),
        business_keys=build_business_keys(data),
        open_roles=tuple(str_list(data.get("open_roles"))),
        item_types=build_item_types(asm),
    )


def action_specs(data: dict[str, Any]) -> dict[str, ActionSpec]:
    """The ``actions:`` map (or its stored JSON) as specs."""
    out: dict[str, ActionSpec] = {}
    for name, raw in data.items():
        entry = as_dict(raw)
        out[name] = ActionSpec(
            name=name,
            arguments=tuple((str(k), str(v)) for k, v in as_dict(entry.get("arguments")).items()),
            include_record=bool(entry.get("include_record", False)),
            description=str(entry.get("description", "")),
        )
    return out


def _state(asm: Assembled, name: str) -> State:
    raw = asm.states[name]
    data = raw.data
    timers = tuple(
        build_timer(asm, name, t, raw.origin.child("timers", i))
        for i, t in enumerate(data.get("timers", []))
    )
    return State(
        name=name,
        phase=Phase(data["phase"]),
        description=data.get("description", ""),
        final=data.get("final", False),
        hold=data.get("hold", False),
        on_enter=tuple(data.get("on_enter", ())),
        on_exit=tuple(data.get("on_exit", ())),
        timers=timers,
        location=location_of(raw.origin),
    )
