"""A workflow's Mermaid diagram with one case on it: its state and the path it took.

The drawing itself is :func:`engine.definitions.diagram.render_mermaid`'s;
this module only appends ``classDef`` and ``class`` statements: the states
the case passed through (from its history) in light blue, its current state
in dark blue with a thick border. Mermaid's state diagrams cannot style
single edges, so the path is also given as text beside the diagram.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from engine.definitions.diagram import render_mermaid
from engine.definitions.model import WorkflowDefinition

# the ids render_mermaid gives states whose name it aliases: state "name" as id
_ALIAS = re.compile(r'^\s*state "([^"]+)" as (\S+)', re.MULTILINE)

CURRENT_STYLE = "fill:#1e3a8a,color:#ffffff,stroke:#0b1d4d,stroke-width:4px"
VISITED_STYLE = "fill:#dbeafe,color:#111827,stroke:#1d4ed8,stroke-width:2px"


def path_taken(history_states: Sequence[tuple[str | None, str]]) -> list[str]:
    """The states entered, in order, from (from_state, to_state) history pairs
    (a state repeated only when the case left it and came back)."""
    path: list[str] = []
    for _, to_state in history_states:
        if not path or path[-1] != to_state:
            path.append(to_state)
    return path


def state_ids(defn: WorkflowDefinition, text: str) -> dict[str, str]:
    """State name -> the id the Mermaid text uses for it."""
    ids = {name: name for name in defn.states}
    for name, sid in _ALIAS.findall(text):
        if name in ids:
            ids[name] = sid
    return ids


def case_mermaid(defn: WorkflowDefinition, current: str | None, path: Sequence[str]) -> str:
    """The workflow's Mermaid text with ``current`` and the states of ``path`` styled."""
    text = render_mermaid(defn)
    if current is None and not path:
        return text
    ids = state_ids(defn, text)
    lines = [
        f"    classDef visited {VISITED_STYLE}",
        f"    classDef current {CURRENT_STYLE}",
    ]
    visited = [ids[s] for s in dict.fromkeys(path) if s in ids and s != current]
    if visited:
        lines.append(f"    class {','.join(visited)} visited")
    if current in ids:
        lines.append(f"    class {ids[current]} current")
    return text.rstrip("\n") + "\n" + "\n".join(lines) + "\n"
