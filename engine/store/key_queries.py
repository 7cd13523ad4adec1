"""SQL for business keys (``case_keys``): replace a case's keys, find cases by key.

Uniqueness among open cases is the unique index on (open_unique, name, value):
``open_unique`` holds the workflow name only while the case is open and its
key is declared unique, and NULLs never collide, so closed cases and
non-unique keys are outside the constraint. A key taken by a concurrent
transaction surfaces as an IntegrityError (DuplicateKey in the store); the
runtime checks first (:func:`holder_of`) for the common case and a clear error.
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.records import CaseKeyRecord


def _row(key: CaseKeyRecord) -> dict[str, object]:
    return {
        "case_id": key.case_id,
        "name": key.name,
        "workflow_name": key.workflow_name,
        "value": key.value,
        "open_unique": key.workflow_name if (key.unique and key.open) else None,
    }


def replace_case_keys(conn: sa.Connection, case_id: str, keys: Sequence[CaseKeyRecord]) -> None:
    conn.execute(sa.delete(t.case_keys).where(t.case_keys.c.case_id == case_id))
    if keys:
        conn.execute(sa.insert(t.case_keys), [_row(k) for k in keys])


def holder_of(conn: sa.Connection, workflow: str, name: str, value: str) -> str | None:
    """The open case holding a unique key value, or None."""
    k = t.case_keys.c
    q = sa.select(k.case_id).where(k.open_unique == workflow, k.name == name, k.value == value)
    found = conn.execute(q.limit(1)).scalar()
    return None if found is None else str(found)


def cases_with_keys(
    conn: sa.Connection,
    workflow: str | None,
    keys: Sequence[tuple[str, str]],
    *,
    open_only: bool,
    limit: int,
) -> list[str]:
    """Ids of cases having every (name, value) in ``keys``, by id."""
    q = sa.select(t.cases.c.id)
    for i, (name, value) in enumerate(keys):
        k = t.case_keys.alias(f"k{i}")
        cond = [k.c.case_id == t.cases.c.id, k.c.name == name, k.c.value == value]
        if workflow is not None:
            cond.append(k.c.workflow_name == workflow)
        q = q.where(sa.exists().where(*cond))
    if workflow is not None:
        q = q.where(t.cases.c.workflow_name == workflow)
    if open_only:
        q = q.where(t.cases.c.closed_at.is_(None))
    q = q.order_by(t.cases.c.id).limit(limit)
    return [str(r[0]) for r in conn.execute(q)]
