"""Draw a workflow: Mermaid ``stateDiagram-v2`` and Graphviz DOT.

Both renderers draw the same picture, computed once by :func:`_layout`:

* the phases as clusters (composite states), in phase order, each holding its
  states in definition order; a state's box shows its name and the first
  sentence of its description;
* ``[*] --> initial`` and ``final --> [*]``;
* one edge per transition, labelled ``event [guard] / roles``;
* timer edges labelled with the word "timer", the due rule and the event
  (``timer P14D first_contact_overdue``, ``timer every P7D contact_due``; no
  emoji, so no emoji font is needed); dashed in DOT;
* internal transitions (the case stays) as ``↻ event / roles`` lines inside
  the state's box rather than self-loops (timer-driven ones stay loops);
* a state's self-loops merged into ONE edge whose label lists them all, one a
  line: Mermaid's layout keeps a single self-loop per state (the others
  vanish) and Graphviz stacks them on top of each other;
* transitions shared by many states (withdraw, transfer, put on hold: the same
  event, target, guard and roles from three or more states) drawn once, from a
  pseudo-state such as "any open state except withdrawn";
* ``@previous`` (resume) as one pseudo-state "↩ previous state";
* each work item type's lifecycle as a sub-diagram of its own (a composite
  state in Mermaid, a cluster in DOT; :mod:`diagram_items`);
* optionally, where a case is: ``highlight`` (its current state, drawn bold)
  and ``path`` (the states it went through, in order: shaded, and in DOT the
  edges it took drawn bold too).

:func:`mermaid` and :func:`dot` are the entry points (``render_mermaid`` and
``render_dot`` are the same functions under their older names).
Output is deterministic: definition order, no sets, no timestamps.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from itertools import pairwise
from typing import Literal

from engine.definitions.describe import (
    first_sentence,
    phase_title,
    states_by_phase,
    timer_short,
)
from engine.definitions.diagram_items import item_dot_lines, item_mermaid_lines
from engine.definitions.diagram_text import (
    MERMAID_KEYWORDS,
    dot_label,
    dot_quote,
    mermaid_text,
)
from engine.definitions.model import (
    PHASE_ORDER,
    PREVIOUS_STATE,
    Timer,
    Transition,
    WorkflowDefinition,
)

__all__ = [
    "MERMAID_LINE_BREAK",
    "dot",
    "dot_quote",
    "drawn_edges",
    "mermaid",
    "mermaid_text",
    "render_dot",
    "render_mermaid",
    "transition_label",
]

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
    labels: tuple[str, ...]  # one line per transition drawn (several on a merged self-loop)
    kind: EdgeKind

    @property
    def label(self) -> str:
        return "\n".join(self.labels)

    @property
    def self_loop(self) -> bool:
        return self.source == self.target


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


@dataclass(frozen=True, slots=True)
class _Highlight:
    """Where a case is: its current state, the states it passed and the moves it made."""

    current: str | None
    visited: frozenset[str]
    moves: frozenset[tuple[str, str]]  # (from state, to state), consecutive in the path

    def taken(self, layout: _Layout) -> set[int]:
        """Indexes of the edges the path went along.

        A move is matched to the direct edges between its two states; only a
        move no direct edge explains is matched to a shared edge (a
        pseudo-state stands for its sources) or to a resume ("previous state").
        """
        pseudos = {p.key: p.sources for p in layout.pseudos}
        direct = {
            i
            for i, e in enumerate(layout.edges)
            if e.kind != "shared" and (e.source, e.target) in self.moves
        }
        explained = {(layout.edges[i].source, layout.edges[i].target) for i in direct}
        rest = self.moves - explained
        for i, e in enumerate(layout.edges):
            sources = pseudos.get(e.source, (e.source,))
            if e.target == PREVIOUS_STATE:
                hit = any(a in sources for a, _ in rest)
            else:
                hit = any((a, e.target) in rest for a in sources)
            if hit and i not in direct:
                direct.add(i)
        return direct


# -- the picture, independent of the output language --------------------------------


def transition_label(t: Transition, timer: Timer | None = None) -> str:
    """``event [guard] / roles``; for a timer edge ``timer P14D event [guard]``."""
    text = f"timer {_shorten(timer_short(timer))} {t.event}" if timer is not None else t.event
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
            edges.append(_Edge(t.source, target, (transition_label(t, timer),), "timer"))
        if timers:
            continue
        key = _signature(t)
        if key in shared_keys:
            if groups[key][0] is t:
                shared.append(t)
        elif t.target is None:
            lines[t.source].append("↻ " + transition_label(t))
        else:
            edges.append(_Edge(t.source, t.target, (transition_label(t),), "event"))

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
            edges.append(_Edge(pseudo.key, t.target, (transition_label(t),), "shared"))

    uses_previous = any(e.target == PREVIOUS_STATE for e in edges)
    return _Layout(lines, _merge_self_loops(edges), list(pseudos.values()), uses_previous)


def _merge_self_loops(edges: list[_Edge]) -> list[_Edge]:
    """One self-loop per state, at the place of its first, with every label in order.

    A merged loop is a timer edge when any of its parts is (dashed in DOT).
    """
    loops: dict[str, list[_Edge]] = {}
    for e in edges:
        if e.self_loop:
            loops.setdefault(e.source, []).append(e)
    merged: list[_Edge] = []
    for e in edges:
        if not e.self_loop:
            merged.append(e)
        elif loops[e.source][0] is e:
            parts = loops[e.source]
            kind: EdgeKind = "timer" if any(p.kind == "timer" for p in parts) else e.kind
            labels = tuple(label for p in parts for label in p.labels)
            merged.append(_Edge(e.source, e.target, labels, kind))
    return merged


def drawn_edges(defn: WorkflowDefinition) -> list[tuple[str, str, str]]:
    """Every edge the diagrams draw, one per transition line, as (source, target, label).

    A merged self-loop contributes one entry per label; a shared transition's
    source is its pseudo-state key (``shared_1``...). Tests compare this with
    the rendered output to prove that no edge is lost.
    """
    return [(e.source, e.target, label) for e in _layout(defn).edges for label in e.labels]


def _highlight(defn: WorkflowDefinition, highlight: str | None, path: Sequence[str]) -> _Highlight:
    """Check the names (ValueError for a state the workflow does not have) and index them."""
    for name in [*([highlight] if highlight is not None else []), *path]:
        if name not in defn.states:
            raise ValueError(f"workflow {defn.name} v{defn.version} has no state {name!r}")
    steps = [s for i, s in enumerate(path) if i == 0 or path[i - 1] != s]
    moves = frozenset(pairwise(steps))
    return _Highlight(highlight, frozenset(steps), moves)


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
        if any(lowered.startswith(k) for k in MERMAID_KEYWORDS):
            ids[name] = fresh(f"st_{name}")
        else:
            ids[name] = name
    for key in extra:
        ids[key] = fresh(key)
    return ids


def _fresh_ids(used: set[str]) -> Callable[[str], str]:
    """A function giving ``base`` (or ``base_``, ``base__``...) not yet in ``used``."""

    def fresh(base: str) -> str:
        candidate = base
        while candidate in used:
            candidate += "_"
        used.add(candidate)
        return candidate

    return fresh


MERMAID_LINE_BREAK = "<br/>"
"""Joins the labels of a merged self-loop (Mermaid renders it as a line break)."""


def render_mermaid(
    defn: WorkflowDefinition, *, highlight: str | None = None, path: Sequence[str] = ()
) -> str:
    """The workflow as a Mermaid ``stateDiagram-v2`` (renders on GitHub and GitLab).

    ``highlight`` names a state to draw as current; ``path`` the states a case
    went through, in order, to shade (Mermaid state diagrams cannot style one
    edge, so only DOT also marks the edges taken). Raises ValueError for a
    state the workflow does not have.
    """
    marks = _highlight(defn, highlight, path)
    layout = _layout(defn)
    extra = [f"phase_{p}" for p, _ in states_by_phase(defn)]
    extra += [p.key for p in layout.pseudos] + ["previous_state"]
    ids = _mermaid_ids(defn, extra)
    title = mermaid_text(f"{defn.title} ({defn.name} v{defn.version})")

    out = [
        "stateDiagram-v2",
        f"    accTitle: {title}",
    ]
    if marks.current is not None:
        out.append(f"    accDescr: {mermaid_text(f'current state {marks.current}')}")
    out += [
        "    classDef hold fill:#fff4d6,stroke:#b7791f",
        "    classDef final stroke-width:3px",
        "    classDef shared fill:#f2f2f2,stroke:#888,stroke-dasharray:4 3",
    ]
    if marks.visited:
        out.append("    classDef visited fill:#dbeafe,stroke:#1d4ed8")
    if marks.current is not None:
        out.append("    classDef current fill:#fde68a,stroke:#b45309,stroke-width:4px")
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
        label = MERMAID_LINE_BREAK.join(mermaid_text(part) for part in edge.labels)
        out.append(f"    {ids[edge.source]} --> {target} : {label}")
    for name in defn.final_states:
        out.append(f"    {ids[name]} --> [*]")
    out += item_mermaid_lines(defn, _fresh_ids({*ids.values(), *defn.states}))

    for cls, names in (
        ("hold", [ids[s.name] for s in defn.states.values() if s.hold]),
        ("final", [ids[n] for n in defn.final_states]),
        ("shared", [ids[p.key] for p in layout.pseudos]),
        ("visited", [ids[n] for n in defn.states if n in marks.visited and n != marks.current]),
        ("current", [ids[marks.current]] if marks.current is not None else []),
    ):
        if names:
            out.append(f"    class {','.join(names)} {cls}")
    return "\n".join(out) + "\n"


# -- Graphviz DOT -------------------------------------------------------------------


def render_dot(
    defn: WorkflowDefinition, *, highlight: str | None = None, path: Sequence[str] = ()
) -> str:
    """The workflow as a Graphviz digraph: one ``cluster_<phase>`` per phase.

    ``highlight`` and ``path`` as for :func:`render_mermaid`; here the edges
    between consecutive states of the path are drawn bold as well. Raises
    ValueError for a state the workflow does not have.
    """
    marks = _highlight(defn, highlight, path)
    layout = _layout(defn)
    title = f"{defn.title} ({defn.name} v{defn.version})"
    if marks.current is not None:
        title += f"\ncurrent state: {marks.current}"
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
            fill = "#fff4d6" if state.hold else None
            if state.name == marks.current:
                fill = "#fde68a"
                attrs.append('penwidth=3, color="#b45309"')
            elif state.name in marks.visited:
                fill = "#dbeafe"
                attrs.append('color="#1d4ed8"')
            if fill is not None:
                attrs.append(f'style="rounded,filled", fillcolor="{fill}"')
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
    taken = marks.taken(layout) if marks.moves else set()
    for i, edge in enumerate(layout.edges):
        source = f"__{edge.source}" if edge.kind == "shared" else edge.source
        target = "__previous" if edge.target == PREVIOUS_STATE else edge.target
        attrs = [f"label={dot_label(edge.labels)}"]
        if edge.kind == "timer":
            attrs.append("style=dashed, color=darkorange3, fontcolor=darkorange3")
        elif edge.kind == "shared":
            attrs.append("style=dotted, color=gray40")
        if i in taken:
            attrs.append('penwidth=2.5, color="#1d4ed8"')
        out.append(f"  {dot_quote(source)} -> {dot_quote(target)} [{', '.join(attrs)}];")
    for name in defn.final_states:
        out.append(f'  {dot_quote(name)} -> "__end";')
    out += item_dot_lines(defn)
    out.append("}")
    return "\n".join(out) + "\n"


mermaid = render_mermaid
"""``mermaid(definition, *, highlight=None, path=())``: the Mermaid text (for the console)."""

dot = render_dot
"""``dot(definition, *, highlight=None, path=())``: the Graphviz DOT text."""
