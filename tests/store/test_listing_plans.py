"""Every case listing is answered from an index: EXPLAIN of the statement ``find_cases`` runs.

A few thousand synthetic cases (analysed) so that the planners cost real
statistics; first pages and deep (keyset) pages; SQLite's EXPLAIN QUERY PLAN
and PostgreSQL's EXPLAIN. No timings: the plan is what is checked.
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
from engine.store.case_queries import find_cases_statement
from engine.store.database import create_database_engine
from engine.store.records import CaseQuery

NOW = datetime(2026, 12, 1, tzinfo=UTC)
STATES = [("referral_received", "intake"), ("assessing", "assessment")]
STATES += [("monitoring", "monitoring")]
STATES += [(f"s{i}", "planning") for i in range(40)] + [("closed", "closure")]
ROWS = 6000
WORKFLOWS = ["brokerage", "clinical", "hospital", "intensive"]


def _rows(n: int) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(7)
    cases, timers = [], []
    for i in range(n):
        state, phase = rng.choice(STATES)
        opened = NOW - timedelta(minutes=n - i)
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        closed = opened if state == "closed" else None
        cases.append(
            {
                "id": case_id,
                "workflow_name": "rare" if i % 50 == 0 else WORKFLOWS[i % len(WORKFLOWS)],
                "workflow_version": 1,
                "state": state,
                "phase": phase,
                "record": {},
                "version": 1,
                "previous_state": None,
                "state_entry_seq": 1,
                "last_hash": "0" * 64,
                "overdue_since": opened if closed is None and rng.random() < 0.002 else None,
                "opened_at": opened,
                "updated_at": opened,
                "closed_at": closed,
            }
        )
        if closed is None and rng.random() < 0.1:
            late = rng.random() < 0.04
            timers.append(
                {
                    "case_id": case_id,
                    "name": "deadline",
                    "event": "deadline",
                    "state": state,
                    "state_entry_seq": 1,
                    "due_at": NOW + timedelta(hours=-5 if late else 50),
                    "status": "pending",
                    "recurring": False,
                    "pausable": False,
                    "remaining_seconds": None,
                    "created_at": opened,
                    "fired_at": None,
                }
            )
    return cases, timers


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    from engine.store.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(database_url)
    store.ensure_schema(upgrade=True)  # the migrations' indexes, not create_all's
    store.close()
    engine = create_database_engine(database_url)
    cases, timers = _rows(ROWS)
    with engine.begin() as conn:
        conn.execute(sa.insert(t.cases), cases)
        conn.execute(sa.insert(t.timers), timers)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    yield engine
    engine.dispose()


def _plan(db: sa.Engine, query: CaseQuery, after: tuple[datetime, str] | None) -> list[str]:
    postgres = db.dialect.name == "postgresql"
    stmt = find_cases_statement(query, now=NOW, limit=50, after=after, postgres=postgres)
    sql = str(stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            return [r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql)]
        return [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]


# filters -> the index that must serve the listing
LISTINGS = {
    "state without a workflow": (CaseQuery(state="monitoring"), "ix_cases_state_opened_at_id"),
    "phase without a workflow": (CaseQuery(phase="assessment"), "ix_cases_phase_opened_at_id"),
    "workflow and state": (
        CaseQuery(workflow="brokerage", state="monitoring"),
        "ix_cases_workflow_name_state_opened_at_id",
    ),
    "open": (CaseQuery(closed=False), "ix_cases_open_opened_at_id"),
    "rare workflow": (CaseQuery(workflow="rare"), "ix_cases_workflow_name_opened_at_id"),
    "closed": (CaseQuery(closed=True), "ix_cases_closed_opened_at_id"),
    "every case": (CaseQuery(), "ix_cases_opened_at_id"),
}


DEEP = (NOW - timedelta(minutes=2000), "m")  # a keyset cursor a third from the end


def test_every_listing_filter_is_an_ordered_range_of_its_index(db: sa.Engine) -> None:
    for name, (query, index) in LISTINGS.items():
        for after in (None, DEEP):
            text = "\n".join(_plan(db, query, after))
            where = f"{name}, {'deep' if after else 'first'} page:\n{text}"
            assert index in text, where
            assert "Seq Scan" not in text, where
            if index != "ix_cases_opened_at_id":  # not a walk over every case, filtering
                assert "ix_cases_opened_at_id" not in text, where
            # SQLite: no sort, the index gives the order. (PostgreSQL may sort the
            # few rows of a small range after a bitmap scan; at scale it reads in order.)
            assert "TEMP B-TREE" not in text, where


def test_overdue_listing_reads_only_late_timers_and_marked_cases(db: sa.Engine) -> None:
    for after in (None, DEEP):
        text = "\n".join(_plan(db, CaseQuery(overdue=True), after))
        assert "ix_timers_status_due_at_id" in text, text  # pending timers past due: a range
        assert "ix_cases_overdue_opened_at_id" in text, text  # the partial index, marked cases
        assert "Seq Scan" not in text, text
        assert "ix_cases_opened_at_id" not in text, text  # never a walk over every case
        if db.dialect.name == "sqlite":  # the few ids, then each case by its key
            assert "SEARCH cases USING INDEX sqlite_autoindex_cases_1 (id=?)" in text, text
        else:
            assert "InitPlan" in text, text
            assert "Index Scan on pk_cases" in text or "Index Scan using pk_cases" in text, text


def test_overdue_listing_finds_late_timers_and_marked_cases(db: sa.Engine) -> None:
    from engine.store.case_queries import find_cases

    with db.connect() as conn:
        expected = {
            r[0]
            for r in conn.execute(
                sa.select(t.cases.c.id).where(
                    sa.or_(
                        t.cases.c.overdue_since.is_not(None),
                        t.cases.c.id.in_(
                            sa.select(t.timers.c.case_id).where(t.timers.c.due_at <= NOW)
                        ),
                    )
                )
            )
        }
        found = find_cases(conn, CaseQuery(overdue=True), now=NOW, limit=ROWS, after=None)
        rest = find_cases(conn, CaseQuery(overdue=False), now=NOW, limit=ROWS, after=None)
    assert expected
    assert {c.id for c in found} == expected
    assert [(c.opened_at, c.id) for c in found] == sorted((c.opened_at, c.id) for c in found)
    assert not expected & {c.id for c in rest}
    assert len(found) + len(rest) == ROWS


def test_listing_indexes_revision_downgrades_and_upgrades_again(database_url: str) -> None:
    from engine.store import migrate

    db = create_database_engine(database_url)
    try:
        migrate.upgrade(db)
        migrate.downgrade(db, "0005")
        names = {i["name"] for i in sa.inspect(db).get_indexes("cases")}
        assert {"ix_cases_workflow_name_state", "ix_cases_closed_at"} <= names
        assert "ix_cases_state_opened_at_id" not in names
        migrate.upgrade(db)
        names = {i["name"] for i in sa.inspect(db).get_indexes("cases")}
        assert {"ix_cases_state_opened_at_id", "ix_cases_overdue_opened_at_id"} <= names
        assert "ix_cases_closed_at" not in names
    finally:
        db.dispose()
