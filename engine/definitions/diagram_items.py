"""Work item lifecycles in the diagrams: each item type as its own sub-diagram.

Mermaid: a composite state "Item TYPE" per item type, with its own ``[*]``
start and end; DOT: a ``cluster_item_TYPE`` per type. In both, an edge is
labelled ``event [guard] / roles``, prefixed ``timer WHEN`` or ``clock NAME WHEN``
when an item timer or clock sends the event, and suffixed ``⇒ case EVENT``
when the change then sends an event to the case. Internal item transitions
are lines (``↻ ...``) inside the state's box. :func:`render_text` draws the
case and every item lifecycle as plain lines (``casework diagram --format text``).
Output is deterministic: definition order.
"""

from __future__ import annotations

from collections.abc import Callable

from engine.definitions.describe import timer_short
from engine.definitions.describe_items import item_clock_when
from engine.definitions.diagram_text import dot_label, dot_quote, mermaid_text
from engine.definitions.items import ItemType
from engine.definitions.model import PREVIOUS_STATE, Transition, WorkflowDefinition

__all__ = ["item_dot_lines", "item_edge_label", "item_mermaid_lines", "render_text"]


def item_edge_label(item: ItemType, t: Transition) -> str:
    """``timer P14D no_answer``, ``accepted / provider ⇒ case referral_settled``..."""
    prefix = ""
    timers = [tm for tm in item.timers_of(t.source) if tm.event == t.event]
    clocks = [c for c in item.clocks_in(t.source) if c.event == t.event]
    if timers:
        prefix = f"timer {timer_short(timers[0])} "
    elif clocks:
        prefix = f"clock {clocks[0].name} {item_clock_when(clocks[0])} "
    text = prefix + t.event
    if t.guard:
        flat = " ".join(t.guard.split())
        text += f" [{flat if len(flat) <= 48 else flat[:47].rstrip() + '…'}]"
    if t.roles:
        text += " / " + ", ".join(t.roles)
    if t.case_event:
        text += f" ⇒ case {t.case_event}"
    return text


def _state_lines(item: ItemType, state: str) -> list[str]:
    return ["↻ " + item_edge_label(item, t) for t in item.transitions_from(state) if t.internal]


def item_mermaid_lines(defn: WorkflowDefinition, fresh: Callable[[str], str]) -> list[str]:
    """Mermaid statements of every item lifecycle; ``fresh(base)`` returns an unused id."""
    out: list[str] = []
    finals: list[str] = []
    for item in defn.item_types.values():
        ids = {name: fresh(f"item_{item.name}__{name}") for name in item.states}
        title = f"Item {item.name}" + (f": {item.title}" if item.title else "")
        out.append(f'    state "{mermaid_text(title)}" as {fresh(f"item_{item.name}")} {{')
        for name in item.states:
            out.append(f'        state "{name}" as {ids[name]}')
            out += [f"        {ids[name]} : {mermaid_text(x)}" for x in _state_lines(item, name)]
        out.append(f"        [*] --> {ids[item.initial]}")
        for t in item.transitions:
            if t.target is not None:
                label = mermaid_text(item_edge_label(item, t))
                out.append(f"        {ids[t.source]} --> {ids[t.target]} : {label}")
        for name in item.final_states:
            out.append(f"        {ids[name]} --> [*]")
            finals.append(ids[name])
        out.append("    }")
    if finals:
        out.append(f"    class {','.join(finals)} final")
    return out


def _dot_id(item: ItemType, state: str) -> str:
    # case state names start with a letter: "__item__..." can never collide with one
    return f"__item__{item.name}__{state}"


def item_dot_lines(defn: WorkflowDefinition) -> list[str]:
    """DOT statements of every item lifecycle: one cluster per item type."""
    out: list[str] = []
    for item in defn.item_types.values():
        title = f"Item {item.name}" + (f": {item.title}" if item.title else "")
        start = f"__item__{item.name}__start"
        out.append(f"  subgraph cluster_item_{item.name} {{")
        out.append(
            f"    label={dot_quote(title)}; style=dashed; color=steelblue; fontcolor=steelblue4;"
        )
        out.append(f'    {dot_quote(start)} [shape=point, width=0.14, label=""];')
        for name, state in item.states.items():
            label = "\n".join([name, *_state_lines(item, name)])
            attrs = [f"label={dot_quote(label)}"]
            if state.final:
                attrs.append("peripheries=2")
            out.append(f"    {dot_quote(_dot_id(item, name))} [{', '.join(attrs)}];")
        out.append(f"    {dot_quote(start)} -> {dot_quote(_dot_id(item, item.initial))};")
        for t in item.transitions:
            if t.target is None:
                continue
            attrs = [f"label={dot_label([item_edge_label(item, t)])}"]
            if any(tm.event == t.event for tm in item.timers_of(t.source)) or any(
                c.event == t.event for c in item.clocks_in(t.source)
            ):
                attrs.append("style=dashed, color=darkorange3, fontcolor=darkorange3")
            source, target = _dot_id(item, t.source), _dot_id(item, t.target)
            out.append(f"    {dot_quote(source)} -> {dot_quote(target)} [{', '.join(attrs)}];")
        out.append("  }")
    return out


def render_text(defn: WorkflowDefinition) -> str:
    """The case machine and every item lifecycle as plain lines, one per edge."""
    out = [f"{defn.title} ({defn.name} v{defn.version})", "", "Case"]
    out.append(f"  [*] -> {defn.initial}")
    for t in defn.transitions:
        label = t.event + (f" [{' '.join(t.guard.split())}]" if t.guard else "")
        label += f" / {', '.join(t.roles)}" if t.roles else ""
        timers = [tm for tm in defn.states[t.source].timers if tm.event == t.event]
        if timers:
            label = f"timer {timer_short(timers[0])} {label}"
        if t.target is None:
            out.append(f"  {t.source} ↻ {label}")
        else:
            target = "↩ previous state" if t.target == PREVIOUS_STATE else t.target
            out.append(f"  {t.source} -> {target} : {label}")
    out += [f"  {name} -> [*]" for name in defn.final_states]
    for item in defn.item_types.values():
        out += ["", f"Item {item.name}" + (f": {item.title}" if item.title else "")]
        out.append(f"  [*] -> {item.initial}")
        for t in item.transitions:
            label = item_edge_label(item, t)
            if t.target is None:
                out.append(f"  {t.source} ↻ {label}")
            else:
                out.append(f"  {t.source} -> {t.target} : {label}")
        out += [f"  {name} -> [*]" for name in item.final_states]
    return "\n".join(out) + "\n"
