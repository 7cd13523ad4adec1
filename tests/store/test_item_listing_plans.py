"""Every cross-case item listing, and the case search by item, is answered from an index.

A few thousand synthetic cases with twelve thousand items (analysed) so that
the planners cost real statistics; first and deep (keyset) pages; SQLite's
EXPLAIN QUERY PLAN and PostgreSQL's EXPLAIN. No timings: the plan is what is
checked. The listing's answers are checked against a plain filter of the rows.
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
from engine.store.case_queries import find_cases, find_cases_statement
from engine.store.database import create_database_engine
from engine.store.item_search_queries import (
    count_items_matching,
    find_items,
    find_items_statement,
)
from engine.store.records import CaseQuery, ItemQuery

NOW = datetime(2026, 12, 1, tzinfo=UTC)
CASES = 2000
ITEMS_PER_CASE = 6
WORKFLOWS = ["brokerage", "clinical", "hospital", "intensive"]
TYPES = {
    "referral": ["sent", "waitlisted", "accepted", "declined"],
    "authorization": ["requested", "pended", "approved", "denied", "appealed"],
    "goal": ["active", "achieved", "dropped"],
    "contact": ["logged"],
    "appeal": ["filed", "upheld"],  # rare: one item in a hundred
}
FINAL = {"upheld", "accepted", "declined", "approved", "denied", "achieved", "dropped", "logged"}


def _rows() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]]]:
    rng = random.Random(11)
    cases, items, timers = [], [], []
    for i in range(CASES):
        opened = NOW - timedelta(hours=CASES - i)
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        workflow = "rare" if i % 50 == 0 else WORKFLOWS[i % len(WORKFLOWS)]
        cases.append(
            {
                "id": case_id,
                "workflow_name": workflow,
                "workflow_version": 1,
                "state": "monitoring",
                "phase": "monitoring",
                "record": {},
                "version": 1,
                "previous_state": None,
                "state_entry_seq": 1,
                "last_hash": "0" * 64,
                "overdue_since": None,
                "opened_at": opened,
                "updated_at": opened,
                "closed_at": None,
            }
        )
        for n in range(ITEMS_PER_CASE):
            kind = "appeal" if rng.random() < 0.01 else rng.choice(sorted(set(TYPES) - {"appeal"}))
            state = rng.choice(TYPES[kind])
            at = opened + timedelta(minutes=n)
            item_id = f"{kind}-{n + 1}"
            items.append(
                {
                    "case_id": case_id,
                    "item_id": item_id,
                    "workflow_name": workflow,
                    "type": kind,
                    "state": state,
                    "data": {},
                    "version": 1,
                    "opened_at": at,
                    "updated_at": at,
                    "closed_at": at if state in FINAL else None,
                    "opened_seq": n + 2,
                    "state_entry_seq": n + 2,
                }
            )
            if state not in FINAL and rng.random() < 0.3:
                late = rng.random() < 0.03
                timers.append(
                    {
                        "case_id": case_id,
                        "name": "no_answer",
                        "event": "no_answer",
                        "state": state,
                        "state_entry_seq": n + 2,
                        "due_at": NOW + timedelta(hours=-5 if late else 50),
                        "status": "pending",
                        "recurring": False,
                        "pausable": False,
                        "remaining_seconds": None,
                        "created_at": at,
                        "fired_at": None,
                        "scope": "item",
                        "item_id": item_id,
                    }
                )
    return cases, items, timers


@pytest.fixture
def db(database_url: str) -> Iterator[sa.Engine]:
    from engine.store.sqlalchemy_store import SqlAlchemyStore

    store = SqlAlchemyStore(database_url)
    store.ensure_schema(upgrade=True)  # the migrations' indexes, not create_all's
    store.close()
    engine = create_database_engine(database_url)
    cases, items, timers = _rows()
    with engine.begin() as conn:
        conn.execute(sa.insert(t.cases), cases)
        conn.execute(sa.insert(t.case_items), items)
        conn.execute(sa.insert(t.timers), timers)
    with engine.connect() as conn:
        conn.exec_driver_sql("ANALYZE")
        conn.commit()
    yield engine
    engine.dispose()


def _explain(db: sa.Engine, stmt: sa.Select[Any]) -> str:
    sql = str(stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            return "\n".join(r[0] for r in conn.exec_driver_sql("EXPLAIN " + sql))
        return "\n".join(r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql))


DEEP = (NOW - timedelta(hours=700), "m", "goal-1")  # a keyset cursor a third from the end

# filters -> the index that must serve the listing
LISTINGS = {
    "type and state": (
        ItemQuery(item_type="referral", state="sent"),
        "ix_case_items_type_state_opened_at_case_id_item_id",
    ),
    "workflow, type and state": (
        ItemQuery(workflow="rare", item_type="referral", state="sent"),
        "ix_case_items_workflow_name_type_state_opened_at",
    ),
    "rare type": (ItemQuery(item_type="appeal"), "ix_case_items_type_opened_at_case_id_item_id"),
    "open": (ItemQuery(open=True), "ix_case_items_open_opened_at"),
    "every item": (ItemQuery(), "ix_case_items_opened_at_case_id_item_id"),
}


def test_every_item_listing_filter_is_a_range_of_its_index(db: sa.Engine) -> None:
    for name, (query, index) in LISTINGS.items():
        for after in (None, DEEP):
            stmt = find_items_statement(query, now=NOW, limit=50, after=after)
            text = _explain(db, stmt)
            where = f"{name}, {'deep' if after else 'first'} page:\n{text}"
            assert index in text, where
            assert "Seq Scan" not in text, where
            assert "SCAN case_items" not in text.splitlines(), where  # SQLite: no full walk
            if query.workflow is None:  # the index gives the order: no sort
                assert "TEMP B-TREE" not in text, where


def test_overdue_items_come_from_the_late_timer_rows(db: sa.Engine) -> None:
    for after in (None, DEEP):
        stmt = find_items_statement(ItemQuery(overdue=True), now=NOW, limit=50, after=after)
        text = _explain(db, stmt)
        assert "ix_timers_status_due_at_id" in text, text  # pending item timers past due
        assert "Seq Scan on case_items" not in text, text
        assert "SCAN case_items" not in text.splitlines(), text
        assert "SCAN case_items USING" not in text, text  # not a walk testing each item


def test_case_search_by_item_uses_the_item_indexes(db: sa.Engine) -> None:
    postgres = db.dialect.name == "postgresql"
    searches = {
        "item type and state": (
            CaseQuery(item_type="authorization", item_state="pended"),
            "ix_case_items_type_state_opened_at_case_id_item_id",
        ),
        "rare item type": (
            CaseQuery(item_type="appeal"),
            "ix_case_items_type_opened_at_case_id_item_id",
        ),
        "overdue item": (CaseQuery(item_overdue=True), "ix_timers_status_due_at_id"),
    }
    for name, (query, index) in searches.items():
        stmt = find_cases_statement(query, now=NOW, limit=50, after=None, postgres=postgres)
        text = _explain(db, stmt)
        assert index in text, f"{name}:\n{text}"
        assert "Seq Scan on case_items" not in text, f"{name}:\n{text}"
        assert "SCAN case_items" not in text.splitlines(), f"{name}:\n{text}"


def test_item_listing_answers_match_a_plain_filter_and_pages_cover_each_once(
    db: sa.Engine,
) -> None:
    cases, items, timers = _rows()
    late = {(r["case_id"], r["item_id"]) for r in timers if r["due_at"] <= NOW}
    assert late
    queries = [
        ItemQuery(item_type="referral", state="sent"),
        ItemQuery(workflow="rare"),
        ItemQuery(open=False, item_type="goal"),
        ItemQuery(overdue=True),
        ItemQuery(overdue=False, open=True),
    ]
    with db.connect() as conn:
        for query in queries:

            def matches(r: dict[str, Any], q: ItemQuery = query) -> bool:
                return (
                    (q.workflow is None or r["workflow_name"] == q.workflow)
                    and (q.item_type is None or r["type"] == q.item_type)
                    and (q.state is None or r["state"] == q.state)
                    and (q.open is None or (r["closed_at"] is None) == q.open)
                    and (q.overdue is None or ((r["case_id"], r["item_id"]) in late) == q.overdue)
                )

            expected = sorted(
                (r["opened_at"], r["case_id"], r["item_id"]) for r in items if matches(r)
            )
            got: list[tuple[datetime, str, str]] = []
            after = None
            while True:
                page = find_items(conn, query, now=NOW, limit=97, after=after)
                got += [(i.opened_at, i.case_id, i.item_id) for i in page]
                if len(page) < 97:
                    break
                after = got[-1]
            assert got == expected, query
            assert count_items_matching(conn, query, now=NOW) == len(expected)

        exact = {
            r["case_id"] for r in items if r["type"] == "authorization" and r["state"] == "pended"
        }
        found = find_cases(
            conn,
            CaseQuery(item_type="authorization", item_state="pended"),
            now=NOW,
            limit=CASES,
            after=None,
        )
        assert {c.id for c in found} == exact
        late_cases = {c for c, _ in late}
        found = find_cases(conn, CaseQuery(item_overdue=True), now=NOW, limit=CASES, after=None)
        assert {c.id for c in found} == late_cases
        found = find_cases(conn, CaseQuery(item_overdue=False), now=NOW, limit=CASES, after=None)
        assert {c.id for c in found} == {c["id"] for c in cases} - late_cases
        late_refs = {(c, i) for c, i in late if i.startswith("referral")}
        found = find_cases(
            conn,
            CaseQuery(item_type="referral", item_overdue=True),
            now=NOW,
            limit=CASES,
            after=None,
        )
        assert {c.id for c in found} == {c for c, _ in late_refs}
