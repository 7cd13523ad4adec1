"""SQL of the cross-case item reads: the item listing and the case search by item.

:func:`find_items_statement` lists work items across cases in keyset order
``(opened_at, case_id, item_id)``; each filter is answered from an index of
``case_items`` (revision 0011; tests/store/test_item_listing_plans.py EXPLAINs
them). An item is *overdue* when one of its own timer rows (scope ``item`` or
``item_clock``) is pending past due or was left ``overdue``: the few such rows
come from the timers' ``(status, due_at, id)`` index, then each item by its key.

:func:`case_item_conditions` adds the case search filters ``item_type``,
``item_state`` and ``item_overdue`` (cases with an item of that type, in that
state, overdue), all about the same item when several are given.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.mapping import ITEM_COLUMNS, item_record
from engine.store.records import CaseQuery, ItemQuery, ItemRecord, TimerStatus

__all__ = [
    "case_item_conditions",
    "count_items_matching",
    "find_items",
    "find_items_statement",
    "item_stats",
]

_I = t.case_items.c
_T = t.timers.c

ItemKey = tuple[datetime, str, str]  # (opened_at, case_id, item_id): the listing's order


def _overdue_rows(now: datetime) -> sa.CompoundSelect[Any]:
    """(case_id, item_id) of every item timer row pending past due or left overdue."""
    late = sa.select(_T.case_id, _T.item_id).where(
        _T.status == TimerStatus.PENDING.value, _T.due_at <= now, _T.item_id.is_not(None)
    )
    marked = sa.select(_T.case_id, _T.item_id).where(
        _T.status == TimerStatus.OVERDUE.value, _T.item_id.is_not(None)
    )
    return sa.union(late, marked)


def item_conditions(query: ItemQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of an item listing (shared by the page and its count)."""
    conds: list[sa.ColumnElement[bool]] = []
    if query.workflow is not None:
        conds.append(_I.workflow_name == query.workflow)
    if query.item_type is not None:
        conds.append(_I.type == query.item_type)
    if query.state is not None:
        conds.append(_I.state == query.state)
    if query.open is not None:
        conds.append(_I.closed_at.is_(None) if query.open else _I.closed_at.is_not(None))
    if query.overdue is not None:
        rows = _overdue_rows(now)
        late = sa.tuple_(_I.case_id, _I.item_id).in_(rows)
        if query.overdue:
            # the cases of the few late rows first (each looked up by the primary key's
            # leading column), then the exact (case, item) pairs among their items
            cases = sa.select(rows.subquery().c.case_id)
            conds += [_I.case_id.in_(cases), late, _I.closed_at.is_(None)]
        else:
            conds.append(sa.not_(late))
    return conds


def find_items_statement(
    query: ItemQuery, *, now: datetime, limit: int, after: ItemKey | None
) -> sa.Select[Any]:
    """The listing's SELECT, oldest opened first (tests EXPLAIN it)."""
    q = sa.select(*ITEM_COLUMNS).where(*item_conditions(query, now))
    if after is not None:
        q = q.where(
            sa.tuple_(_I.opened_at, _I.case_id, _I.item_id)
            > sa.tuple_(sa.literal(after[0], t.UTCDateTime), after[1], after[2])
        )
    return q.order_by(_I.opened_at, _I.case_id, _I.item_id).limit(limit)


def find_items(
    conn: sa.Connection, query: ItemQuery, *, now: datetime, limit: int, after: ItemKey | None
) -> list[ItemRecord]:
    stmt = find_items_statement(query, now=now, limit=limit, after=after)
    return [item_record(r) for r in conn.execute(stmt)]


def count_items_matching(conn: sa.Connection, query: ItemQuery, *, now: datetime) -> int:
    """How many items match every filter of ``query``."""
    q = sa.select(sa.func.count()).select_from(t.case_items).where(*item_conditions(query, now))
    return int(conn.execute(q).scalar_one())


def case_item_conditions(query: CaseQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The case search's item filters: ``cases.id`` among the cases holding a matching item."""
    c = t.cases.c
    if query.item_type is None and query.item_state is None and query.item_overdue is None:
        return []
    conds: list[sa.ColumnElement[bool]] = []
    if query.item_type is None and query.item_state is None:
        # cases with (without) an overdue item: straight from the few late timer rows
        late = sa.select(_overdue_rows(now).subquery().c.case_id)
        return [c.id.in_(late) if query.item_overdue else c.id.not_in(late)]
    inner = [*item_conditions(ItemQuery(item_type=query.item_type, state=query.item_state), now)]
    if query.item_overdue:
        inner += item_conditions(ItemQuery(overdue=True), now)
    holders = sa.select(_I.case_id).where(*inner)
    conds.append(c.id.in_(holders))
    if query.item_overdue is False:  # holding such an item, none of them overdue
        late = sa.select(_I.case_id).where(*inner, *item_conditions(ItemQuery(overdue=True), now))
        conds.append(c.id.not_in(late))
    return conds


def item_stats(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    """``items_by_state`` ((workflow, type, state) -> items) and ``overdue_items`` (items
    with a timer or clock of their own past due) for the metrics."""
    q = sa.select(_I.workflow_name, _I.type, _I.state, sa.func.count()).group_by(
        _I.workflow_name, _I.type, _I.state
    )
    by_state = {(str(w), str(k), str(st)): int(n) for w, k, st, n in conn.execute(q)}
    late = _overdue_rows(now).subquery()
    overdue = conn.execute(sa.select(sa.func.count()).select_from(late)).scalar_one()
    return {"items_by_state": by_state, "overdue_items": int(overdue)}
