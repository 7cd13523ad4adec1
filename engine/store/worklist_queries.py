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

:func:`worklist` lists the deadlines of the cases one assignee, team or role
holds (ownership, revision 0012), by due instant (so overdue first), keyset-paged
on (due_at, source, ref). Its rows come from :data:`WORKLIST_SOURCES`, one SELECT
per kind of deadline with the same columns, joined by UNION ALL: the timer and
clock rows today; work items add their deadlines by appending a source there.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.case_queries import case_conditions
from engine.store.mapping import CASE_COLUMNS, case_record
from engine.store.records import SORT_NEVER as NEVER
from engine.store.records import (
    CaseQuery,
    CaseRecord,
    CaseSort,
    TimerStatus,
    WorklistQuery,
    WorklistRow,
)

_PENDING = TimerStatus.PENDING.value


def _oldest_due(now: datetime | None) -> sa.Subquery:
    """Case id -> the earliest due instant among its live deadlines (past due only, given
    ``now``): pending timers, case clocks left overdue, and the one-shot timers that
    fired in its current state entry while it stayed (a deadline it missed).

    Grouped once for all cases: a correlated subquery per case is planned by SQLite
    on the (status, due_at) index and scans it once per case."""
    tm = t.timers.c
    c = t.cases.c
    live = live_deadline()
    q = (
        sa.select(tm.case_id, sa.func.min(tm.due_at).label("due"))
        .select_from(t.timers.join(t.cases, c.id == tm.case_id))
        .where(live)
    )
    if now is not None:
        q = q.where(tm.due_at <= now)
    return q.group_by(tm.case_id).subquery("late_due" if now is not None else "next_due")


def live_deadline() -> sa.ColumnElement[bool]:
    """A timers row (joined to its case) that is a live deadline: pending, a case clock
    left overdue, or a one-shot timer that fired in the case's current state entry while
    the case stayed (a deadline it missed)."""
    tm = t.timers.c
    c = t.cases.c
    missed = sa.and_(
        tm.status == TimerStatus.FIRED.value,
        tm.state_entry_seq == c.state_entry_seq,
        sa.not_(tm.recurring),
        c.overdue_since.is_not(None),
    )
    return sa.or_(tm.status.in_([_PENDING, TimerStatus.OVERDUE.value]), missed)


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


# -- worklists (ownership, revision 0012) ---------------------------------------------

_O = t.case_owners.c


def _scope(query: WorklistQuery) -> tuple[sa.FromClause, list[sa.ColumnElement[bool]]]:
    """The open cases a worklist covers, joined to their owner row, and the conditions.

    An assignee or a team starts from the partial index over open ``case_owners`` rows;
    a role's (workflow, state) pairs from the cases' (workflow_name, state) index."""
    c = t.cases.c
    if query.assignee is not None or query.team is not None:
        source: sa.FromClause = t.case_owners.join(t.cases, c.id == _O.case_id)
        where: list[sa.ColumnElement[bool]] = [_O.closed_at.is_(None)]
        if query.assignee is not None:
            where.append(_O.assignee == query.assignee)
        if query.team is not None:
            where.append(_O.team == query.team)
    else:
        source = t.cases.outerjoin(t.case_owners, _O.case_id == c.id)
        where = [c.closed_at.is_(None)]
    if query.states is not None:
        pairs = [sa.and_(c.workflow_name == w, c.state == s) for w, s in query.states]
        where.append(sa.or_(*pairs) if pairs else sa.false())
    return source, where


def timer_deadlines(query: WorklistQuery, now: datetime) -> sa.Select[Any]:
    """The worklist source of state timers and case clocks (pending, overdue, missed)."""
    tm = t.timers.c
    c = t.cases.c
    source, where = _scope(query)
    kind = sa.case((tm.scope == "clock", sa.literal("clock")), else_=sa.literal("timer"))
    q = (
        sa.select(
            tm.due_at.label("due_at"),
            kind.label("source"),
            tm.id.label("ref"),
            tm.name.label("name"),
            tm.event.label("event"),
            tm.status.label("status"),
            c.id.label("case_id"),
            c.workflow_name.label("workflow_name"),
            c.state.label("state"),
            _O.assignee.label("assignee"),
            _O.team.label("team"),
        )
        .select_from(source.join(t.timers, tm.case_id == c.id))
        .where(*where, live_deadline(), tm.due_at.is_not(None))
    )
    if query.due_before is not None:
        q = q.where(tm.due_at <= query.due_before)
    if query.overdue:
        q = q.where(tm.due_at <= now)
    return q


WorklistSource = Callable[[WorklistQuery, datetime], sa.Select[Any]]

#: Every kind of deadline a worklist lists: each returns a SELECT of the columns of
#: :func:`timer_deadlines` (due_at, source, ref, name, event, status, case_id,
#: workflow_name, state, assignee, team) for the cases in scope. Work items (issue 11)
#: append theirs here (an ``item_deadlines`` over the items table, source 'item').
WORKLIST_SOURCES: list[WorklistSource] = [timer_deadlines]


def worklist_query(
    query: WorklistQuery, *, now: datetime, limit: int, after: tuple[datetime, str, int] | None
) -> sa.Select[Any]:
    """Every source's deadlines, by (due_at, source, ref) after ``after``: the statement
    the EXPLAIN test plans."""
    parts = [src(query, now) for src in WORKLIST_SOURCES]
    union = (parts[0] if len(parts) == 1 else sa.union_all(*parts)).subquery("deadlines")
    u = union.c
    q = sa.select(union)
    if after is not None:
        at = sa.literal(after[0], t.UTCDateTime)
        q = q.where(sa.tuple_(u.due_at, u.source, u.ref) > sa.tuple_(at, after[1], after[2]))
    return q.order_by(u.due_at, u.source, u.ref).limit(limit)


def worklist(
    conn: sa.Connection,
    query: WorklistQuery,
    *,
    now: datetime,
    limit: int,
    after: tuple[datetime, str, int] | None,
) -> list[WorklistRow]:
    out: list[WorklistRow] = []
    utc = t.UTCDateTime()
    for row in conn.execute(worklist_query(query, now=now, limit=limit, after=after)):
        due = utc.process_result_value(row.due_at, conn.dialect)
        assert due is not None
        out.append(
            WorklistRow(
                due,
                str(row.source),
                int(row.ref),
                row.name,
                row.event,
                row.status,
                row.case_id,
                row.workflow_name,
                row.state,
                row.assignee,
                row.team,
            )
        )
    return out


def overdue_by_holder(conn: sa.Connection, by: str, now: datetime) -> dict[str, int]:
    """Overdue deadlines (due at or before ``now``) of open assigned cases, per assignee
    or team: the metrics' worklist overdue counts."""
    tm = t.timers.c
    c = t.cases.c
    holder = _O.assignee if by == "assignee" else _O.team
    q = (
        sa.select(holder, sa.func.count())
        .select_from(
            t.case_owners.join(t.cases, c.id == _O.case_id).join(t.timers, tm.case_id == c.id)
        )
        .where(
            _O.closed_at.is_(None),
            holder.is_not(None),
            live_deadline(),
            tm.due_at <= now,
        )
        .group_by(holder)
    )
    return {str(h): int(n) for h, n in conn.execute(q)}
