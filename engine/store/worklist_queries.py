"""SQL for operator work lists: case search in a chosen order, with the total.

The WHERE clauses come from :func:`engine.store.case_queries.case_conditions`
(shared with the plain listing).
:func:`search_cases` orders by one of :class:`~engine.store.records.CaseSort`:

* ``opened``: oldest opened first (the API's order);
* ``late``: most late first, by the instant the case became late: the
  earliest of ``cases.overdue_since`` (a deadline fired while the case
  stayed) and the due instant of its oldest pending timer already past due
  (nobody fired it). Cases that are not late come last;
* ``due``: most late first, then the next deadline: by the earlier of
  ``cases.overdue_since`` and its oldest pending timer's due instant (past or
  future); cases with neither come last.

Paging is by keyset on (sort instant, id); a missing instant sorts as
:data:`~engine.store.records.SORT_NEVER`, so the key is total and stable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.case_queries import case_conditions
from engine.store.mapping import CASE_COLUMNS, case_record
from engine.store.records import SORT_NEVER as NEVER
from engine.store.records import CaseQuery, CaseRecord, CaseSort, TimerStatus

_PENDING = TimerStatus.PENDING.value


def _oldest_due(now: datetime | None) -> sa.Subquery:
    """Case id -> the earliest due instant among its live deadlines (past due only, given
    ``now``): pending timers, case clocks left overdue, and the one-shot timers that
    fired in its current state entry while it stayed (a deadline it missed).

    Grouped once for all cases: a correlated subquery per case is planned by SQLite
    on the (status, due_at) index and scans it once per case."""
    tm = t.timers.c
    c = t.cases.c
    missed = sa.and_(
        tm.status == TimerStatus.FIRED.value,
        tm.state_entry_seq == c.state_entry_seq,
        sa.not_(tm.recurring),
        c.overdue_since.is_not(None),
    )
    live = sa.or_(tm.status.in_([_PENDING, TimerStatus.OVERDUE.value]), missed)
    q = (
        sa.select(tm.case_id, sa.func.min(tm.due_at).label("due"))
        .select_from(t.timers.join(t.cases, c.id == tm.case_id))
        .where(live)
    )
    if now is not None:
        q = q.where(tm.due_at <= now)
    return q.group_by(tm.case_id).subquery("late_due" if now is not None else "next_due")


def _sorted(sort: CaseSort, now: datetime) -> tuple[sa.ColumnElement[datetime], sa.FromClause]:
    """The instant ``sort`` orders cases by (``NEVER`` when the case has none), and the
    FROM clause it needs."""
    c = t.cases.c
    never = sa.literal(NEVER, t.UTCDateTime)
    if sort == CaseSort.OPENED:
        return c.opened_at, t.cases
    due = _oldest_due(None if sort == CaseSort.DUE else now)
    joined = t.cases.outerjoin(due, due.c.case_id == c.id)
    timer_at: sa.ColumnElement[datetime] = sa.func.coalesce(due.c.due, never)
    since = sa.func.coalesce(c.overdue_since, never)
    return sa.case((since < timer_at, since), else_=timer_at), joined


def search_cases(
    conn: sa.Connection,
    query: CaseQuery,
    *,
    now: datetime,
    sort: CaseSort,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[tuple[CaseRecord, datetime]]:
    """Matching cases in ``sort`` order after the key ``after``, each with its sort instant."""
    c = t.cases.c
    instant, source = _sorted(sort, now)
    key = instant.label("sort_at")
    q = sa.select(*CASE_COLUMNS, key).select_from(source).where(*case_conditions(query, now))
    if after is not None:
        q = q.where(sa.tuple_(key, c.id) > sa.tuple_(sa.literal(after[0], t.UTCDateTime), after[1]))
    q = q.order_by(key, c.id).limit(limit)
    out: list[tuple[CaseRecord, datetime]] = []
    for row in conn.execute(q):
        at = t.UTCDateTime().process_result_value(row.sort_at, conn.dialect)
        assert at is not None
        out.append((case_record(row), at))
    return out


def count_cases(conn: sa.Connection, query: CaseQuery, *, now: datetime) -> int:
    """How many cases match every filter of ``query``."""
    q = sa.select(sa.func.count()).select_from(t.cases).where(*case_conditions(query, now))
    return int(conn.execute(q).scalar_one())
