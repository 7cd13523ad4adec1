"""SQL for the outbox (actions to deliver after the commit) and the engine's counts.

Functions take the open connection first; none of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.item_search_queries import item_stats
from engine.store.mapping import OUTBOX_COLUMNS, outbox_record, outbox_values
from engine.store.records import OutboxRecord, OutboxStatus, TimerScope, TimerStatus
from engine.store.timer_queries import next_timer_due

_INSERT_OUTBOX = sa.insert(t.outbox)
_PENDING = OutboxStatus.PENDING.value
_DEAD = OutboxStatus.DEAD.value


def insert_outbox(conn: sa.Connection, items: Sequence[OutboxRecord]) -> None:
    if items:
        conn.execute(_INSERT_OUTBOX, [outbox_values(r) for r in items])


def claim_outbox(
    conn: sa.Connection,
    postgres: bool,
    now: datetime,
    limit: int,
    *,
    only: Sequence[str] | None = None,
    skip: Sequence[str] = (),
) -> list[OutboxRecord]:
    """Lock pending outbox rows whose time has come (SKIP LOCKED on PostgreSQL).

    ``only``: just these action names; ``skip``: none of these.
    """
    q = sa.select(*OUTBOX_COLUMNS).where(
        t.outbox.c.status == _PENDING, t.outbox.c.next_attempt_at <= now
    )
    if only is not None:
        q = q.where(t.outbox.c.action.in_(list(only)))
    if skip:
        q = q.where(t.outbox.c.action.not_in(list(skip)))
    q = q.order_by(t.outbox.c.next_attempt_at, t.outbox.c.id).limit(limit)
    if postgres:
        q = q.with_for_update(skip_locked=True)
    return [outbox_record(r) for r in conn.execute(q)]


def get_outbox(
    conn: sa.Connection, postgres: bool, item_id: int, lock: bool
) -> OutboxRecord | None:
    q = sa.select(*OUTBOX_COLUMNS).where(t.outbox.c.id == item_id)
    if lock and postgres:
        q = q.with_for_update()
    row = conn.execute(q).first()
    return None if row is None else outbox_record(row)


def update_outbox(conn: sa.Connection, item_id: int, values: dict[str, Any]) -> None:
    conn.execute(sa.update(t.outbox).where(t.outbox.c.id == item_id).values(**values))


def update_fenced(
    conn: sa.Connection, item_id: int, lease_token: int, values: dict[str, Any]
) -> bool:
    """Update a pending item only while ``lease_token`` is still its token; True if it was."""
    ob = t.outbox.c
    result = conn.execute(
        sa.update(t.outbox)
        .where(ob.id == item_id, ob.lease_token == lease_token, ob.status == _PENDING)
        .values(**values)
    )
    return bool(result.rowcount == 1)


def lease_many(
    conn: sa.Connection, ids: Sequence[int], until: datetime, worker: str | None
) -> None:
    """Count an attempt, raise the fencing token and hold each item until ``until``."""
    ob = t.outbox.c
    conn.execute(
        sa.update(t.outbox)
        .where(ob.id.in_(list(ids)))
        .values(
            attempts=ob.attempts + 1,
            lease_token=ob.lease_token + 1,
            next_attempt_at=until,
            locked_by=worker,
        )
    )


_SETTLE_FENCED = (
    sa.update(t.outbox)
    .where(
        t.outbox.c.id == sa.bindparam("b_id"),
        t.outbox.c.lease_token == sa.bindparam("b_token"),
        t.outbox.c.status == _PENDING,
    )
    .values(
        status=sa.bindparam("b_status"),
        last_error=sa.bindparam("b_error"),
        next_attempt_at=sa.bindparam("b_at"),
        locked_by=None,
    )
)


def settle_many(
    conn: sa.Connection,
    outcomes: Sequence[tuple[int, int, str, str | None, datetime | None]],
) -> None:
    """Settle (id, token, status, error, next attempt) rows, each fenced by its token."""
    if outcomes:
        conn.execute(
            _SETTLE_FENCED,
            [
                {"b_id": i, "b_token": tok, "b_status": st, "b_error": err, "b_at": at}
                for i, tok, st, err, at in outcomes
            ],
        )


def list_outbox(
    conn: sa.Connection, *, status: str | None, limit: int, after_id: int | None
) -> list[OutboxRecord]:
    q = sa.select(*OUTBOX_COLUMNS)
    if status is not None:
        q = q.where(t.outbox.c.status == str(status))
    if after_id is not None:
        q = q.where(t.outbox.c.id > after_id)
    return [outbox_record(r) for r in conn.execute(q.order_by(t.outbox.c.id).limit(limit))]


def stats(conn: sa.Connection, now: datetime) -> dict[str, Any]:
    c = t.cases.c
    by_state = {
        (r.workflow_name, r.state): int(r.n)
        for r in conn.execute(
            sa.select(c.workflow_name, c.state, sa.func.count().label("n")).group_by(
                c.workflow_name, c.state
            )
        )
    }
    open_cases = conn.execute(
        sa.select(sa.func.count()).select_from(t.cases).where(c.closed_at.is_(None))
    ).scalar_one()
    tm = t.timers.c
    pending, paused = TimerStatus.PENDING.value, TimerStatus.PAUSED.value
    timer_counts: dict[str, int] = dict(
        conn.execute(
            sa.select(tm.status, sa.func.count())
            .where(tm.status.in_((pending, paused)))
            .group_by(tm.status)
        ).all()
    )
    overdue = conn.execute(
        sa.select(sa.func.count()).where(tm.status == pending, tm.due_at <= now)
    ).scalar_one()
    clock = tm.scope == TimerScope.CLOCK.value
    overdue_clocks = conn.execute(
        sa.select(sa.func.count()).where(tm.status == TimerStatus.OVERDUE.value, clock)
    ).scalar_one()
    lapses = conn.execute(  # every fired deadline and watchdog lapse (not `every` cadences)
        sa.select(sa.func.count()).where(clock, tm.fired_at.is_not(None), sa.not_(tm.recurring))
    ).scalar_one()
    ob = t.outbox.c
    outbox_counts: dict[str, int] = dict(
        conn.execute(
            sa.select(ob.status, sa.func.count())
            .where(ob.status.in_((_PENDING, _DEAD)))
            .group_by(ob.status)
        ).all()
    )
    return {
        "cases_by_state": by_state,
        "open_cases": int(open_cases),
        "pending_timers": int(timer_counts.get(pending, 0)),
        "paused_timers": int(timer_counts.get(paused, 0)),
        "overdue_timers": int(overdue),
        "oldest_pending_due": next_timer_due(conn),
        "outbox_pending": int(outbox_counts.get(_PENDING, 0)),
        "outbox_dead": int(outbox_counts.get(_DEAD, 0)),
        "overdue_clocks": int(overdue_clocks),
        "clock_lapses": int(lapses),
        **item_stats(conn, now),  # work items (revision 0011)
    }
