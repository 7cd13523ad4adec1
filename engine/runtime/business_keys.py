"""Business keys at run time: kept in step with each case, unique among open cases, resolved.

The write path (:mod:`engine.runtime.transact`) calls :func:`sync_keys` after
the history row of every change whose record or open/closed status moved:
the case's ``case_keys`` rows are replaced, after a check that no other open
case holds a value declared unique (:class:`BusinessKeyConflict`, naming the
key and the holding case, never the value). Two concurrent openings with one
value: the second blocks on the unique index until the first commits, gets
DuplicateKey, and :func:`engine.runtime.idempotency.run_idempotent` runs it
again, when the check finds the holder. :func:`resolve_case` finds the one open
case a set of key values names, for ``Engine.send_by_key``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from engine.definitions.business_keys import MAX_KEY_TEXT, key_text
from engine.definitions.model import WorkflowDefinition
from engine.errors import EngineError, PayloadInvalid
from engine.store.interface import CaseStore, StoreTransaction
from engine.store.records import CaseKeyRecord, CaseRecord


class BusinessKeyConflict(EngineError):
    """Another open case of the workflow already holds a value of a unique business key."""

    code = "business-key-conflict"

    def __init__(self, *, workflow: str, key: str, holder: str) -> None:
        self.workflow = workflow
        self.key = key
        self.holder = holder
        super().__init__(
            f"business key '{key}' of workflow {workflow} is unique among open cases, "
            f"and open case {holder} holds this value"
        )

    def to_dict(self) -> dict[str, Any]:
        return {
            **super().to_dict(),
            "workflow": self.workflow,
            "key": self.key,
            "holder_case_id": self.holder,
        }


class BusinessKeyNotFound(EngineError):
    """No open case of the workflow has those business key values."""

    code = "business-key-not-found"

    def __init__(self, workflow: str, detail: str | None = None) -> None:
        self.workflow = workflow
        super().__init__(detail or f"no open case of workflow {workflow} has those key values")


class BusinessKeyAmbiguous(EngineError):
    """More than one open case has those business key values: name a unique key."""

    code = "business-key-ambiguous"

    def __init__(self, workflow: str, case_ids: Sequence[str]) -> None:
        self.workflow = workflow
        self.case_ids = tuple(case_ids)
        super().__init__(
            f"{len(case_ids)} or more open cases of workflow {workflow} have those key "
            "values; add a unique key to name one"
        )

    def to_dict(self) -> dict[str, Any]:
        return {**super().to_dict(), "workflow": self.workflow, "case_ids": list(self.case_ids)}


def key_records(definition: WorkflowDefinition, case: CaseRecord) -> list[CaseKeyRecord]:
    """The case's key rows from its record (a key whose field is absent or null has none).

    Raises PayloadInvalid when a value is longer than the index holds.
    """
    out: list[CaseKeyRecord] = []
    for key in definition.business_keys:
        text = key_text(case.record.get(key.name))
        if text is None:
            continue
        if len(text) > MAX_KEY_TEXT:
            raise PayloadInvalid(
                what="case record",
                json_path=f"$.{key.name}",
                problem=f"a business key value is limited to {MAX_KEY_TEXT} characters",
                case_id=case.id,
            )
        out.append(
            CaseKeyRecord(
                case.id, key.name, case.workflow_name, text, key.unique, case.closed_at is None
            )
        )
    return out


def sync_keys(
    tx: StoreTransaction,
    definition: WorkflowDefinition,
    before: CaseRecord | None,
    after: CaseRecord,
) -> None:
    """Replace the case's key rows when its keys or its open/closed status changed.

    Raises BusinessKeyConflict, PayloadInvalid; DuplicateKey on a lost race.
    """
    if not definition.business_keys:
        return
    rows = key_records(definition, after)
    if before is not None:
        same_open = (before.closed_at is None) == (after.closed_at is None)
        if same_open and all(
            before.record.get(k.name) == after.record.get(k.name) for k in definition.business_keys
        ):
            return
    if after.closed_at is None:
        for row in rows:
            if not row.unique:
                continue
            holder = tx.key_holder(row.workflow_name, row.name, row.value)
            if holder is not None and holder != after.id:
                raise BusinessKeyConflict(workflow=row.workflow_name, key=row.name, holder=holder)
    tx.replace_case_keys(after.id, rows)


def search_keys(keys: Mapping[str, Any] | None) -> tuple[tuple[str, str], ...] | None:
    """(name, text) pairs to search by, sorted; None when a value can never match."""
    out: list[tuple[str, str]] = []
    for name, value in sorted((keys or {}).items()):
        text = key_text(value)
        if text is None or len(text) > MAX_KEY_TEXT:
            return None
        out.append((name, text))
    return tuple(out)


def resolve_case(store: CaseStore, definition: WorkflowDefinition, keys: Mapping[str, Any]) -> str:
    """The id of the one open case of ``definition``'s workflow with every key value given.

    Raises BusinessKeyNotFound (none, no keys given, or a key the workflow does
    not declare), BusinessKeyAmbiguous (several).
    """
    declared = {k.name for k in definition.business_keys}
    unknown = sorted(set(keys) - declared)
    if unknown or not keys:
        what = f"declares no business key {unknown[0]!r}" if unknown else "needs key values"
        raise BusinessKeyNotFound(definition.name, f"workflow {definition.name} {what}")
    pairs = search_keys(keys)
    if pairs is None:
        raise BusinessKeyNotFound(definition.name)
    with store.read() as tx:
        ids = tx.cases_with_keys(definition.name, pairs, open_only=True, limit=2)
    if not ids:
        raise BusinessKeyNotFound(definition.name)
    if len(ids) > 1:
        raise BusinessKeyAmbiguous(definition.name, ids)
    return ids[0]
