"""SQL for ownership: the staff directory, who holds each case, caseloads.

Caseloads are one ``GROUP BY`` over the open rows of ``case_owners``, answered
from its partial indexes (``ix_case_owners_open_assignee``,
``ix_case_owners_open_team``: holder, workflow, weight) without reading the table.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.records import CaseloadRow, OwnerRecord, StaffRecord, StaffSource

_O = t.case_owners.c
_S = t.staff.c
_OWNER_COLUMNS = (
    _O.case_id,
    _O.workflow_name,
    _O.assignee,
    _O.team,
    _O.weight,
    _O.opened_at,
    _O.assigned_at,
    _O.first_assigned_at,
    _O.closed_at,
)


def _staff(row: Any) -> StaffRecord:
    return StaffRecord(
        row.id,
        bool(row.active),
        tuple(row.teams or ()),
        tuple(row.roles or ()),
        StaffSource(row.source),
        row.updated_at,
        row.updated_by,
    )


def get_staff(conn: sa.Connection, person: str) -> StaffRecord | None:
    row = conn.execute(sa.select(t.staff).where(_S.id == person)).first()
    return None if row is None else _staff(row)


def list_staff(conn: sa.Connection, *, limit: int, after: str | None) -> list[StaffRecord]:
    q = sa.select(t.staff).order_by(_S.id).limit(limit)
    if after is not None:
        q = q.where(_S.id > after)
    return [_staff(r) for r in conn.execute(q)]


def put_staff(conn: sa.Connection, staff: StaffRecord) -> None:
    values = {
        "active": staff.active,
        "teams": list(staff.teams),
        "roles": list(staff.roles),
        "source": staff.source.value,
        "updated_at": staff.updated_at,
        "updated_by": staff.updated_by,
    }
    done = conn.execute(sa.update(t.staff).where(_S.id == staff.id).values(**values))
    if done.rowcount == 0:
        conn.execute(sa.insert(t.staff).values(id=staff.id, **values))


def get_owner(conn: sa.Connection, case_id: str) -> OwnerRecord | None:
    row = conn.execute(sa.select(*_OWNER_COLUMNS).where(_O.case_id == case_id)).first()
    return None if row is None else OwnerRecord(*row)


def put_owner(conn: sa.Connection, owner: OwnerRecord) -> None:
    values = {c.name: getattr(owner, c.name) for c in _OWNER_COLUMNS}
    done = conn.execute(
        sa.update(t.case_owners).where(_O.case_id == owner.case_id).values(**values)
    )
    if done.rowcount == 0:
        conn.execute(sa.insert(t.case_owners).values(**values))


def sync_owner(
    conn: sa.Connection, case_id: str, weight: float, closed_at: datetime | None
) -> None:
    conn.execute(
        sa.update(t.case_owners)
        .where(_O.case_id == case_id)
        .values(weight=weight, closed_at=closed_at)
    )


def owned_cases(
    conn: sa.Connection,
    *,
    assignee: str | None,
    team: str | None,
    workflow: str | None,
    limit: int,
    after: str | None,
) -> list[str]:
    """Ids of the open cases held by ``assignee`` (and/or ``team``), by id after ``after``."""
    q = sa.select(_O.case_id).where(_O.closed_at.is_(None))
    if assignee is not None:
        q = q.where(_O.assignee == assignee)
    if team is not None:
        q = q.where(_O.team == team)
    if workflow is not None:
        q = q.where(_O.workflow_name == workflow)
    if after is not None:
        q = q.where(_O.case_id > after)
    return [r[0] for r in conn.execute(q.order_by(_O.case_id).limit(limit))]


def caseload_query(by: str, holders: Sequence[str] | None = None) -> sa.Select[Any]:
    """Open cases and their summed weight per (holder, workflow); ``by`` 'assignee' or
    'team'. The statement the EXPLAIN test plans."""
    holder = _O.assignee if by == "assignee" else _O.team
    q = (
        sa.select(holder, _O.workflow_name, sa.func.count(), sa.func.sum(_O.weight))
        .where(_O.closed_at.is_(None), holder.is_not(None))
        .group_by(holder, _O.workflow_name)
        .order_by(holder, _O.workflow_name)
    )
    if holders:
        q = q.where(holder.in_(list(holders)))
    return q


def caseloads(
    conn: sa.Connection, by: str, holders: Sequence[str] | None = None
) -> list[CaseloadRow]:
    return [
        CaseloadRow(str(h), str(w), int(n), float(s or 0.0))
        for h, w, n, s in conn.execute(caseload_query(by, holders))
    ]


def ownership_stats(conn: sa.Connection) -> dict[str, Any]:
    """Assigned open cases, and the cases ever assigned with their summed time from
    opening to first assignment (seconds), for the metrics."""
    assigned = conn.execute(
        sa.select(sa.func.count()).where(_O.closed_at.is_(None), _O.assignee.is_not(None))
    ).scalar_one()
    if conn.dialect.name == "sqlite":
        seconds: Any = (
            sa.func.julianday(_O.first_assigned_at) - sa.func.julianday(_O.opened_at)
        ) * 86400.0
    else:
        seconds = sa.func.extract("epoch", _O.first_assigned_at - _O.opened_at)
    n, total = conn.execute(
        sa.select(sa.func.count(), sa.func.sum(seconds)).where(_O.first_assigned_at.is_not(None))
    ).one()
    return {
        "assigned_open": int(assigned),
        "first_assigned": int(n),
        "first_assignment_seconds": float(total or 0.0),
    }
