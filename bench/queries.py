"""Operator queries on a large database (built once by ``bench/make_db.py``).

    python bench/queries.py --database-url sqlite:////tmp/perfdb/cw1m.db [--repeat 5]

Each query runs through ``Engine.find`` (what ``casework cases list`` and
``GET /cases`` call), first page and a deep page (a keyset cursor at the
middle of the table by ``opened_at``), ``--limit`` rows a page; the median of
``--repeat`` runs after one warm-up, in milliseconds. One JSON line per query
and a table at the end. The database is only read.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.runtime.cursors import encode_cursor  # noqa: E402
from engine.runtime.engine import Engine  # noqa: E402
from engine.store.database import normalise_url  # noqa: E402

QUERIES: dict[str, dict[str, Any]] = {
    "all": {},
    "overdue": {"overdue": True},
    "not overdue": {"overdue": False},
    "state (no workflow)": {"state": "monitoring"},
    "phase (no workflow)": {"phase": "assessment"},
    "workflow": {"workflow": "hospital"},
    "workflow + state": {"workflow": "brokerage", "state": "monitoring"},
    "open": {"closed": False},
    "closed": {"closed": True},
    "phase + open": {"phase": "monitoring", "closed": False},
}


def _middle_cursor(url: str) -> str:
    db = sa.create_engine(normalise_url(url))
    with db.connect() as conn:
        n = conn.exec_driver_sql("SELECT count(*) FROM cases").scalar_one()
        row = conn.exec_driver_sql(
            f"SELECT opened_at, id FROM cases ORDER BY opened_at, id LIMIT 1 OFFSET {n // 2}"
        ).one()
    db.dispose()
    return encode_cursor([row[0], row[1]])


def _db_ms(url: str, filters: dict[str, Any], cursor: str | None, limit: int, repeat: int) -> float:
    """The database's own time for the listing's SELECT: PostgreSQL's EXPLAIN ANALYZE
    execution time; on SQLite the statement run on a bare connection (no engine, no
    timers query, no views), median of ``repeat``."""
    from datetime import UTC, datetime

    from engine.runtime.cursors import decode_cursor
    from engine.store import case_queries
    from engine.store.records import CaseQuery

    db = sa.create_engine(normalise_url(url))
    query = CaseQuery(**filters)
    after = None
    if cursor is not None:
        values = decode_cursor(cursor)
        after = (datetime.fromisoformat(values[0]), str(values[1]))
    seen: list[tuple[str, Any]] = []

    def capture(_conn: Any, _cur: Any, statement: str, params: Any, *_: Any) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, params))

    runs = []
    with db.connect() as conn:
        sa.event.listen(conn, "before_cursor_execute", capture)
        now = datetime.now(UTC)
        case_queries.find_cases(conn, query, now=now, limit=limit, after=after)
        sa.event.remove(conn, "before_cursor_execute", capture)
        statement, params = seen[-1]
        for _ in range(repeat):
            if db.dialect.name == "postgresql":
                plan = conn.exec_driver_sql("EXPLAIN (ANALYZE) " + statement, params).all()
                line = next(r[0] for r in plan if r[0].startswith("Execution Time"))
                runs.append(float(line.split()[2]))
            else:
                start = time.perf_counter()
                conn.exec_driver_sql(statement, params).all()
                runs.append((time.perf_counter() - start) * 1000)
    db.dispose()
    return statistics.median(runs)


def _time(fn: Any, repeat: int) -> tuple[float, int]:
    rows = len(fn().items)  # warm-up
    runs = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        runs.append((time.perf_counter() - start) * 1000)
    return statistics.median(runs), rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--limit", type=int, default=50)
    ap.add_argument("--only", action="append", help="query names to run (default: all)")
    args = ap.parse_args()
    deep = _middle_cursor(args.database_url)
    eng = Engine.open(args.database_url, upgrade=False)
    table = []
    try:
        for name, filters in QUERIES.items():
            if args.only and name not in args.only:
                continue
            first, n1 = _time(lambda f=filters: eng.find(limit=args.limit, **f), args.repeat)
            deep_ms, n2 = _time(
                lambda f=filters: eng.find(limit=args.limit, cursor=deep, **f), args.repeat
            )
            db_first = _db_ms(args.database_url, filters, None, args.limit, args.repeat)
            db_deep = _db_ms(args.database_url, filters, deep, args.limit, args.repeat)
            line = {
                "query": name,
                "first_ms": round(first, 1),
                "first_rows": n1,
                "deep_ms": round(deep_ms, 1),
                "deep_rows": n2,
                "db_first_ms": round(db_first, 2),
                "db_deep_ms": round(db_deep, 2),
            }
            print(json.dumps(line), flush=True)
            table.append(line)
    finally:
        eng.close()
    backend = sa.engine.make_url(args.database_url).get_backend_name()
    print(
        f"\n| query ({backend}) | first page ms | deep page ms | SQL first ms | SQL deep ms |"
        "\n|---|---:|---:|---:|---:|"
    )
    for line in table:
        print(
            f"| {line['query']} | {line['first_ms']} | {line['deep_ms']} "
            f"| {line['db_first_ms']} | {line['db_deep_ms']} |"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
