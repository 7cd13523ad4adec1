"""Ownership at scale: one assignee's worklist and the caseload counts among N cases.

    python bench/ownership.py --database-url sqlite:////tmp/own_bench/own1m.db [--cases 1000000]
    python bench/ownership.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/own1m

Builds the database unless it already holds cases (``--build-only`` stops there): the
schema and the shipped workflows from ``Engine.open``, then bulk Core inserts of cases
(spread over the shipped workflows, ~60 % closed), one ``case_owners`` row per case
(open cases 50 to an assignee over N * 0.4 / 50 people in 40 teams, closed cases kept
with their closing instant), one pending timer per open case (~4 % past due) and one
fired timer for ~10 % of the cases. No history rows: the queries measured never read
them. ``ANALYZE`` (``VACUUM ANALYZE`` on PostgreSQL) at the end.

Then times (median of ``--repeat`` runs, after one warm-up) ``Engine.worklist`` for one
assignee (first page of 50, the overdue filter, due within 7 days) and
``Engine.caseloads`` by assignee and by team, and prints each statement's plan.
JSON lines, then a Markdown table.
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.runtime.engine import Engine  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import normalise_url  # noqa: E402
from engine.store.owner_queries import caseload_query  # noqa: E402
from engine.store.records import WorklistQuery  # noqa: E402
from engine.store.worklist_queries import worklist_query  # noqa: E402

CHUNK = 5_000
PER_PERSON = 50


def build(url: str, n: int, seed: int) -> dict[str, int]:
    now = datetime.now(UTC).replace(microsecond=0)
    engine = Engine.open(url, workflows=ROOT / "workflows")
    latest = {d.name: d for d in sorted(engine.definitions(), key=lambda d: d.version)}
    definitions = [latest[name] for name in sorted(latest)]
    engine.close()
    db = sa.create_engine(normalise_url(url))
    if db.dialect.name == "sqlite":

        @sa.event.listens_for(db, "connect")
        def _fast(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=OFF")

    rng = random.Random(seed)
    people = max(1, int(n * 0.4) // PER_PERSON)
    start = now - timedelta(seconds=90 * n)
    cases: list[dict[str, Any]] = []
    owners: list[dict[str, Any]] = []
    timers: list[dict[str, Any]] = []
    counts = {"cases": 0, "open": 0, "timers": 0, "people": people}
    slot = 0

    def flush() -> None:
        with db.begin() as conn:
            conn.execute(sa.insert(t.cases), cases)
            conn.execute(sa.insert(t.case_owners), owners)
            if timers:
                conn.execute(sa.insert(t.timers), timers)
        counts["cases"] += len(cases)
        counts["timers"] += len(timers)
        cases.clear()
        owners.clear()
        timers.clear()

    for i in range(n):
        d = definitions[i % len(definitions)]
        closed = rng.random() < min(0.97, 1.3 * (1 - i / n))
        names = [s for s in d.states if d.states[s].final == closed] or list(d.states)
        state = d.states[rng.choice(names)]
        opened = start + timedelta(seconds=90 * i)
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        closed_at = opened + timedelta(days=30) if closed else None
        cases.append(
            {
                "id": case_id,
                "workflow_name": d.name,
                "workflow_version": d.version,
                "state": state.name,
                "phase": state.phase.value,
                "record": {"patient_id": f"P-{i:07d}", "risk_level": "low"},
                "version": 2,
                "previous_state": None,
                "state_entry_seq": 2,
                "last_hash": "0" * 64,
                "overdue_since": None,
                "opened_at": opened,
                "updated_at": opened,
                "closed_at": closed_at,
            }
        )
        if closed:
            person = rng.randrange(people)
        else:
            person = slot % people  # open cases: PER_PERSON to each (the last ones fewer)
            slot += 1
            counts["open"] += 1
        owners.append(
            {
                "case_id": case_id,
                "workflow_name": d.name,
                "assignee": f"cm-{person:05d}",
                "team": f"team-{person % 40:02d}",
                "weight": 1.0,
                "opened_at": opened,
                "assigned_at": opened + timedelta(hours=6),
                "first_assigned_at": opened + timedelta(hours=6),
                "closed_at": closed_at,
            }
        )
        if not closed:
            late = rng.random() < 0.04
            due = now - timedelta(days=2) if late else now + timedelta(days=rng.randrange(1, 60))
            timers.append(_timer(case_id, state.name, due, "pending", opened))
        if rng.random() < 0.1:
            timers.append(_timer(case_id, state.name, opened + timedelta(days=3), "fired", opened))
        if len(cases) >= CHUNK:
            flush()
    if cases:
        flush()
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            conn.execution_options(isolation_level="AUTOCOMMIT").exec_driver_sql("VACUUM ANALYZE")
        else:
            conn.exec_driver_sql("ANALYZE")
            conn.commit()
    db.dispose()
    return counts


def _timer(case_id: str, state: str, due: datetime, status: str, at: datetime) -> dict[str, Any]:
    return {
        "case_id": case_id,
        "name": "deadline",
        "event": "deadline_passed",
        "state": state,
        "state_entry_seq": 2,
        "due_at": due,
        "status": status,
        "recurring": False,
        "pausable": False,
        "remaining_seconds": None,
        "created_at": at,
        "fired_at": None if status == "pending" else due,
    }


def _plan(url: str, stmt: Any) -> list[str]:
    db = sa.create_engine(normalise_url(url))
    sql = str(stmt.compile(dialect=db.dialect, compile_kwargs={"literal_binds": True}))
    with db.connect() as conn:
        if db.dialect.name == "postgresql":
            rows = [r[0] for r in conn.exec_driver_sql("EXPLAIN ANALYZE " + sql)]
        else:
            rows = [r[-1] for r in conn.exec_driver_sql("EXPLAIN QUERY PLAN " + sql)]
    db.dispose()
    return rows


def _time(fn: Callable[[], Any], repeat: int) -> tuple[float, Any]:
    result = fn()  # warm-up
    runs = []
    for _ in range(repeat):
        began = time.perf_counter()
        result = fn()
        runs.append((time.perf_counter() - began) * 1000)
    return statistics.median(runs), result


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--database-url", required=True)
    ap.add_argument("--cases", type=int, default=1_000_000)
    ap.add_argument("--seed", type=int, default=13)
    ap.add_argument("--repeat", type=int, default=5)
    ap.add_argument("--build-only", action="store_true")
    args = ap.parse_args()
    db = sa.create_engine(normalise_url(args.database_url))
    try:
        with db.connect() as conn:
            have = conn.execute(sa.select(sa.func.count()).select_from(t.cases)).scalar_one()
    except sa.exc.DatabaseError:
        have = 0
    db.dispose()
    if not have:
        began = time.perf_counter()
        counts = build(args.database_url, args.cases, args.seed)
        built = {"built": counts, "seconds": round(time.perf_counter() - began, 1)}
        print(json.dumps(built), flush=True)
    if args.build_only:
        return
    eng = Engine.open(args.database_url, workflows=())
    person = "cm-00042"
    now = eng.clock.now()
    cases = [
        ("worklist: first page of 50", lambda: eng.worklist(assignee=person, limit=50)),
        ("worklist: overdue", lambda: eng.worklist(assignee=person, overdue=True)),
        (
            "worklist: due within 7d",
            lambda: eng.worklist(assignee=person, due_within=timedelta(days=7)),
        ),
        ("caseloads by assignee", lambda: eng.caseloads(by="assignee")),
        ("caseloads by team", lambda: eng.caseloads(by="team")),
        ("caseloads of 3 people", lambda: eng.caseloads(holders=[person, "cm-00001", "cm-00002"])),
    ]
    table = []
    for name, fn in cases:
        ms, result = _time(fn, args.repeat)
        size = len(result.items) if hasattr(result, "items") else len(result)
        line = {"query": name, "ms": round(ms, 2), "rows": size}
        print(json.dumps(line), flush=True)
        table.append(line)
    eng.close()
    plans = {
        "worklist (one assignee, first page)": worklist_query(
            WorklistQuery(assignee=person), now=now, limit=50, after=None
        ),
        "caseloads by assignee": caseload_query("assignee"),
        "caseloads of 3 people": caseload_query("assignee", [person, "cm-00001", "cm-00002"]),
    }
    for name, stmt in plans.items():
        print(f"\n-- plan: {name}")
        print("\n".join(_plan(args.database_url, stmt)))
    print("\n| query | ms (median) | rows |\n|---|---:|---:|")
    for line in table:
        print(f"| {line['query']} | {line['ms']} | {line['rows']} |")


if __name__ == "__main__":
    main()
