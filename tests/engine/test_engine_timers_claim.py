"""On PostgreSQL the timer claim is an index scan with LIMIT: no cost growing with the backlog.

The claim orders due timers by (due_at, id). With an index on (status,
due_at) only, PostgreSQL had to sort every due timer on each claim (19 ms per
claim at 7,000 due); the (status, due_at, id) index of revision 0003 serves
the order directly. (SQLite needs no such test: the rowid ends every index.)
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from engine_support import CLERK, V1

from engine.clock import ManualClock
from engine.runtime.engine import Engine

pytestmark = pytest.mark.postgres


@pytest.fixture
def pg_engine(postgres_url: str) -> Iterator[Engine]:
    clock = ManualClock()
    eng = Engine.open(postgres_url, workflows=V1, clock=clock)
    try:
        for i in range(40):
            eng.open_case("enginetest", {"patient_id": f"P-{i:04d}"}, **CLERK)
        clock.advance(timedelta(days=3))
        yield eng
    finally:
        eng.close()


@pytest.mark.parametrize("db_clock", [True, False], ids=["db_clock", "engine_clock"])
def test_claim_of_due_timer_is_ordered_index_scan_without_sort(
    pg_engine: Engine, postgres_url: str, db_clock: bool
) -> None:
    from engine.store.sqlalchemy_store import SqlAlchemyStore
    from engine.store.timer_queries import CLAIM_TIMER

    store = SqlAlchemyStore(postgres_url)  # the same database the engine's timers are in
    compiled = CLAIM_TIMER[db_clock].compile(dialect=store.db.dialect)
    params = dict(compiled.params)
    if not db_clock:  # the engine-clock claim compares with the engine's instant
        params["_now"] = pg_engine.clock.now()
    with store.db.connect() as conn:
        conn.exec_driver_sql("ANALYZE timers")
        conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # as on a large table
        rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), params)
        plan = "\n".join(r[0] for r in rows)
        conn.rollback()
    store.close()
    assert "ix_timers_status_due_at_id" in plan
    assert "Sort" not in plan
    assert "Limit" in plan
