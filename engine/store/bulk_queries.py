"""SQL for continuity's batches: importing cases and migrating them, many per statement.

An import or a migration writes thousands of cases; one round trip per row per
table made PostgreSQL the bottleneck. Here each batch reads what it needs in
one statement per table and writes each table's rows with one executemany.
Feed positions (``history.change_seq``) are taken for the whole batch with one
bump of the change counter (:mod:`engine.store.change_queries`): the batch's
rows get consecutive positions, in order, under the same row lock.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import sqlalchemy as sa

from engine.store import tables as t
from engine.store.key_queries import _row as key_row
from engine.store.mapping import (
    CASE_COLUMNS,
    case_record,
    case_values,
    history_values,
    timer_values,
)
from engine.store.records import CASE_MUTABLE, CaseKeyRecord, CaseRecord, HistoryRecord, TimerRecord

_UPDATE_CASE = (
    sa.update(t.cases)
    .where(t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_expected"))
    .values({c: sa.bindparam(f"c_{c}") for c in (*CASE_MUTABLE, "workflow_version")})
)


def _positions(conn: sa.Connection, n: int) -> range:
    """``n`` consecutive feed positions; the counter row stays locked until the end."""
    c = t.change_counter.c
    stmt = sa.update(t.change_counter).where(c.id == 1).values(last=c.last + n).returning(c.last)
    last = int(conn.execute(stmt).scalar_one())
    return range(last - n + 1, last + 1)


def _histories(conn: sa.Connection, rows: Sequence[HistoryRecord]) -> None:
    if not rows:
        return
    seqs = _positions(conn, len(rows))
    conn.execute(
        sa.insert(t.history),
        [{**history_values(h), "change_seq": s} for h, s in zip(rows, seqs, strict=True)],
    )


def present_cases(conn: sa.Connection, case_ids: Sequence[str]) -> set[str]:
    if not case_ids:
        return set()
    q = sa.select(t.cases.c.id).where(t.cases.c.id.in_(list(case_ids)))
    return {str(r[0]) for r in conn.execute(q)}


def key_holders(
    conn: sa.Connection, workflow: str, name: str, values: Sequence[str]
) -> dict[str, str]:
    if not values:
        return {}
    k = t.case_keys.c
    q = sa.select(k.value, k.case_id).where(
        k.open_unique == workflow, k.name == name, k.value.in_(list(values))
    )
    return {str(v): str(c) for v, c in conn.execute(q)}


def import_cases(
    conn: sa.Connection,
    cases: Sequence[tuple[CaseRecord, HistoryRecord]],
    keys: Sequence[CaseKeyRecord],
    timers: Sequence[TimerRecord],
) -> None:
    if not cases:
        return
    conn.execute(sa.insert(t.cases), [case_values(c) for c, _ in cases])
    _histories(conn, [h for _, h in cases])
    if keys:
        conn.execute(sa.insert(t.case_keys), [key_row(k) for k in keys])
    if timers:
        conn.execute(sa.insert(t.timers), [timer_values(r) for r in timers])


def lock_cases(conn: sa.Connection, postgres: bool, case_ids: Sequence[str]) -> list[CaseRecord]:
    if not case_ids:
        return []
    q = sa.select(*CASE_COLUMNS).where(t.cases.c.id.in_(list(case_ids))).order_by(t.cases.c.id)
    if postgres:
        q = q.with_for_update(of=t.cases)
    return [case_record(r) for r in conn.execute(q)]


def cancel_timers_by_id(conn: sa.Connection, timer_ids: Sequence[int]) -> None:
    if timer_ids:
        conn.execute(
            sa.update(t.timers).where(t.timers.c.id.in_(list(timer_ids))).values(status="cancelled")
        )


def migrate_cases(
    conn: sa.Connection, moves: Sequence[tuple[CaseRecord, CaseRecord, HistoryRecord]]
) -> bool:
    if not moves:
        return True
    params: list[dict[str, Any]] = []
    for before, after, _ in moves:
        p: dict[str, Any] = {"_id": before.id, "_expected": before.version}
        for c in (*CASE_MUTABLE, "workflow_version"):
            p[f"c_{c}"] = getattr(after, c)
        params.append(p)
    res = conn.execute(_UPDATE_CASE.execution_options(preserve_rowcount=True), params)
    if res.rowcount != len(moves):
        return False
    _histories(conn, [h for _, _, h in moves])
    return True
