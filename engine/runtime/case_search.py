"""Case search behind :meth:`Engine.find`: filters, two orders, keyset cursors, a total.

Orders (:class:`~engine.store.records.CaseSort`): ``"opened"`` (oldest first,
the default), ``"due"`` (most late first: by the earlier of the instant the
case became overdue and its next pending deadline; cases with neither last)
and ``"late"`` (late cases only first, by how late). A cursor belongs to one order;
passing it to the other raises ValueError. ``with_total`` also counts every
case matching the filters (one COUNT query), for "showing 100 of 368".
"""

from __future__ import annotations

from datetime import datetime

from engine.runtime.context import EngineContext
from engine.runtime.convert import case_view, timer_view
from engine.runtime.cursors import decode_cursor, encode_cursor
from engine.runtime.views import CaseView, Page
from engine.store.records import CaseQuery, CaseRecord, CaseSort

CASE_SORTS: tuple[str, ...] = tuple(s.value for s in CaseSort)


def _after(cursor: str | None, sort: CaseSort) -> tuple[datetime, str] | None:
    """The cursor's sort key; ValueError for one of another order or not made here."""
    if cursor is None:
        return None
    values = decode_cursor(cursor)
    if sort != CaseSort.OPENED:
        if len(values) != 3 or values[0] != sort.value:
            raise ValueError(f"the cursor is not one of a sort={sort.value} search")
        values = values[1:]
    elif len(values) != 2:
        raise ValueError("the cursor is not one of a sort=opened search")
    try:
        return datetime.fromisoformat(str(values[0])), str(values[1])
    except ValueError:
        raise ValueError("invalid cursor") from None


def find(
    ctx: EngineContext,
    query: CaseQuery,
    *,
    limit: int,
    cursor: str | None,
    sort: CaseSort | str = CaseSort.OPENED,
    with_total: bool = False,
) -> Page[CaseView]:
    """One page of cases matching ``query``; raises ValueError on a bad cursor or sort."""
    if sort not in CASE_SORTS:
        raise ValueError(f"unknown sort {sort!r}: one of {', '.join(CASE_SORTS)}")
    sort = CaseSort(sort)
    after = _after(cursor, sort)
    rows: list[CaseRecord]
    with ctx.store.read() as tx:
        now = ctx.now(tx)
        if sort != CaseSort.OPENED:
            keyed = tx.search_cases(query, now=now, sort=sort, limit=limit, after=after)
            rows = [r for r, _ in keyed]
        else:
            rows = tx.find_cases(query, now=now, limit=limit, after=after)
        timers = tx.live_timers_for([r.id for r in rows])
        total = tx.count_cases(query, now=now) if with_total else None
    items = [case_view(r, [timer_view(t) for t in timers.get(r.id, [])]) for r in rows]
    nxt: str | None = None
    if len(rows) == limit and rows:
        if sort != CaseSort.OPENED:
            nxt = encode_cursor([sort.value, keyed[-1][1], rows[-1].id])
        else:
            nxt = encode_cursor([rows[-1].opened_at, rows[-1].id])
    return Page(items=tuple(items), next_cursor=nxt, total=total)
