"""Operator work lists: a case search in a chosen order, with the number of matches.

:func:`search_cases` is what :meth:`engine.Engine.search` runs: the cases of
one :class:`~engine.store.records.CaseQuery` in a
:class:`~engine.store.records.CaseSort` order (most late first, next
deadline first, or oldest opened first), one page at a time, with the total
when asked for. The orders are defined in ``engine/store/worklist_queries.py``.

:func:`worklist` is what :meth:`engine.Engine.worklist` runs: everything due for a
person (the cases assigned to them), a team, or a role (the cases in states where
the role may send an event): each deadline with its case, overdue first then by due
instant, cursor-paged, with the events the person (their directory roles), the role,
or the caller's roles may send now. The rows come from the store's worklist sources
(``WORKLIST_SOURCES`` in ``engine/store/worklist_queries.py``): timers and case clocks
today; work items append theirs there.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from engine.runtime.context import EngineContext
from engine.runtime.convert import case_view, timer_view
from engine.runtime.cursors import decode_cursor, encode_cursor
from engine.runtime.inspection import allowed_events
from engine.runtime.json_policy import valid_identifier
from engine.runtime.ownership import gate_unassigned
from engine.runtime.views import CaseView
from engine.store.records import SORT_NEVER, CaseQuery, CaseSort, WorklistQuery, WorklistRow


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


@dataclass(frozen=True, slots=True)
class WorklistEntry:
    """One deadline on a worklist and the events that may be sent for its case now."""

    due_at: datetime
    overdue: bool
    source: str  # 'timer' | 'clock' (work items: 'item')
    name: str
    event: str
    status: str
    case_id: str
    workflow: str
    state: str
    assignee: str | None
    team: str | None
    may_send: tuple[str, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "due_at": self.due_at.isoformat(),
            "overdue": self.overdue,
            "source": self.source,
            "name": self.name,
            "event": self.event,
            "status": self.status,
            "case_id": self.case_id,
            "workflow": self.workflow,
            "state": self.state,
            "assignee": self.assignee,
            "team": self.team,
            "may_send": list(self.may_send),
        }


@dataclass(frozen=True, slots=True)
class WorklistPage:
    items: tuple[WorklistEntry, ...]
    next_cursor: str | None
    total: int | None = None  # not counted (the listing is paged by its cursor)


def role_states(ctx: EngineContext, role: str) -> tuple[tuple[str, str], ...]:
    """(workflow, state) pairs, over every registered version, where ``role`` may send
    at least one event."""
    pairs: dict[tuple[str, str], None] = {}
    for d in ctx.registry.all():
        for t in d.transitions:
            if role in t.roles:
                pairs.setdefault((d.name, t.source), None)
    return tuple(pairs)


def worklist(
    ctx: EngineContext,
    *,
    assignee: str | None = None,
    team: str | None = None,
    role: str | None = None,
    due_within: timedelta | None = None,
    overdue: bool = False,
    roles: Sequence[str] | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> WorklistPage:
    """The deadlines of one assignee's, team's or role's open cases, overdue first.

    ``roles`` are the roles ``may_send`` is judged by: by default a role list's role,
    or an assignee's directory roles. Raises ValueError without exactly one of
    assignee, team and role (assignee and team together are allowed), or for a bad cursor.
    """
    if assignee is None and team is None and role is None:
        raise ValueError("a worklist is for an assignee, a team or a role")
    if role is not None and (assignee is not None or team is not None):
        raise ValueError("a role's worklist covers every open case: give no assignee or team")
    if not 1 <= limit <= 500:
        raise ValueError("limit must be from 1 to 500")
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        if len(values) != 4 or values[0] != "worklist":
            raise ValueError("the cursor belongs to another listing")
        after = (datetime.fromisoformat(values[1]), str(values[2]), int(values[3]))
    states = role_states(ctx, role) if role is not None else None
    with ctx.store.read() as tx:
        now = ctx.now(tx)
        due_before = now + due_within if due_within is not None else None
        query = WorklistQuery(assignee, team, states, due_before, overdue)
        rows = tx.worklist(query, now=now, limit=limit, after=after)
        judge = tuple(roles) if roles is not None else ((role,) if role is not None else ())
        if roles is None and assignee is not None:
            person = tx.get_staff(assignee)
            judge = person.roles if person is not None else ()
        cases = {cid: tx.get_case(cid) for cid in dict.fromkeys(r.case_id for r in rows)}
    may: dict[str, tuple[str, ...]] = {}
    assigned = {r.case_id for r in rows if r.assignee is not None}
    for cid, case in cases.items():
        if case is None or not judge:
            may[cid] = ()
            continue
        compiled = ctx.registry.compiled(case.workflow_name, case.workflow_version)
        options = allowed_events(compiled, case, frozenset(judge), now)
        options = gate_unassigned(compiled, case, options, cid in assigned)
        may[cid] = tuple(o.event for o in options if o.allowed)
    items = tuple(_entry(r, now, may.get(r.case_id, ())) for r in rows)
    nxt = None
    if len(rows) == limit:
        last = rows[-1]
        nxt = encode_cursor(["worklist", last.due_at, last.source, last.ref])
    return WorklistPage(items, nxt)


def _entry(r: WorklistRow, now: datetime, may_send: tuple[str, ...]) -> WorklistEntry:
    return WorklistEntry(
        r.due_at,
        r.due_at <= now,
        r.source,
        r.name,
        r.event,
        r.status,
        r.case_id,
        r.workflow_name,
        r.state,
        r.assignee,
        r.team,
        may_send,
    )
