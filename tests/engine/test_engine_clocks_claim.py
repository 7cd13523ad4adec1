"""With case clocks in the timers table the claim stays an index scan, on both backends."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from engine.clock import ManualClock
from engine.runtime.engine import Engine

PROGRAM = Path(__file__).resolve().parent.parent / "fixtures" / "clocks" / "program.yaml"
CM = {"actor": "cm-1", "roles": ["case_manager"]}
INDEX = "ix_timers_status_due_at_id"


@pytest.fixture
def busy_engine(database_url: str) -> Iterator[Engine]:
    """Cases with state timers' neighbours: clocks pending, paused, overdue and cancelled."""
    clock = ManualClock(datetime(2026, 12, 4, 9, tzinfo=UTC))
    eng = Engine.open(database_url, workflows=[PROGRAM], clock=clock)
    try:
        for i in range(30):
            case = eng.open_case("clockdemo", {"patient_id": f"P-{i}"}, **CM)
            eng.send(case.id, "accepted", **CM)
            if i % 2:
                eng.send(
                    case.id, "assessment_completed", {"last_assessment_date": "2026-12-01"}, **CM
                )
        clock.advance(timedelta(days=5))
        eng.fire_due_timers(limit=5)
        yield eng
    finally:
        eng.close()


def test_claim_with_clock_rows_is_an_index_scan_without_sort(
    busy_engine: Engine, database_url: str
) -> None:
    from engine.store.sqlalchemy_store import SqlAlchemyStore
    from engine.store.timer_queries import CLAIM_TIMER, SELECT_DUE

    store = SqlAlchemyStore(database_url)
    postgres = store.postgres
    stmt = CLAIM_TIMER[False] if postgres else SELECT_DUE[False]
    compiled = stmt.compile(dialect=store.db.dialect)
    params = dict(compiled.params)
    params["_now"] = busy_engine.clock.now()
    with store.db.connect() as conn:
        if postgres:
            conn.exec_driver_sql("ANALYZE timers")
            conn.exec_driver_sql("SET LOCAL enable_seqscan = off")  # as on a large table
            rows = conn.exec_driver_sql("EXPLAIN " + str(compiled), params)
            plan = "\n".join(r[0] for r in rows)
        else:
            order = compiled.positiontup or []
            values = tuple(
                v.isoformat() if isinstance(v, datetime) else v for v in (params[k] for k in order)
            )
            rows = conn.exec_driver_sql("EXPLAIN QUERY PLAN " + str(compiled), values)
            plan = "\n".join(str(r[-1]) for r in rows)
        conn.rollback()
    store.close()
    assert INDEX in plan, plan
    assert "Sort" not in plan, plan
    assert "TEMP B-TREE" not in plan, plan
