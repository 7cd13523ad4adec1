"""SQL for work items (``case_items``) and their timer rows (revision 0011).

Functions take the open connection first; none of them commits. An item is
only ever changed under its case's lock (the caller locked the case row), so
the version check of :func:`update_item` is a backstop.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.mapping import ITEM_COLUMNS, TIMER_COLUMNS, item_record, item_values, timer_record
from engine.store.records import ITEM_MUTABLE, ItemRecord, TimerRecord, TimerScope, TimerStatus

_I = t.case_items.c
_T = t.timers.c
_INSERT_ITEM = sa.insert(t.case_items)
_SELECT_ITEM = sa.select(*ITEM_COLUMNS).where(
    _I.case_id == sa.bindparam("_case"), _I.item_id == sa.bindparam("_item")
)
_UPDATE_ITEM = sa.update(t.case_items).where(
    _I.case_id == sa.bindparam("_case"),
    _I.item_id == sa.bindparam("_item"),
    _I.version == sa.bindparam("_expected"),
)
_KEYS = (
    sa.select(_I.item_id, _I.opened_seq, _I.version)
    .where(_I.case_id == sa.bindparam("_case"))
    .order_by(_I.opened_seq, _I.item_id)
)
_BY_IDS = sa.select(*ITEM_COLUMNS).where(
    _I.case_id == sa.bindparam("_case"), _I.item_id.in_(sa.bindparam("_ids", expanding=True))
)
_IDS_PER_QUERY = 500  # well below SQLite's bound-parameter limit
_LIVE = (TimerStatus.PENDING.value, TimerStatus.PAUSED.value)
_ITEM_SCOPES = (TimerScope.ITEM.value, TimerScope.ITEM_CLOCK.value)


def insert_item(conn: sa.Connection, item: ItemRecord) -> None:
    conn.execute(_INSERT_ITEM, item_values(item))


def update_item(conn: sa.Connection, before: ItemRecord, after: ItemRecord) -> bool:
    values: dict[str, Any] = {
        "_case": before.case_id,
        "_item": before.item_id,
        "_expected": before.version,
    }
    for name in ITEM_MUTABLE:
        values[name] = getattr(after, name)
    return bool(conn.execute(_UPDATE_ITEM, values).rowcount == 1)


def get_item(conn: sa.Connection, case_id: str, item_id: str) -> ItemRecord | None:
    row = conn.execute(_SELECT_ITEM, {"_case": case_id, "_item": item_id}).first()
    return None if row is None else item_record(row)


def items_of(
    conn: sa.Connection, case_id: str, *, item_type: str | None, state: str | None
) -> list[ItemRecord]:
    q = sa.select(*ITEM_COLUMNS).where(_I.case_id == case_id)
    if item_type is not None:
        q = q.where(_I.type == item_type)
    if state is not None:
        q = q.where(_I.state == state)
    return [item_record(r) for r in conn.execute(q.order_by(_I.opened_seq, _I.item_id))]


def item_keys_of(conn: sa.Connection, case_id: str) -> list[tuple[str, int, int]]:
    """``(item_id, opened_seq, version)`` of every item of a case, oldest first."""
    return [(r[0], r[1], r[2]) for r in conn.execute(_KEYS, {"_case": case_id})]


def items_by_id(conn: sa.Connection, case_id: str, item_ids: Sequence[str]) -> list[ItemRecord]:
    """The items of a case named by ``item_ids`` (in no particular order)."""
    out: list[ItemRecord] = []
    for k in range(0, len(item_ids), _IDS_PER_QUERY):
        ids = list(item_ids[k : k + _IDS_PER_QUERY])
        out += [item_record(r) for r in conn.execute(_BY_IDS, {"_case": case_id, "_ids": ids})]
    return out


def items_for(conn: sa.Connection, case_ids: Sequence[str]) -> dict[str, list[ItemRecord]]:
    out: dict[str, list[ItemRecord]] = {}
    if not case_ids:
        return out
    q = (
        sa.select(*ITEM_COLUMNS)
        .where(_I.case_id.in_(list(case_ids)))
        .order_by(_I.case_id, _I.opened_seq, _I.item_id)
    )
    for r in conn.execute(q):
        rec = item_record(r)
        out.setdefault(rec.case_id, []).append(rec)
    return out


def count_items(conn: sa.Connection, case_id: str, item_type: str) -> int:
    q = sa.select(sa.func.count()).where(_I.case_id == case_id, _I.type == item_type)
    return int(conn.execute(q).scalar_one())


def cancel_item_timers(
    conn: sa.Connection, case_id: str, item_id: str | None, scopes: Sequence[TimerScope]
) -> int:
    """Cancel the pending and paused rows of ``scopes`` of one item (of every item: None)."""
    conds = [
        _T.case_id == case_id,
        sa.or_(*(_T.status == s for s in _LIVE)),
        sa.or_(*(_T.scope == s.value for s in scopes)),
    ]
    if item_id is not None:
        conds.append(_T.item_id == item_id)
    stmt = sa.update(t.timers).where(*conds).values(status=TimerStatus.CANCELLED.value)
    return int(conn.execute(stmt).rowcount)


def item_timers_of(conn: sa.Connection, case_id: str, item_id: str | None) -> list[TimerRecord]:
    """The pending and paused timer rows of one item (of every item: None), by id."""
    q = sa.select(*TIMER_COLUMNS).where(
        _T.case_id == case_id,
        sa.or_(*(_T.status == s for s in _LIVE)),
        sa.or_(*(_T.scope == s for s in _ITEM_SCOPES)),
    )
    if item_id is not None:
        q = q.where(_T.item_id == item_id)
    return [timer_record(r) for r in conn.execute(q.order_by(_T.id))]
