"""SQL for timers: arming, pausing, resuming, cancelling and claiming due ones.

Functions take the open connection first; none of them commits.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.mapping import (
    CASE_COLUMNS,
    TIMER_COLUMNS,
    case_record,
    timer_record,
    timer_values,
)
from engine.store.records import ClaimedTimer, TimerRecord, TimerScope, TimerStatus

PENDING = TimerStatus.PENDING.value
PAUSED = TimerStatus.PAUSED.value
FIRED = TimerStatus.FIRED.value
CANCELLED = TimerStatus.CANCELLED.value
OVERDUE = TimerStatus.OVERDUE.value
STATE = TimerScope.STATE.value
CLOCK = TimerScope.CLOCK.value

_INSERT_TIMER = sa.insert(t.timers)
_INSERT_TIMERS = sa.insert(t.timers).returning(t.timers.c.id, sort_by_parameter_order=True)


def _status_in(statuses: Sequence[str]) -> sa.ColumnElement[bool]:
    # OR of equalities: a fixed IN list would be an "expanding" parameter re-rendered per call
    return sa.or_(*(t.timers.c.status == s for s in statuses))


_CANCEL_TIMERS: dict[tuple[str, ...], sa.Update] = {
    statuses: sa.update(t.timers)
    .where(
        t.timers.c.case_id == sa.bindparam("_case"),
        _status_in(statuses),
        t.timers.c.scope == STATE,  # case clocks outlive state entries
    )
    .values(status=CANCELLED)
    for statuses in ((PENDING,), (PENDING, PAUSED))
}
#: live: pending or paused timers, and case clocks that fired and wait to be stopped
_LIVE = (PENDING, PAUSED, OVERDUE)
_SELECT_LIVE_TIMERS = (
    sa.select(*TIMER_COLUMNS)
    .where(t.timers.c.case_id == sa.bindparam("_case"), _status_in(_LIVE))
    .order_by(t.timers.c.id)
)
_SELECT_CLOCK_TIMERS = (
    sa.select(*TIMER_COLUMNS)
    .where(
        t.timers.c.case_id == sa.bindparam("_case"),
        _status_in(_LIVE),
        t.timers.c.scope == CLOCK,
    )
    .order_by(t.timers.c.id)
)
_END_CLOCK_TIMERS = (
    sa.update(t.timers)
    .where(t.timers.c.id.in_(sa.bindparam("_ids", expanding=True)))
    .values(
        status=sa.case((t.timers.c.status == OVERDUE, FIRED), else_=CANCELLED),
        due_at=sa.case((t.timers.c.status == OVERDUE, t.timers.c.due_at), else_=None),
    )
)
_UPDATE_TIMER = sa.update(t.timers).where(t.timers.c.id == sa.bindparam("_tid"))


def _build_select_due(postgres: bool, db_clock: bool) -> sa.Select[Any]:
    due = sa.func.now() if db_clock else sa.bindparam("_now", type_=t.UTCDateTime)
    cols: list[Any] = [*TIMER_COLUMNS, *(c.label(f"c_{c.name}") for c in CASE_COLUMNS)]
    if db_clock:
        cols.append(sa.func.now().label("db_now"))
    q = (
        sa.select(*cols)
        .join_from(t.timers, t.cases, t.cases.c.id == t.timers.c.case_id)
        .where(t.timers.c.status == PENDING, t.timers.c.due_at <= due)
        .order_by(t.timers.c.due_at, t.timers.c.id)
        .limit(1)
    )
    if postgres:
        q = q.with_for_update(skip_locked=True, of=(t.timers, t.cases))
    return q


#: what a claim sets the status to: a one-shot case clock stays live as overdue
_CLAIMED_STATUS = sa.case(
    (sa.and_(t.timers.c.scope == CLOCK, sa.not_(t.timers.c.recurring)), OVERDUE), else_=FIRED
)


def claimed_status(scope: str, recurring: bool) -> str:
    """The status a claim gives a timer row (the Python side of :data:`_CLAIMED_STATUS`)."""
    return OVERDUE if scope == CLOCK and not recurring else FIRED


def _build_claim(db_clock: bool) -> sa.Update:
    """PostgreSQL: ``WITH claimed AS (SELECT ... FOR UPDATE OF timers, cases SKIP LOCKED
    LIMIT 1) UPDATE timers SET status='fired' ... RETURNING`` the timer and its case."""
    claimed = _build_select_due(True, db_clock).cte("claimed")
    fired_at = sa.func.now() if db_clock else sa.bindparam("_now", type_=t.UTCDateTime)
    returning: list[Any] = [
        *(t.timers.c[c.name] for c in TIMER_COLUMNS),
        *(claimed.c[f"c_{c.name}"] for c in CASE_COLUMNS),
    ]
    if db_clock:
        returning.append(claimed.c.db_now)
    return (
        sa.update(t.timers)
        .where(t.timers.c.id == claimed.c.id)
        .values(status=_CLAIMED_STATUS, fired_at=fired_at)
        .returning(*returning)
    )


#: (database clock?) -> the PostgreSQL claim statement
CLAIM_TIMER = {db_clock: _build_claim(db_clock) for db_clock in (False, True)}
#: (database clock?) -> the SQLite select of the next due timer and its case
SELECT_DUE = {db_clock: _build_select_due(False, db_clock) for db_clock in (False, True)}

_NT = len(TIMER_COLUMNS)
_NC = len(CASE_COLUMNS)


def insert_timers(conn: sa.Connection, timers: Sequence[TimerRecord]) -> list[int]:
    if not timers:
        return []
    if len(timers) == 1:  # the usual case: the driver's lastrowid, no RETURNING
        key = conn.execute(_INSERT_TIMER, timer_values(timers[0])).inserted_primary_key
        assert key is not None
        return [int(key[0])]
    res = conn.execute(_INSERT_TIMERS, [timer_values(r) for r in timers])
    return [int(x) for x in res.scalars()]


def cancel_timers(conn: sa.Connection, case_id: str, statuses: tuple[TimerStatus, ...]) -> int:
    stmt = _CANCEL_TIMERS[tuple(s.value for s in statuses)]
    return int(conn.execute(stmt, {"_case": case_id}).rowcount)


def update_timer(conn: sa.Connection, timer_id: int, values: dict[str, Any]) -> None:
    conn.execute(_UPDATE_TIMER, {"_tid": timer_id, **values})


def cancel_timer(conn: sa.Connection, timer_id: int) -> None:
    update_timer(conn, timer_id, {"status": CANCELLED})


def resume_timer(conn: sa.Connection, timer_id: int, due_at: datetime, entry_seq: int) -> None:
    update_timer(
        conn,
        timer_id,
        {
            "status": PENDING,
            "due_at": due_at,
            "remaining_seconds": None,
            "paused_at": None,
            "paused_due_at": None,
            "state_entry_seq": entry_seq,
        },
    )


def pause_timers(
    conn: sa.Connection, case_id: str, now: datetime, pausable_names: Sequence[str]
) -> None:
    """Pause the case's pending timers named; cancel its other pending timers."""
    rows = conn.execute(
        sa.select(t.timers.c.id, t.timers.c.name, t.timers.c.due_at).where(
            t.timers.c.case_id == case_id,
            t.timers.c.status == PENDING,
            t.timers.c.scope == STATE,
        )
    ).all()
    for r in rows:
        if r.name in pausable_names and r.due_at is not None:
            remaining = max(0.0, (r.due_at - now).total_seconds())
            values: dict[str, Any] = {
                "status": PAUSED,
                "remaining_seconds": remaining,  # for the operator view
                "paused_at": now,  # these two are what resuming uses
                "paused_due_at": r.due_at,
                "due_at": None,
            }
        else:
            values = {"status": CANCELLED}
        conn.execute(sa.update(t.timers).where(t.timers.c.id == r.id).values(**values))


def live_timers_of(conn: sa.Connection, case_id: str) -> list[TimerRecord]:
    return [timer_record(r) for r in conn.execute(_SELECT_LIVE_TIMERS, {"_case": case_id})]


def live_timers_for(conn: sa.Connection, case_ids: Sequence[str]) -> dict[str, list[TimerRecord]]:
    out: dict[str, list[TimerRecord]] = {}
    if not case_ids:
        return out
    q = (
        sa.select(*TIMER_COLUMNS)
        .where(t.timers.c.case_id.in_(list(case_ids)), t.timers.c.status.in_(_LIVE))
        .order_by(t.timers.c.id)
    )
    for r in conn.execute(q):
        rec = timer_record(r)
        out.setdefault(rec.case_id, []).append(rec)
    return out


def paused_timers_of(conn: sa.Connection, case_id: str) -> list[TimerRecord]:
    q = sa.select(*TIMER_COLUMNS).where(
        t.timers.c.case_id == case_id, t.timers.c.status == PAUSED, t.timers.c.scope == STATE
    )
    return [timer_record(r) for r in conn.execute(q)]


def clock_timers_of(conn: sa.Connection, case_id: str) -> list[TimerRecord]:
    """The case's clock rows that are pending, paused or overdue, oldest first."""
    return [timer_record(r) for r in conn.execute(_SELECT_CLOCK_TIMERS, {"_case": case_id})]


def end_clock_timers(conn: sa.Connection, timer_ids: Sequence[int]) -> None:
    """Stop clock rows: overdue ones become fired, pending and paused ones cancelled."""
    if timer_ids:
        conn.execute(_END_CLOCK_TIMERS, {"_ids": list(timer_ids)})


def pause_timer(conn: sa.Connection, timer_id: int, now: datetime, due_at: datetime) -> None:
    update_timer(
        conn,
        timer_id,
        {
            "status": PAUSED,
            "remaining_seconds": max(0.0, (due_at - now).total_seconds()),
            "paused_at": now,
            "paused_due_at": due_at,
            "due_at": None,
        },
    )


def claim_next_due_timer(
    conn: sa.Connection, postgres: bool, now: datetime | None
) -> ClaimedTimer | None:
    """Claim the oldest due pending timer: lock it and its case, mark it fired.

    On PostgreSQL one statement (:data:`CLAIM_TIMER`), so a timer whose case
    another transaction holds (a ``send`` in flight, another worker) is passed
    over, not waited for. On SQLite (already the only writer) a select and an
    update. ``now`` None judges due-ness by the database clock.
    """
    params: dict[str, Any] = {} if now is None else {"_now": now}
    if postgres:
        row = conn.execute(CLAIM_TIMER[now is None], params).first()
        if row is None:
            return None
        at = row[_NT + _NC] if now is None else now
        return ClaimedTimer(timer_record(row), case_record(row[_NT:]), at)
    row = conn.execute(SELECT_DUE[now is None], params).first()
    if row is None:
        return None
    at = row[_NT + _NC] if now is None else now
    status = claimed_status(row[17], bool(row[8]))  # scope, recurring
    update_timer(conn, int(row[0]), {"status": status, "fired_at": at})
    timer = timer_record((*row[:7], status, *row[8:12], at, *row[13:_NT]))
    return ClaimedTimer(timer, case_record(row[_NT:]), at)


def next_timer_due(conn: sa.Connection) -> datetime | None:
    q = sa.select(sa.func.min(t.timers.c.due_at)).where(t.timers.c.status == PENDING)
    value = conn.execute(q).scalar()
    return t.UTCDateTime().process_result_value(value, conn.dialect)


def list_timers(
    conn: sa.Connection,
    *,
    case_id: str | None,
    status: str | None,
    due_before: datetime | None,
    limit: int,
    after_id: int | None,
) -> list[TimerRecord]:
    q = sa.select(*TIMER_COLUMNS)
    if case_id is not None:
        q = q.where(t.timers.c.case_id == case_id)
    if status is not None:
        q = q.where(t.timers.c.status == str(status))
    if due_before is not None:
        q = q.where(t.timers.c.due_at < due_before)
    if after_id is not None:
        q = q.where(t.timers.c.id > after_id)
    return [timer_record(r) for r in conn.execute(q.order_by(t.timers.c.id).limit(limit))]
