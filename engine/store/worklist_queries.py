"""SQL for operator work lists: case search in a chosen order, with the total.

:func:`case_conditions` turns a :class:`~engine.store.records.CaseQuery` into
WHERE clauses (shared with :func:`engine.store.case_queries.find_cases`).
:func:`search_cases` orders by one of :class:`~engine.store.records.CaseSort`:

* ``opened``: oldest opened first (the API's order);
* ``late``: most late first, by the instant the case became late: the
  earliest of ``cases.overdue_since`` (a deadline fired while the case
  stayed) and the due instant of its oldest pending timer already past due
  (nobody fired it). Cases that are not late come last;
* ``due``: the next deadline first (its oldest pending timer's due instant,
  past or future); cases with no pending timer come last.

Paging is by keyset on (sort instant, id); a missing instant sorts as
:data:`~engine.store.records.SORT_NEVER`, so the key is total and stable.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.mapping import CASE_COLUMNS, case_record
from engine.store.records import SORT_NEVER as NEVER
from engine.store.records import CaseQuery, CaseRecord, CaseSort, TimerStatus

_PENDING = TimerStatus.PENDING.value


def case_conditions(query: CaseQuery, now: datetime) -> list[sa.ColumnElement[bool]]:
    """The WHERE clauses of every filter ``query`` sets (ANDed by the caller)."""
    c = t.cases.c
    out: list[sa.ColumnElement[bool]] = []
    if query.workflow is not None:
        out.append(c.workflow_name == query.workflow)
    if query.state is not None:
        out.append(c.state == query.state)
    if query.phase is not None:
        out.append(c.phase == query.phase)
    if query.opened_after is not None:
        out.append(c.opened_at >= query.opened_after)
    if query.opened_before is not None:
        out.append(c.opened_at < query.opened_before)
    if query.closed is not None:
        out.append(c.closed_at.is_not(None) if query.closed else c.closed_at.is_(None))
    if query.overdue is not None:
        # IN (uncorrelated), computed once, rather than a correlated EXISTS: without
        # statistics SQLite plans that EXISTS on the (status, due_at) index and scans
        # every late timer for every case (minutes on 100,000 cases)
        late_timer = c.id.in_(
            sa.select(t.timers.c.case_id).where(
                t.timers.c.status == _PENDING, t.timers.c.due_at <= now
            )
        )
        cond = sa.or_(c.overdue_since.is_not(None), late_timer)
        out.append(cond if query.overdue else sa.not_(cond))
    return out


def _oldest_pending_due(now: datetime | None) -> sa.Subquery:
    """Case id -> the due instant of its oldest pending timer (past due only, given ``now``),
    grouped once for all cases: a correlated subquery per case is planned by SQLite on
    the (status, due_at) index and scans it once per case."""
    tm = t.timers.c
    q = sa.select(tm.case_id, sa.func.min(tm.due_at).label("due")).where(tm.status == _PENDING)
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
    due = _oldest_pending_due(None if sort == CaseSort.DUE else now)
    joined = t.cases.outerjoin(due, due.c.case_id == c.id)
    timer_at: sa.ColumnElement[datetime] = sa.func.coalesce(due.c.due, never)
    if sort == CaseSort.DUE:
        return timer_at, joined
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
        q = q.where(
            sa.tuple_(key, c.id) > sa.tuple_(sa.literal(after[0], t.UTCDateTime), after[1])
        )
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
