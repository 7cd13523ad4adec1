"""SQL for cases, their history, idempotency keys, definitions and the access log.

Functions take the open connection first and whether it is PostgreSQL; none
of them commits. Hot-path statements are built once: values travel as bound
parameters, so SQLAlchemy's compiled-statement cache is hit instead of
building a cache key per value.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.change_queries import BUMP, next_change_seq
from engine.store.item_search_queries import case_item_conditions
from engine.store.mapping import (
    ACCESS_COLUMNS,
    CASE_COLUMNS,
    CHECKPOINT_COLUMNS,
    DEFINITION_COLUMNS,
    HISTORY_COLUMNS,
    HISTORY_INSERT_FIELDS,
    IDEMPOTENCY_COLUMNS,
    access_record,
    access_values,
    case_record,
    case_values,
    checkpoint_record,
    checkpoint_values,
    definition_record,
    definition_values,
    history_record,
    history_values,
    idempotency_record,
    idempotency_values,
)
from engine.store.records import (
    CASE_MUTABLE,
    AccessRecord,
    CaseQuery,
    CaseRecord,
    CheckpointRecord,
    DefinitionRecord,
    HistoryRecord,
    IdempotencyRecord,
    TimerStatus,
)

_SELECT_CASE = sa.select(*CASE_COLUMNS).where(t.cases.c.id == sa.bindparam("_id"))
_SELECT_CASE_NOW = sa.select(*CASE_COLUMNS, sa.func.now().label("db_now")).where(
    t.cases.c.id == sa.bindparam("_id")
)
# (postgres, with the database's now) -> the statement that reads and locks a case
_LOCK_CASE = {
    (pg, now): (q.with_for_update(of=t.cases) if pg else q)
    for pg in (False, True)
    for now, q in ((False, _SELECT_CASE), (True, _SELECT_CASE_NOW))
}
_UPDATE_CASE = sa.update(t.cases).where(
    t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected")
)
_INSERT_CASE = sa.insert(t.cases)
_INSERT_HISTORY = sa.insert(t.history)
_SELECT_IDEMPOTENCY = sa.select(*IDEMPOTENCY_COLUMNS).where(
    t.idempotency.c.key == sa.bindparam("_key")
)
_INSERT_IDEMPOTENCY = sa.insert(t.idempotency)
_ALWAYS_SET = frozenset(("version", "last_hash", "updated_at"))


def _advance_statement() -> sa.Insert:
    """PostgreSQL: update the case (version-checked) and append its history row in one
    statement: ``WITH u AS (UPDATE cases ... RETURNING id), c AS (UPDATE change_counter ...
    RETURNING last) INSERT INTO history ... FROM u, c``. No history row is inserted when the
    version check fails (rowcount 0); the feed position it took is then rolled back with
    the transaction (the caller raises)."""
    upd = (
        sa.update(t.cases)
        .where(t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected"))
        .values({c: sa.bindparam(f"c_{c}", type_=t.cases.c[c].type) for c in CASE_MUTABLE})
        .returning(t.cases.c.id)
        .cte("advanced")
    )
    bump = BUMP.cte("bumped")
    rows = sa.select(
        *(sa.bindparam(f"h_{c}", type_=t.history.c[c].type) for c in HISTORY_INSERT_FIELDS),
        bump.c.last,
    ).select_from(upd.join(bump, sa.true()))
    stmt = (
        sa.insert(t.history)
        .add_cte(upd, bump)
        .from_select([*HISTORY_INSERT_FIELDS, "change_seq"], rows)
    )
    # rowcount of an INSERT is only kept when asked for (SQLAlchemy 2.x)
    return stmt.execution_options(preserve_rowcount=True)


_ADVANCE_CASE = _advance_statement()


def db_now(conn: sa.Connection) -> datetime:
    value = conn.execute(sa.select(sa.func.now())).scalar_one()
    assert isinstance(value, datetime)
    return value


# -- definitions ------------------------------------------------------------------------


def definitions(conn: sa.Connection) -> list[DefinitionRecord]:
    d = t.workflow_definitions.c
    q = sa.select(*DEFINITION_COLUMNS).order_by(d.name, d.version)
    return [definition_record(r) for r in conn.execute(q)]


_DEFINITIONS_MARK = sa.select(
    sa.func.count(), sa.func.coalesce(sa.func.max(t.workflow_definitions.c.id), 0)
)


def definitions_mark(conn: sa.Connection) -> tuple[int, int]:
    count, newest = conn.execute(_DEFINITIONS_MARK).one()
    return int(count), int(newest)


def insert_definition(conn: sa.Connection, definition: DefinitionRecord) -> None:
    conn.execute(sa.insert(t.workflow_definitions), definition_values(definition))


# -- cases ------------------------------------------------------------------------------


def lock_case(
    conn: sa.Connection, postgres: bool, case_id: str, with_db_now: bool
) -> tuple[CaseRecord, datetime | None] | None:
    row = conn.execute(_LOCK_CASE[(postgres, with_db_now)], {"_id": case_id}).first()
    if row is None:
        return None
    return case_record(row), (row[14] if with_db_now else None)


def get_case(conn: sa.Connection, case_id: str) -> CaseRecord | None:
    row = conn.execute(_SELECT_CASE, {"_id": case_id}).first()
    return None if row is None else case_record(row)


def insert_case(conn: sa.Connection, case: CaseRecord, history: HistoryRecord) -> None:
    conn.execute(_INSERT_CASE, case_values(case))
    conn.execute(_INSERT_HISTORY, {**history_values(history), "change_seq": next_change_seq(conn)})


def advance_case(
    conn: sa.Connection,
    postgres: bool,
    before: CaseRecord,
    after: CaseRecord,
    history: HistoryRecord,
) -> bool:
    """Update the case at ``before.version`` and insert its history row.

    One round trip on PostgreSQL (every mutable column set, so one compiled
    statement). On SQLite only the columns whose value changed are set:
    SQLite rewrites every index over a column named in SET, changed or not
    (state, phase, overdue_since, closed_at), which made each internal
    transition or timer firing touch four indexes.
    """
    if postgres:
        params: dict[str, Any] = {"_id": before.id, "_expected": before.version}
        for c in CASE_MUTABLE:
            params[f"c_{c}"] = getattr(after, c)
        for k, v in history_values(history).items():
            params[f"h_{k}"] = v
        return bool(conn.execute(_ADVANCE_CASE, params).rowcount == 1)
    values: dict[str, Any] = {"_id": before.id, "_expected": before.version}
    for c in CASE_MUTABLE:
        v = getattr(after, c)
        if c in _ALWAYS_SET or getattr(before, c) != v:
            values[c] = v
    if conn.execute(_UPDATE_CASE, values).rowcount != 1:
        return False
    conn.execute(_INSERT_HISTORY, {**history_values(history), "change_seq": next_change_seq(conn)})
    return True


def _overdue_ids(now: datetime) -> sa.CompoundSelect[Any]:
    tm = t.timers.c
    late = sa.select(tm.case_id).where(tm.status == TimerStatus.PENDING.value, tm.due_at <= now)
    marked = sa.select(t.cases.c.id).where(t.cases.c.overdue_since.is_not(None))
    return sa.union(late, marked)


def case_conditions(
    query: CaseQuery, now: datetime, *, postgres: bool = False
) -> list[sa.ColumnElement[bool]]:
    """The WHERE conditions of a case search (shared by listing, counting and sorting)."""
    c = t.cases.c
    conds: list[sa.ColumnElement[bool]] = []
    if query.workflow is not None:
        conds.append(c.workflow_name == query.workflow)
    if query.state is not None:
        conds.append(c.state == query.state)
    if query.phase is not None:
        conds.append(c.phase == query.phase)
    if query.opened_after is not None:
        conds.append(c.opened_at >= query.opened_after)
    if query.opened_before is not None:
        conds.append(c.opened_at < query.opened_before)
    if query.closed is not None:
        conds.append(c.closed_at.is_not(None) if query.closed else c.closed_at.is_(None))
    if query.overdue:
        # The few overdue cases, from two small index ranges (pending timers past
        # due; the partial index of cases with overdue_since), then sorted: never
        # a scan of every case with a timer lookup per row.
        ids = _overdue_ids(now)
        if postgres:
            # id = ANY(ARRAY(subquery)): the ids are collected first (an InitPlan)
            # and looked up by primary key. As IN (subquery) the planner trusts its
            # estimate of pending-and-past-due timers (status and due_at taken as
            # independent: tens of thousands for a few thousand) and hash-joins a
            # scan of every case.
            conds.append(c.id == sa.any_(sa.func.array(ids.scalar_subquery())))
        else:
            conds.append(c.id.in_(ids))
    elif query.overdue is not None:
        # NOT IN the same uncorrelated set, computed once: a correlated NOT EXISTS is
        # planned by SQLite on the (status, due_at) index and scans every late timer
        # for every case
        conds.append(c.id.not_in(_overdue_ids(now)))
    for name, value in query.keys:
        k = t.case_keys.c
        conds.append(c.id.in_(sa.select(k.case_id).where(k.name == name, k.value == value)))
    conds += case_item_conditions(query, now)  # item_type / item_state / item_overdue
    return conds


def find_cases(
    conn: sa.Connection,
    query: CaseQuery,
    *,
    now: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
) -> list[CaseRecord]:
    postgres = conn.dialect.name == "postgresql"
    q = find_cases_statement(query, now=now, limit=limit, after=after, postgres=postgres)
    return [case_record(r) for r in conn.execute(q)]


def find_cases_statement(
    query: CaseQuery,
    *,
    now: datetime,
    limit: int,
    after: tuple[datetime, str] | None,
    postgres: bool = False,
) -> sa.Select[Any]:
    """The listing's SELECT (tests EXPLAIN it: every filter is an index range scan)."""
    c = t.cases.c
    q = sa.select(*CASE_COLUMNS).where(*case_conditions(query, now, postgres=postgres))
    if after is not None:
        q = q.where(
            sa.tuple_(c.opened_at, c.id) > sa.tuple_(sa.literal(after[0], t.UTCDateTime), after[1])
        )
    return q.order_by(c.opened_at, c.id).limit(limit)


# -- history ----------------------------------------------------------------------------


def history(conn: sa.Connection, case_id: str) -> list[HistoryRecord]:
    q = sa.select(*HISTORY_COLUMNS).where(t.history.c.case_id == case_id).order_by(t.history.c.seq)
    return [history_record(r) for r in conn.execute(q)]


def history_batches(
    conn: sa.Connection, case_id: str | None, batch: int = 1000
) -> Iterator[HistoryRecord]:
    """Every history row ordered by case and seq, read in keyset batches."""
    h = t.history.c
    last: tuple[str, int] | None = None
    while True:
        q = sa.select(*HISTORY_COLUMNS)
        if case_id is not None:
            q = q.where(h.case_id == case_id)
        if last is not None:
            q = q.where(sa.tuple_(h.case_id, h.seq) > sa.tuple_(sa.literal(last[0]), last[1]))
        rows = [history_record(r) for r in conn.execute(q.order_by(h.case_id, h.seq).limit(batch))]
        if not rows:
            return
        yield from rows
        last = (rows[-1].case_id, rows[-1].seq)


def case_heads(conn: sa.Connection, case_id: str | None) -> dict[str, CaseRecord]:
    q = sa.select(*CASE_COLUMNS)
    if case_id is not None:
        q = q.where(t.cases.c.id == case_id)
    return {r[0]: case_record(r) for r in conn.execute(q)}


# PostgreSQL advisory lock key serialising appends to the access chain ("casework-access")
ACCESS_CHAIN_LOCK = 0x6361_7365_6163_6373


def access_head(conn: sa.Connection, postgres: bool) -> tuple[int, str] | None:
    """The newest access row's (seq, hash), the chain locked until the transaction ends.

    SQLite's write transactions are exclusive already; on PostgreSQL a
    transaction-scoped advisory lock queues concurrent appenders (the unique
    ``seq`` is the backstop).
    """
    if postgres:
        conn.execute(sa.select(sa.func.pg_advisory_xact_lock(ACCESS_CHAIN_LOCK)))
    a = t.access_log.c
    row = conn.execute(sa.select(a.seq, a.hash).order_by(a.seq.desc()).limit(1)).first()
    return None if row is None else (int(row[0]), str(row[1]))


_INSERT_ACCESS = sa.insert(t.access_log)


def insert_access(conn: sa.Connection, access: AccessRecord) -> None:
    conn.execute(_INSERT_ACCESS, access_values(access))


def access_batches(conn: sa.Connection, batch: int = 1000) -> Iterator[AccessRecord]:
    """Every access row by seq, read in keyset batches."""
    a = t.access_log.c
    last = 0
    while True:
        q = sa.select(*ACCESS_COLUMNS).where(a.seq > last).order_by(a.seq).limit(batch)
        rows = [access_record(r) for r in conn.execute(q)]
        if not rows:
            return
        yield from rows
        last = rows[-1].seq


def checkpoints(conn: sa.Connection) -> list[CheckpointRecord]:
    q = sa.select(*CHECKPOINT_COLUMNS).order_by(t.audit_checkpoints.c.id)
    return [checkpoint_record(r) for r in conn.execute(q)]


def insert_checkpoint(conn: sa.Connection, checkpoint: CheckpointRecord) -> None:
    conn.execute(sa.insert(t.audit_checkpoints), checkpoint_values(checkpoint))


# -- idempotency ------------------------------------------------------------------------


def get_idempotency(conn: sa.Connection, key: str) -> IdempotencyRecord | None:
    row = conn.execute(_SELECT_IDEMPOTENCY, {"_key": key}).first()
    return None if row is None else idempotency_record(row)


def insert_idempotency(conn: sa.Connection, entry: IdempotencyRecord) -> None:
    conn.execute(_INSERT_IDEMPOTENCY, idempotency_values(entry))
