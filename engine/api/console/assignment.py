"""The case page's assignment block (``templates/_assignment.html``): who holds the
case, its assignment history, and whether the operator may assign it. The form posts
to ``owner_pages.assign``."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from engine.api.console.web import Operator
    from engine.definitions.model import WorkflowDefinition
    from engine.runtime.views import CaseView, HistoryEntry

ASSIGN_EVENT = "@assign"  #: the history rows of assignments (docs/ownership.md)


def assignment_context(
    op: Operator, view: CaseView, defn: WorkflowDefinition, history: list[HistoryEntry]
) -> dict[str, Any]:
    """Who holds the case (from its newest ``@assign`` history row), its assignment
    history, and whether this operator may assign it."""
    changes = [h for h in history if h.event == ASSIGN_EVENT]
    last = dict(changes[-1].payload) if changes else {}
    own = defn.ownership
    assign_roles = tuple(own.assign_roles) if own is not None else ()
    roles = set(op.client.roles_for(defn.roles))
    return {
        "assignee": last.get("assignee"),
        "team": last.get("team"),
        "assignments": list(reversed(changes)),
        "ownership": own,
        "assign_roles": assign_roles,
        "may_assign": (
            own is not None
            and not view.closed
            and op.may("write")
            and bool(roles.intersection(assign_roles))
        ),
    }
