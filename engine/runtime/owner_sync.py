"""Keep a case's owner row in step with the case (called in the change's transaction).

The caseload counts read ``case_owners`` only: when a case closes, or a change of its
record changes its caseload weight (the workflow's acuity weights), the row follows.
"""

from __future__ import annotations

from engine.definitions.model import WorkflowDefinition
from engine.store.interface import StoreTransaction
from engine.store.records import CaseRecord


def sync_owner(
    tx: StoreTransaction, definition: WorkflowDefinition, before: CaseRecord, after: CaseRecord
) -> None:
    """One UPDATE when the closure or the weight changed (none when the case was never
    assigned: no row matches); nothing otherwise. Raises nothing."""
    own = definition.ownership
    if own is None:
        return
    weight = own.weight_of(after.record)
    if before.closed_at == after.closed_at and own.weight_of(before.record) == weight:
        return
    tx.sync_owner(after.id, weight, after.closed_at)
