"""A workflow as a readable table (``casework describe``) or as JSON.

:func:`describe` prints a header (name, version, title, model, time zone,
calendar, initial state), an overview of the phases and their states, then
for every state its events (event, target, guard, roles allowed, writes),
timers (name, when, event, pausable) and actions, then each work item type
(:mod:`describe_items`). :func:`describe_dict` gives
the same content as JSON-ready data for editors and tooling.

Only the definition is described: no case data is ever involved.
"""

from __future__ import annotations

import textwrap
from collections.abc import Sequence
from dataclasses import fields, is_dataclass
from datetime import date, datetime
from enum import Enum
from typing import Any

from engine.definitions.model import (
    PHASE_ORDER,
    PREVIOUS_STATE,
    Calendar,
    Duration,
    Phase,
    State,
    Timer,
    TimerKind,
    Transition,
    WorkflowDefinition,
)

WIDTH = 120
MIN_COLUMN = 14
NONE = "-"


# -- shared wording (also used by the diagram renderers) ---------------------------


def timer_when(timer: Timer) -> str:
    """When the timer is due, in words: ``after P14D``, ``every P7D``, ..."""
    if timer.kind is TimerKind.AFTER and timer.after is not None:
        return f"after {timer.after.text}"
    if timer.kind is TimerKind.BUSINESS_DAYS and timer.business_days is not None:
        unit = "business day" if timer.business_days == 1 else "business days"
        return f"after {timer.business_days} {unit}"
    if timer.kind is TimerKind.AT and timer.at is not None:
        offset = ""
        if timer.offset is not None:
            text = timer.offset.text
            offset = f" - {text[1:]}" if text.startswith("-") else f" + {text}"
        return f"at {timer.at}{offset}"
    if timer.kind is TimerKind.EVERY and timer.every is not None:
        return f"every {timer.every.text}"
    return str(timer.kind)


def timer_short(timer: Timer) -> str:
    """The compact form drawn on diagram edges: ``P14D``, ``3 business days``..."""
    if timer.kind is TimerKind.AFTER and timer.after is not None:
        return timer.after.text
    if timer.kind is TimerKind.BUSINESS_DAYS and timer.business_days is not None:
        unit = "business day" if timer.business_days == 1 else "business days"
        return f"{timer.business_days} {unit}"
    return timer_when(timer)


def target_text(transition: Transition) -> str:
    """``assessing``, ``(stays)`` for an internal transition, ``@previous (...)``."""
    if transition.target is None:
        return "(stays)"
    if transition.target == PREVIOUS_STATE:
        return f"{PREVIOUS_STATE} (resume)"
    return transition.target


def roles_text(transition: Transition) -> str:
    """Who may send the event; timer-only events have no roles."""
    return ", ".join(transition.roles) if transition.roles else "(engine only)"


def writes_text(transition: Transition) -> str:
    parts = [f if f == p else f"{f}<-{p}" for f, p in transition.writes]
    parts += [f"{f} := {_one_line(expr)}" for f, expr in transition.sets]
    return ", ".join(parts) if parts else NONE


def calendar_text(calendar: Calendar) -> str:
    text = calendar.country
    if calendar.subdivision:
        text += f"-{calendar.subdivision}"
    if calendar.extra_holidays:
        n = len(calendar.extra_holidays)
        text += f" (+{n} extra holiday{'s' if n != 1 else ''})"
    return text


def states_by_phase(defn: WorkflowDefinition) -> list[tuple[Phase, list[State]]]:
    """Phases in phase order, each with its states in definition order; empty phases left out."""
    grouped: list[tuple[Phase, list[State]]] = []
    for phase in PHASE_ORDER:
        members = [s for s in defn.states.values() if s.phase is phase]
        if members:
            grouped.append((phase, members))
    return grouped


def phase_title(phase: Phase) -> str:
    return str(phase).replace("_", " ").capitalize()


def first_sentence(text: str, limit: int = 80) -> str:
    """The first sentence of ``text`` on one line, cut to ``limit`` characters."""
    flat = _one_line(text)
    for stop in (". ", "; "):
        cut = flat.find(stop)
        if cut != -1:
            flat = flat[: cut + 1].rstrip(";")
            break
    if len(flat) > limit:
        flat = flat[: limit - 1].rstrip() + "…"
    return flat


def _one_line(text: str) -> str:
    return " ".join(text.split())


# -- text ---------------------------------------------------------------------------


def table(
    headers: Sequence[str], rows: Sequence[Sequence[str]], indent: str = "", width: int = WIDTH
) -> list[str]:
    """Left-aligned columns two spaces apart; long cells wrap inside their column.

    When the natural width exceeds ``width``, the widest column is narrowed
    (one character at a time, down to MIN_COLUMN or its longest word) and
    its cells wrap onto continuation lines, so nothing is cut off.
    """
    widths = [len(h) for h in headers]
    for row in rows:
        for i, cell in enumerate(row):
            widths[i] = max(widths[i], len(cell))
    # a column narrows no further than its longest word (names stay whole), up to 40
    floors = []
    for i, header in enumerate(headers):
        words = [w for cell in [header, *(row[i] for row in rows)] for w in cell.split()]
        longest = max((len(w) for w in words), default=0)
        floors.append(min(widths[i], max(MIN_COLUMN, min(40, longest))))
    budget = width - len(indent) - 2 * (len(widths) - 1)
    while sum(widths) > budget:
        shrinkable = [i for i, w in enumerate(widths) if w > floors[i]]
        if not shrinkable:
            break
        widest = max(shrinkable, key=lambda i: widths[i])
        widths[widest] -= 1

    def lines(cells: Sequence[str]) -> list[str]:
        wrapped = [
            textwrap.wrap(c, widths[i], break_long_words=True, break_on_hyphens=False) or [""]
            for i, c in enumerate(cells)
        ]
        out = []
        for n in range(max(len(w) for w in wrapped)):
            parts = [w[n] if n < len(w) else "" for w in wrapped]
            padded = [p.ljust(widths[i]) for i, p in enumerate(parts)]
            out.append((indent + "  ".join(padded)).rstrip())
        return out

    out = [*lines(headers), (indent + "  ".join("-" * w for w in widths)).rstrip()]
    for row in rows:
        out.extend(lines(row))
    return out


def describe(defn: WorkflowDefinition) -> str:
    """The workflow as text: header, phases and states, then each state in detail."""
    initial = defn.initial
    out: list[str] = [f"{defn.name} v{defn.version}: {defn.title}", ""]
    header = [
        ("model", str(defn.model)),
        ("time zone", defn.timezone),
        ("calendar", calendar_text(defn.calendar)),
        ("initial", initial),
        ("final", ", ".join(defn.final_states) or NONE),
    ]
    if defn.source_path:
        header.append(("source", defn.source_path))
    out += [f"  {k + ':':<11}{v}" for k, v in header]
    if defn.description.strip():
        out += ["", *_wrapped(defn.description, "  ")]
    if defn.roles:
        out += ["", "Roles"]
        rows = [[r.name, first_sentence(r.description, 70) or NONE] for r in defn.roles.values()]
        out += table(["role", "description"], rows, "  ")
    if defn.parameters:
        out += ["", "Parameters"]
        rows = [[k, _value_text(v)] for k, v in defn.parameters.items()]
        out += table(["parameter", "value"], rows, "  ")

    out += ["", "Phases and states"]
    rows = []
    for phase, members in states_by_phase(defn):
        for i, state in enumerate(members):
            rows.append(
                [
                    str(phase) if i == 0 else "",
                    state.name,
                    _flags(state, initial),
                    first_sentence(state.description, 60) or NONE,
                ]
            )
    out += table(["phase", "state", "kind", "description"], rows, "  ")

    for phase, members in states_by_phase(defn):
        for state in members:
            out += ["", *_state_section(defn, state, phase)]
    from engine.definitions.describe_items import item_sections  # it builds on this module

    out += item_sections(defn)
    return "\n".join(out) + "\n"


def _flags(state: State, initial: str) -> str:
    flags = []
    if state.name == initial:
        flags.append("initial")
    if state.final:
        flags.append("final")
    if state.hold:
        flags.append("hold")
    return ", ".join(flags) or "open"


def _state_section(defn: WorkflowDefinition, state: State, phase: Phase) -> list[str]:
    out = [f"State {state.name} ({phase}, {_flags(state, defn.initial)})"]
    out += _wrapped(state.description, "  ")
    transitions = defn.transitions_from(state.name)
    if transitions:
        out.append("  events:")
        rows = [
            [
                t.event,
                target_text(t),
                _one_line(t.guard) if t.guard else NONE,
                roles_text(t),
                writes_text(t),
            ]
            for t in transitions
        ]
        out += table(["event", "target", "guard", "roles allowed", "writes"], rows, "    ")
    elif state.final:
        out.append("  events: none (final state)")
    else:
        out.append("  events: none")
    if state.timers:
        out.append("  timers:")
        rows = [
            [t.name, timer_when(t), t.event, "yes" if t.pausable else "no"] for t in state.timers
        ]
        out += table(["timer", "when", "event", "pausable"], rows, "    ")
    actions = _actions(state, transitions)
    if actions:
        out.append("  actions:")
        out += [f"    {line}" for line in actions]
    return out


def _actions(state: State, transitions: Sequence[Transition]) -> list[str]:
    lines = []
    if state.on_enter:
        lines.append(f"on enter: {', '.join(state.on_enter)}")
    if state.on_exit:
        lines.append(f"on exit: {', '.join(state.on_exit)}")
    for t in transitions:
        if t.actions:
            lines.append(f"on {t.event} -> {target_text(t)}: {', '.join(t.actions)}")
    return lines


def _wrapped(text: str, indent: str) -> list[str]:
    flat = _one_line(text)
    if not flat:
        return []
    return textwrap.wrap(flat, WIDTH, initial_indent=indent, subsequent_indent=indent)


def _value_text(value: Any) -> str:
    plain = _jsonable(value)
    return plain if isinstance(plain, str) else _one_line(repr(plain))


# -- JSON ---------------------------------------------------------------------------


def describe_dict(defn: WorkflowDefinition) -> dict[str, Any]:
    """The same content as :func:`describe`, as JSON-ready data."""
    from engine.definitions.describe_items import items_dict  # it builds on this module

    return {
        "name": defn.name,
        "version": defn.version,
        "title": defn.title,
        "description": defn.description,
        "model": str(defn.model),
        "timezone": defn.timezone,
        "calendar": {
            "country": defn.calendar.country,
            "subdivision": defn.calendar.subdivision,
            "extra_holidays": list(defn.calendar.extra_holidays),
        },
        "initial": defn.initial,
        "final_states": list(defn.final_states),
        "source_path": defn.source_path,
        "content_hash": defn.content_hash,
        "roles": [{"name": r.name, "description": r.description} for r in defn.roles.values()],
        "parameters": {k: _jsonable(v) for k, v in defn.parameters.items()},
        "case_schema": _jsonable(defn.case_schema),
        "events": list(defn.events),
        "phases": [
            {
                "phase": str(phase),
                "states": [_state_dict(defn, s) for s in members],
            }
            for phase, members in states_by_phase(defn)
        ],
        "items": items_dict(defn),
    }


def _state_dict(defn: WorkflowDefinition, state: State) -> dict[str, Any]:
    return {
        "name": state.name,
        "phase": str(state.phase),
        "description": state.description,
        "initial": state.name == defn.initial,
        "final": state.final,
        "hold": state.hold,
        "on_enter": list(state.on_enter),
        "on_exit": list(state.on_exit),
        "events": [_transition_dict(t) for t in defn.transitions_from(state.name)],
        "timers": [_timer_dict(t) for t in state.timers],
    }


def _transition_dict(t: Transition) -> dict[str, Any]:
    return {
        "event": t.event,
        "target": t.target,
        "internal": t.internal,
        "guard": t.guard,
        "roles": list(t.roles),
        "writes": [{"case_field": f, "payload_field": p} for f, p in t.writes],
        "sets": [{"case_field": f, "expression": e} for f, e in t.sets],
        "actions": list(t.actions),
        "payload_schema": _jsonable(t.payload_schema),
        "description": t.description,
        "location": _location(t.location),
    }


def _timer_dict(t: Timer) -> dict[str, Any]:
    return {
        "name": t.name,
        "kind": str(t.kind),
        "when": timer_when(t),
        "event": t.event,
        "after": t.after.text if t.after else None,
        "business_days": t.business_days,
        "at": t.at,
        "offset": t.offset.text if t.offset else None,
        "every": t.every.text if t.every else None,
        "catch_up": str(t.catch_up),
        "pausable": t.pausable,
        "description": t.description,
        "location": _location(t.location),
    }


def _location(loc: Any) -> dict[str, Any] | None:
    if loc is None:
        return None
    return {"file": loc.file, "line": loc.line, "column": loc.column}


def _jsonable(value: Any) -> Any:
    """Plain JSON data: durations as their ISO text, enums as values, tuples as lists."""
    if isinstance(value, Duration):
        return value.text
    if isinstance(value, Enum):
        return value.value
    if value is None or isinstance(value, str | int | float | bool):
        return value
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_jsonable(v) for v in value]
    if is_dataclass(value) and not isinstance(value, type):
        return {f.name: _jsonable(getattr(value, f.name)) for f in fields(value)}
    return str(value)
