"""Operator work lists: a case search in a chosen order, with the number of matches.

:func:`search_cases` is what :meth:`engine.Engine.search` runs: the cases of
one :class:`~engine.store.records.CaseQuery` in a
:class:`~engine.store.records.CaseSort` order (most late first, next
deadline first, or oldest opened first), one page at a time, with the total
when asked for. The orders are defined in ``engine/store/worklist_queries.py``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.runtime.context import EngineContext
from engine.runtime.convert import case_view, timer_view
from engine.runtime.cursors import decode_cursor, encode_cursor
from engine.runtime.json_policy import valid_identifier
from engine.runtime.views import CaseView
from engine.store.records import SORT_NEVER, CaseQuery, CaseSort


@dataclass(frozen=True, slots=True)
class SearchPage:
    """One page of a case search; ``total`` is the number of matches (None: not counted)."""

    items: tuple[CaseView, ...]
    next_cursor: str | None
    total: int | None
    sort: CaseSort
    sort_at: tuple[datetime | None, ...]  # per item: the instant it sorts by (None: never)


def search_cases(
    ctx: EngineContext,
    query: CaseQuery,
    *,
    sort: CaseSort = CaseSort.OPENED,
    limit: int = 50,
    cursor: str | None = None,
    count: bool = True,
) -> SearchPage:
    """Raises ValueError for a cursor this module did not make (or made for another sort)."""
    sort = CaseSort(sort)
    names = (query.workflow, query.state, query.phase)
    if not all(valid_identifier(v) for v in names if v is not None):
        return SearchPage((), None, 0 if count else None, sort, ())  # nothing can match
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 3 or values[0] != sort.value:
            raise ValueError("the cursor belongs to another sort order")
        after = (datetime.fromisoformat(values[1]), str(values[2]))
    with ctx.store.read() as tx:
        now = ctx.now(tx)
        rows = tx.search_cases(query, now=now, sort=sort, limit=limit, after=after)
        timers = tx.live_timers_for([r.id for r, _ in rows])
        total = tx.count_cases(query, now=now) if count else None
    items = tuple(case_view(r, [timer_view(t) for t in timers.get(r.id, [])]) for r, _ in rows)
    nxt = None
    if len(rows) == limit:
        last, at = rows[-1]
        nxt = encode_cursor([sort.value, at, last.id])
    sort_at = tuple(None if at >= SORT_NEVER else at for _, at in rows)
    return SearchPage(items, nxt, total, sort, sort_at)
