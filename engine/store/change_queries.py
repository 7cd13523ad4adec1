"""SQL for the change feed: commit-ordered positions for history rows, and reading them.

A serial id is not a feed position on PostgreSQL: two transactions take ids
5 and 6, 6 commits first, a reader serves 6 and moves its cursor past 5,
which commits a moment later and is never served. So each history row's
``change_seq`` comes from the one-row ``change_counter`` table, bumped with an
``UPDATE ... RETURNING`` whose row lock is held until the writing transaction
ends: a second writer's bump waits for the first to commit (or roll back,
which undoes its bump too), so positions become visible in order and every
committed row a reader can see has a position below every row still in
flight. On SQLite writers are serialized by ``BEGIN IMMEDIATE`` anyway.

The cost is that history-writing transactions serialize from their history
insert to their commit (the outbox and idempotency rows after it); the bump
comes after the case row lock, so it cannot deadlock with it.
"""

from __future__ import annotations

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.mapping import HISTORY_COLUMNS, history_record
from engine.store.records import HistoryRecord

BUMP = (
    sa.update(t.change_counter)
    .where(t.change_counter.c.id == 1)
    .values(last=t.change_counter.c.last + 1)
    .returning(t.change_counter.c.last)
)


def next_change_seq(conn: sa.Connection) -> int:
    """Take the next feed position; the counter row stays locked until the transaction ends."""
    value = conn.execute(BUMP).scalar_one()
    return int(value)


def changes_after(
    conn: sa.Connection, after: int, *, workflow: str | None, limit: int
) -> list[tuple[str, HistoryRecord]]:
    """(workflow name, history row) with ``change_seq`` above ``after``, in feed order."""
    h = t.history.c
    q = sa.select(t.cases.c.workflow_name, *HISTORY_COLUMNS).join(
        t.cases, t.cases.c.id == h.case_id
    )
    q = q.where(h.change_seq > after)
    if workflow is not None:
        q = q.where(t.cases.c.workflow_name == workflow)
    q = q.order_by(h.change_seq).limit(limit)
    return [(row[0], history_record(row[1:])) for row in conn.execute(q)]


def last_change_seq(conn: sa.Connection) -> int:
    """The newest committed feed position (0 when nothing was written)."""
    value = conn.execute(sa.select(sa.func.max(t.history.c.change_seq))).scalar()
    return int(value or 0)
