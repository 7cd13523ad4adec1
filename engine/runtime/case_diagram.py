"""Where a case is on its workflow's diagram: its definition, current state and path.

Built from the engine's public reads (the case and its history); not audited
here: the CLI and the API record the read. Names states only, never the
record or a payload.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal, Protocol

from engine.definitions.diagram import render_dot, render_mermaid
from engine.definitions.model import WorkflowDefinition
from engine.runtime.views import CaseView, HistoryEntry

DiagramFormat = Literal["mermaid", "dot"]


class _CaseReader(Protocol):
    def get(self, case_id: str) -> CaseView: ...

    def history(self, case_id: str) -> list[HistoryEntry]: ...

    def definition(self, name: str, version: int | None = None) -> WorkflowDefinition: ...


@dataclass(frozen=True, slots=True)
class CasePosition:
    """A case on its diagram: the version it runs on, where it is and where it went."""

    case_id: str
    definition: WorkflowDefinition
    state: str
    path: tuple[str, ...]  # the state after each history row, in order

    def render(self, fmt: DiagramFormat = "mermaid", *, highlight: str | None = None) -> str:
        """The diagram with the current state (or ``highlight``) and the path drawn.

        Raises ValueError when ``highlight`` is not a state of the workflow.
        """
        draw = render_mermaid if fmt == "mermaid" else render_dot
        return draw(self.definition, highlight=highlight or self.state, path=self.path)


def path_of(history: Sequence[HistoryEntry]) -> tuple[str, ...]:
    """The states a case went through, in order (internal transitions repeat a state)."""
    return tuple(e.to_state for e in history)


def case_position(reader: _CaseReader, case_id: str) -> CasePosition:
    """Raises CaseNotFound (and UnknownWorkflow if the case's version is not loaded)."""
    view = reader.get(case_id)
    history = reader.history(case_id)
    definition = reader.definition(view.workflow, view.workflow_version)
    # A state the definition lacks (history from an older loader) is left off the path.
    path = tuple(s for s in path_of(history) if s in definition.states)
    return CasePosition(view.id, definition, view.state, path)
