"""Draw a workflow: Mermaid ``stateDiagram-v2`` and Graphviz DOT.

Both renderers draw the same picture, computed once by :func:`_layout`:

* the phases as clusters (composite states), in phase order, each holding its
  states in definition order; a state's box shows its name and the first
  sentence of its description;
* ``[*] --> initial`` and ``final --> [*]``;
* one edge per transition, labelled ``event [guard] / roles``;
* timer edges labelled with the timer's due rule and event
  (``⏱ P14D first_contact_overdue``, ``⏱ every P7D contact_due``); dashed in DOT;
* internal transitions (the case stays) as ``↻ event / roles`` lines inside
  the state's box rather than self-loops (timer-driven ones stay loops);
* transitions shared by many states (withdraw, transfer, put on hold: the same
  event, target, guard and roles from three or more states) drawn once, from a
  pseudo-state such as "any open state except withdrawn";
* ``@previous`` (resume) as one pseudo-state "↩ previous state".

Output is deterministic: definition order, no sets, no timestamps.
"""

from __future__ import annotations

import re
import textwrap
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Literal

from engine.definitions.describe import (
    first_sentence,
    phase_title,
    states_by_phase,
    timer_short,
)
from engine.definitions.model import (
    PHASE_ORDER,
    PREVIOUS_STATE,
    Timer,
    Transition,
    WorkflowDefinition,
)

SHARED_MIN_SOURCES = 3
"""Identical transitions from at least this many states are drawn once."""

GUARD_LIMIT = 48
DESCRIPTION_WIDTH = 40
DESCRIPTION_LINES = 2

EdgeKind = Literal["event", "timer", "shared"]


@dataclass(frozen=True, slots=True)
class _Edge:
    source: str  # state name, or the key of a pseudo-state
    target: str  # state name or PREVIOUS_STATE
    label: str
    kind: EdgeKind


@dataclass(slots=True)
class _Pseudo:
    """A summarised set of source states ("any open state except ...")."""

    key: str
    label: str
    sources: tuple[str, ...]
    lines: list[str] = field(default_factory=list)  # internal shared transitions


@dataclass(slots=True)
class _Layout:
    lines: dict[str, list[str]]  # state -> description lines (first sentence, internal events)
    edges: list[_Edge]
    pseudos: list[_Pseudo]
    uses_previous: bool


# -- the picture, independent of the output language --------------------------------


def transition_label(t: Transition, timer: Timer | None = None) -> str:
    """``event [guard] / roles``; for a timer edge ``⏱ P14D event [guard]``."""
    text = f"⏱ {_shorten(timer_short(timer))} {t.event}" if timer is not None else t.event
    if t.guard:
        text += f" [{_shorten(t.guard)}]"
    if t.roles:
        text += " / " + ", ".join(t.roles)
    return text


def _shorten(text: str) -> str:
    """One line, at most GUARD_LIMIT characters (long CEL is cut with an ellipsis)."""
    flat = " ".join(text.split())
    if len(flat) > GUARD_LIMIT:
        flat = flat[: GUARD_LIMIT - 1].rstrip() + "…"
    return flat


def _layout(defn: WorkflowDefinition) -> _Layout:
    lines: dict[str, list[str]] = {}
    for name, state in defn.states.items():
        lines[name] = _summary_lines(state.description)

    def timers_for(t: Transition) -> list[Timer]:
        return [tm for tm in defn.states[t.source].timers if tm.event == t.event]

    groups: dict[tuple[object, ...], list[Transition]] = {}
    for t in defn.transitions:
        if not timers_for(t):
            groups.setdefault(_signature(t), []).append(t)
    shared_keys = {
        key
        for key, members in groups.items()
        if len({m.source for m in members}) >= SHARED_MIN_SOURCES
    }

    # each state's own edges in definition order, then the shared ones
    edges: list[_Edge] = []
    shared: list[Transition] = []
    for t in defn.transitions:
        timers = timers_for(t)
        for timer in timers:
            target = t.source if t.target is None else t.target
            edges.append(_Edge(t.source, target, transition_label(t, timer), "timer"))
        if timers:
            continue
        key = _signature(t)
        if key in shared_keys:
            if groups[key][0] is t:
                shared.append(t)
        elif t.target is None:
            lines[t.source].append("↻ " + transition_label(t))
        else:
            edges.append(_Edge(t.source, t.target, transition_label(t), "event"))

    pseudos: dict[tuple[str, ...], _Pseudo] = {}
    for t in shared:
        sources = tuple(dict.fromkeys(m.source for m in groups[_signature(t)]))
        pseudo = pseudos.get(sources)
        if pseudo is None:
            pseudo = _Pseudo(f"shared_{len(pseudos) + 1}", _sources_label(defn, sources), sources)
            pseudos[sources] = pseudo
        if t.target is None:
            pseudo.lines.append("↻ " + transition_label(t))
        else:
            edges.append(_Edge(pseudo.key, t.target, transition_label(t), "shared"))

    uses_previous = any(e.target == PREVIOUS_STATE for e in edges)
    return _Layout(lines, edges, list(pseudos.values()), uses_previous)


def _summary_lines(description: str) -> list[str]:
    """The first sentence, wrapped onto at most DESCRIPTION_LINES short lines."""
    summary = first_sentence(description, DESCRIPTION_WIDTH * DESCRIPTION_LINES)
    wrapped = textwrap.wrap(summary, DESCRIPTION_WIDTH)
    if len(wrapped) > DESCRIPTION_LINES:
        wrapped = wrapped[:DESCRIPTION_LINES]
        wrapped[-1] = wrapped[-1].rstrip(".,;…") + "…"
    return wrapped


def _signature(t: Transition) -> tuple[object, ...]:
    loc = (t.location.file, t.location.line, t.location.column) if t.location else None
    return (t.event, t.target, t.guard, t.roles, t.writes, t.sets, t.actions, loc)


def _sources_label(defn: WorkflowDefinition, sources: tuple[str, ...]) -> str:
    """Name a set of states briefly: "any open state except x", "any open state in planning"."""
    chosen = set(sources)
    open_states = [s.name for s in defn.states.values() if not s.final]
    if chosen <= set(open_states):
        missing = [n for n in open_states if n not in chosen]
        if len(missing) <= 3:
            return "any open state" + (f" except {', '.join(missing)}" if missing else "")
        phases = [p for p in PHASE_ORDER if any(defn.states[n].phase is p for n in sources)]
        in_phases = [n for n in open_states if defn.states[n].phase in phases]
        missing = [n for n in in_phases if n not in chosen]
        if len(missing) <= 2:
            text = "any open state in " + ", ".join(str(p) for p in phases)
            return text + (f" except {', '.join(missing)}" if missing else "")
    return "from " + ", ".join(n for n in defn.states if n in chosen)


# -- Mermaid ------------------------------------------------------------------------

# IDs the Mermaid state-diagram lexer reads as keywords (case-insensitive).
_MERMAID_KEYWORDS = (
    "default",
    "note",
    "state",
    "class",
    "classdef",
    "scale",
    "statediagram",
    "click",
    "style",
    "direction",
    "hide",
    "acctitle",
    "accdescr",
    "end",
)
_DIRECTION = re.compile(r"(direction)(\s+)(tb|bt|rl|lr)", re.IGNORECASE)
_MERMAID_REPLACE = str.maketrans(
    {
        ":": "\ua789",  # modifier-letter colon: ":" ends a description
        ";": "\uff1b",  # fullwidth semicolon: ";" ends a statement
        "%": "\uff05",  # fullwidth percent: "%%" starts a comment
        '"': "'",  # ends a quoted state label
        "<": "\u2039",  # angle quotes: HTML-like text is sanitised out
        ">": "\u203a",
        "\n": " ",
        "\r": " ",
        "\t": " ",
    }
)


def mermaid_text(text: str) -> str:
    """Text safe in a Mermaid state-diagram label: no statement or comment breaks."""
    safe = " ".join(text.translate(_MERMAID_REPLACE).split())
    # "direction lr" anywhere on a line is read as a layout statement: break the word.
    return _DIRECTION.sub(lambda m: "directio\u200dn" + m.group(2) + m.group(3), safe)


def _mermaid_ids(defn: WorkflowDefinition, extra: Iterable[str]) -> dict[str, str]:
    """A Mermaid id for every state and pseudo-state; keyword-like names get an alias."""
    used = set(defn.states)
    ids: dict[str, str] = {}

    def fresh(base: str) -> str:
        candidate = base
        while candidate in used:
            candidate += "_"
        used.add(candidate)
        return candidate

    for name in defn.states:
        lowered = name.lower()
        if any(lowered.startswith(k) for k in _MERMAID_KEYWORDS):
            ids[name] = fresh(f"st_{name}")
        else:
            ids[name] = name
    for key in extra:
        ids[key] = fresh(key)
    return ids


def render_mermaid(defn: WorkflowDefinition) -> str:
    """The workflow as a Mermaid ``stateDiagram-v2`` (renders on GitHub and GitLab)."""
    layout = _layout(defn)
    extra = [f"phase_{p}" for p, _ in states_by_phase(defn)]
    extra += [p.key for p in layout.pseudos] + ["previous_state"]
    ids = _mermaid_ids(defn, extra)
    title = mermaid_text(f"{defn.title} ({defn.name} v{defn.version})")

    out = [
        "stateDiagram-v2",
        f"    accTitle: {title}",
        "    classDef hold fill:#fff4d6,stroke:#b7791f",
        "    classDef final stroke-width:3px",
        "    classDef shared fill:#f2f2f2,stroke:#888,stroke-dasharray:4 3",
    ]
    for phase, members in states_by_phase(defn):
        out.append(f'    state "{phase_title(phase)}" as {ids[f"phase_{phase}"]} {{')
        for state in members:
            sid = ids[state.name]
            if sid != state.name:
                out.append(f'        state "{state.name}" as {sid}')
            else:
                out.append(f"        {sid}")
            if layout.lines[state.name]:
                if sid == state.name:
                    out.append(f"        {sid} : {state.name}")
                out += [
                    f"        {sid} : {mermaid_text(line)}" for line in layout.lines[state.name]
                ]
        out.append("    }")
    for pseudo in layout.pseudos:
        pid = ids[pseudo.key]
        out.append(f'    state "{mermaid_text(pseudo.label)}" as {pid}')
        if pseudo.lines:
            out.append(f"    {pid} : {mermaid_text(pseudo.label)}")
            out += [f"    {pid} : {mermaid_text(line)}" for line in pseudo.lines]
    if layout.uses_previous:
        out.append(f'    state "↩ previous state" as {ids["previous_state"]}')

    out.append(f"    [*] --> {ids[defn.initial]}")
    for edge in layout.edges:
        target = ids["previous_state"] if edge.target == PREVIOUS_STATE else ids[edge.target]
        out.append(f"    {ids[edge.source]} --> {target} : {mermaid_text(edge.label)}")
    for name in defn.final_states:
        out.append(f"    {ids[name]} --> [*]")

    for cls, names in (
        ("hold", [ids[s.name] for s in defn.states.values() if s.hold]),
        ("final", [ids[n] for n in defn.final_states]),
        ("shared", [ids[p.key] for p in layout.pseudos]),
    ):
        if names:
            out.append(f"    class {','.join(names)} {cls}")
    return "\n".join(out) + "\n"


# -- Graphviz DOT -------------------------------------------------------------------


def dot_quote(text: str) -> str:
    """A DOT double-quoted string; newlines become centred line breaks."""
    escaped = text.replace("\\", "\\\\").replace('"', '\\"')
    escaped = escaped.replace("\r\n", "\n").replace("\r", "\n").replace("\n", "\\n")
    return f'"{escaped}"'


def render_dot(defn: WorkflowDefinition) -> str:
    """The workflow as a Graphviz digraph: one ``cluster_<phase>`` per phase."""
    layout = _layout(defn)
    title = f"{defn.title} ({defn.name} v{defn.version})"
    out = [
        f"digraph {dot_quote(defn.name)} {{",
        f"  graph [label={dot_quote(title)}, labelloc=t, fontname=Helvetica, fontsize=14,"
        " rankdir=TB, newrank=true, nodesep=0.4];",
        "  node [shape=box, style=rounded, fontname=Helvetica, fontsize=10];",
        "  edge [fontname=Helvetica, fontsize=9];",
        '  "__start" [shape=point, width=0.18, label=""];',
    ]
    final = set(defn.final_states)
    for phase, members in states_by_phase(defn):
        out.append(f"  subgraph cluster_{phase} {{")
        out.append(
            f"    label={dot_quote(phase_title(phase))}; style=rounded; color=gray60;"
            " fontcolor=gray30;"
        )
        for state in members:
            label = "\n".join([state.name, *layout.lines[state.name]])
            attrs = [f"label={dot_quote(label)}"]
            if state.hold:
                attrs.append('style="rounded,filled", fillcolor="#fff4d6"')
            if state.name in final:
                attrs.append("peripheries=2")
            out.append(f"    {dot_quote(state.name)} [{', '.join(attrs)}];")
        out.append("  }")
    for pseudo in layout.pseudos:
        label = "\n".join([pseudo.label, *pseudo.lines])
        out.append(
            f"  {dot_quote('__' + pseudo.key)} [label={dot_quote(label)}, shape=note,"
            " style=dashed, color=gray50];"
        )
    if layout.uses_previous:
        out.append(
            f'  "__previous" [label={dot_quote("↩ previous state")}, shape=box,'
            " style=dashed, color=gray50];"
        )
    if final:
        out.append(
            '  "__end" [shape=doublecircle, width=0.12, label="", style=filled, fillcolor=black];'
        )

    out.append(f'  "__start" -> {dot_quote(defn.initial)};')
    for edge in layout.edges:
        source = f"__{edge.source}" if edge.kind == "shared" else edge.source
        target = "__previous" if edge.target == PREVIOUS_STATE else edge.target
        attrs = [f"label={dot_quote(edge.label)}"]
        if edge.kind == "timer":
            attrs.append("style=dashed, color=darkorange3, fontcolor=darkorange3")
        elif edge.kind == "shared":
            attrs.append("style=dotted, color=gray40")
        out.append(f"  {dot_quote(source)} -> {dot_quote(target)} [{', '.join(attrs)}];")
    for name in defn.final_states:
        out.append(f'  {dot_quote(name)} -> "__end";')
    out.append("}")
    return "\n".join(out) + "\n"
