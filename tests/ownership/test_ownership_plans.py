"""The ownership queries are answered from their indexes: EXPLAIN of the statements the
store runs for one assignee's worklist and for the caseload counts.

A few thousand synthetic cases and owners, eight times as many timer rows (most of a
real table is the cancelled and fired deadlines of earlier states), (vacuumed and analysed, so the
planners cost real statistics). No timings: the plan is what is checked
(bench/ownership.py measures at 1,000,000 cases).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
import sqlalchemy as sa

from engine.store import tables as t
from engine.store.database import create_database_engine
from engine.store.owner_queries import caseload_query
from engine.store.records import WorklistQuery
from engine.store.worklist_queries import worklist_query

NOW = datetime(2026, 12, 1, tzinfo=UTC)
ROWS = 6000
PEOPLE = 120


def _rows(n: int) -> tuple[list[dict[str, Any]], ...]:
    rng = random.Random(11)
    cases, owners, timers = [], [], []
    for i in range(n):
        opened = NOW - timedelta(minutes=n - i)
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        closed = opened if rng.random() < 0.3 else None
        cases.append(
            {
                "id": case_id,
                "workflow_name": ("brokerage", "intensive")[i % 2],
                "workflow_version": 1,
                "state": "monitoring" if closed is None else "closed",
                "phase": "monitoring" if closed is None else "closure",
                "record": {},
                "version": 2,
                "previous_state": None,
                "state_entry_seq": 1,
                "last_hash": "0" * 64,
                "overdue_since": None,
                "opened_at": opened,
                "updated_at": opened,
                "closed_at": closed,
            }
        )
        owners.append(
            {
                "case_id": case_id,
                "workflow_name": cases[-1]["workflow_name"],
                "assignee": f"cm-{rng.randrange(PEOPLE):03d}",
                "team": f"team-{rng.randrange(8)}",
                "weight": rng.choice((1.0, 1.5, 2.0)),
                "opened_at": opened,
                "assigned_at": opened,
                "first_assigned_at": opened,
                "closed_at": closed,
            }
        )
        for k in range(8):  # the deadlines of earlier states: most timer rows are history
            timers.append(
                {
                    "case_id": case_id,
                    "name": f"old_{k}",
                    "event": "old_due",
                    "state": "intake",
                    "state_entry_seq": 1,
                    "due_at": opened + timedelta(days=k),
                    "status": "cancelled",
                    "recurring": False,
                    "pausable": False,
                    "remaining_seconds": None,
                    "created_at": opened,
                    "fired_at": None,
                }
            )
        if closed is None:
            timers.append(
                {
                    "case_id": case_id,
                    "name": "contact",
                    "event": "contact_due",
                    "state": "monitoring",
                    "state_entry_seq": 1,
                    "due_at": NOW + timedelta(hours=rng.randrange(-100, 400)),
                    "status": "pending",
                    "recurring": False,
                    "pausable": False,
                    "remaining_seconds": None,
                    "created_at": opened,
                    "fired_at": None,
                }
            )
    return cases, owners, timers


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    from engine.store.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(database_url)
    store.ensure_schema(upgrade=True)  # the migrations' indexes, not create_all's
    store.close()
    engine = create_database_engine(database_url)
    cases, owners, timers = _rows(ROWS)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.cases), cases)
        conn.execute(sa.insert(t.case_owners), owners)
        conn.execute(sa.insert(t.timers), timers)
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="AUTOCOMMIT")
            conn.exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    yield engine
    engine.dispose()


def plan(db: sa.Engine, stmt: sa.Select[Any]) -> str:
    sql = str(stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


def test_one_assignees_worklist_starts_from_their_open_cases(db: sa.Engine) -> None:
    for query in (
        WorklistQuery(assignee="cm-007"),
        WorklistQuery(assignee="cm-007", due_before=NOW + timedelta(days=7)),
        WorklistQuery(assignee="cm-007", overdue=True),
    ):
        for after in (None, (NOW, "timer", 10)):
            text = plan(db, worklist_query(query, now=NOW, limit=50, after=after))
            assert "ix_case_owners_open_assignee" in text, text
            # each case's timers by key, or (few overdue rows) the range of late timers
            assert "ix_timers_case_id_status" in text or "ix_timers_status_due_at_id" in text, text
            assert "Seq Scan" not in text, text
            assert "SCAN timers" not in text, text
            assert "SCAN cases" not in text, text


def test_caseload_counts_read_the_covering_partial_indexes(db: sa.Engine) -> None:
    for by, index in (
        ("assignee", "ix_case_owners_open_assignee"),
        ("team", "ix_case_owners_open_team"),
    ):
        some = plan(db, caseload_query(by, ["cm-001", "cm-002", "team-1"]))
        assert index in some, some  # a supervisor's few people: a range of the index
        assert "Seq Scan" not in some, some
        every = plan(db, caseload_query(by))
        assert "cases " not in every.replace("case_owners", ""), every  # never a join
        if db.dialect.name == "sqlite":
            assert f"COVERING INDEX {index}" in every, every  # the table itself is not read
            assert f"COVERING INDEX {index}" in some, some
        else:  # most rows qualify: PostgreSQL may read case_owners in one pass instead
            assert index in every or "Seq Scan on case_owners" in every, every


def test_the_worklist_query_returns_the_assignees_deadlines_in_due_order(db: sa.Engine) -> None:
    from engine.store.worklist_queries import worklist

    with db.connect() as conn:
        rows = worklist(conn, WorklistQuery(assignee="cm-007"), now=NOW, limit=1000, after=None)
        expected = conn.execute(
            sa.select(sa.func.count())
            .select_from(
                t.case_owners.join(t.timers, t.timers.c.case_id == t.case_owners.c.case_id)
            )
            .where(
                t.case_owners.c.assignee == "cm-007",
                t.case_owners.c.closed_at.is_(None),
                t.timers.c.status == "pending",
            )
        ).scalar_one()
    assert rows
    assert len(rows) == expected
    assert {r.assignee for r in rows} == {"cm-007"}
    assert [r.due_at for r in rows] == sorted(r.due_at for r in rows)
