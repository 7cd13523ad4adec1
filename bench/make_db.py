"""Build a large Casework database once, for the operator-query and CLI benchmarks.

    python bench/make_db.py --database-url sqlite:////tmp/cw1m.db [--cases 1000000]
    python bench/make_db.py --database-url postgresql+psycopg://postgres@127.0.0.1:5432/cw1m

The schema is created (and the shipped workflows registered) by
``Engine.open``, exactly as a real deployment; the rows are then written with
bulk SQLAlchemy Core inserts (executemany, 5,000 rows a statement) in
transactions of one chunk each. The shape, deterministic for a given
``--seed``:

* cases spread over the shipped workflows, opened one every ~90 s up to the
  build's start, each in a random state of its workflow: a final state (closed)
  for 97 % of the oldest cases, falling linearly to none for the newest (about
  60 % closed in all);
* a valid hash chain per case: the ``@open`` history row, and one transition
  row when the case is not in its initial state;
* one pending timer for ~25 % of the open cases, ~4 % of those already past
  due (the overdue set), plus ``overdue_since`` on ~0.1 % of the cases;
* a fired timer row for ~10 % of the cases (history of the timers table).

SQLite is written with ``synchronous=OFF`` during the build (the file is then
an ordinary WAL database); PostgreSQL in the ordinary mode. ``ANALYZE`` runs
at the end on both. The database must be new (or empty).
"""

from __future__ import annotations

import argparse
import random
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.runtime.audit import GENESIS  # noqa: E402
from engine.runtime.engine import Engine  # noqa: E402
from engine.runtime.transact import HistoryFacts, history_record  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import normalise_url  # noqa: E402
from engine.store.mapping import history_values  # noqa: E402
from engine.store.records import HistoryOutcome, TimerStatus  # noqa: E402

CHUNK = 5_000
OPEN = HistoryFacts(
    actor="intake-01", roles=("intake_coordinator",), payload={}, idempotency_key=None
)
MOVE = HistoryFacts(actor="cm-17", roles=("case_manager",), payload={}, idempotency_key=None)


def _cases(definitions: list[Any], n: int, seed: int, now: datetime) -> Any:
    rng = random.Random(seed)
    start = now - timedelta(seconds=90 * n)
    for i in range(n):
        d = definitions[i % len(definitions)]
        # old cases are mostly closed, recent ones mostly open (as in a live deployment)
        closed = rng.random() < min(0.97, 1.3 * (1 - i / n))
        names = [s for s in d.states if d.states[s].final == closed] or list(d.states)
        state = d.states[rng.choice(names)]
        opened = start + timedelta(seconds=90 * i, microseconds=rng.randrange(1_000_000))
        case_id = str(uuid.UUID(int=rng.getrandbits(128), version=4))
        record = {"patient_id": f"P-{i:07d}", "priority": rng.choice(["routine", "urgent"])}
        yield d, state, opened, case_id, record


def build(url: str, n: int, seed: int) -> None:
    now = datetime.now(UTC).replace(microsecond=0)
    engine = Engine.open(url, workflows=ROOT / "workflows")
    latest = {d.name: d for d in sorted(engine.definitions(), key=lambda d: d.version)}
    definitions = [latest[name] for name in sorted(latest)]
    engine.close()
    db = sa.create_engine(normalise_url(url))
    sqlite = db.dialect.name == "sqlite"
    if sqlite:

        @sa.event.listens_for(db, "connect")
        def _fast(dbapi_conn: Any, _record: Any) -> None:
            dbapi_conn.execute("PRAGMA journal_mode=WAL")
            dbapi_conn.execute("PRAGMA synchronous=OFF")

    rng = random.Random(seed + 1)
    cases: list[dict[str, Any]] = []
    history: list[dict[str, Any]] = []
    timers: list[dict[str, Any]] = []
    counts = {"cases": 0, "history": 0, "timers": 0, "overdue": 0}
    began = time.perf_counter()

    def flush() -> None:
        with db.begin() as conn:
            conn.execute(sa.insert(t.cases), cases)
            conn.execute(sa.insert(t.history), history)
            if timers:
                conn.execute(sa.insert(t.timers), timers)
        counts["cases"] += len(cases)
        counts["history"] += len(history)
        counts["timers"] += len(timers)
        cases.clear()
        history.clear()
        timers.clear()

    for d, state, opened, case_id, record in _cases(definitions, n, seed, now):
        initial = d.states[d.initial]
        h1 = history_record(
            case_id=case_id,
            seq=1,
            event="@open",
            from_state=None,
            to_state=initial.name,
            outcome=HistoryOutcome.OPENED,
            workflow_version=d.version,
            facts=OPEN,
            now=opened,
            prev_hash=GENESIS,
            record=record,
        )
        history.append(history_values(h1))
        last, version, updated = h1, 1, opened
        if state.name != initial.name:
            updated = opened + timedelta(days=rng.randrange(1, 30))
            h2 = history_record(
                case_id=case_id,
                seq=2,
                event="moved",
                from_state=initial.name,
                to_state=state.name,
                outcome=HistoryOutcome.TRANSITIONED,
                workflow_version=d.version,
                facts=MOVE,
                now=updated,
                prev_hash=h1.hash,
                record=record,
            )
            history.append(history_values(h2))
            last, version = h2, 2
        closed = updated if state.final else None
        overdue_since = None
        if closed is None and rng.random() < 0.001:
            overdue_since = updated
            counts["overdue"] += 1
        cases.append(
            {
                "id": case_id,
                "workflow_name": d.name,
                "workflow_version": d.version,
                "state": state.name,
                "phase": state.phase.value,
                "record": record,
                "version": version,
                "previous_state": None,
                "state_entry_seq": version,
                "last_hash": last.hash,
                "overdue_since": overdue_since,
                "opened_at": opened,
                "updated_at": updated,
                "closed_at": closed,
            }
        )
        timer: dict[str, Any] = {
            "case_id": case_id,
            "name": "deadline",
            "event": "deadline_passed",
            "state": state.name,
            "state_entry_seq": version,
            "recurring": False,
            "pausable": False,
            "remaining_seconds": None,
            "created_at": updated,
            "paused_at": None,
            "paused_due_at": None,
            "attempts": 0,
            "last_error": None,
        }
        if closed is None and rng.random() < 0.25:
            late = rng.random() < 0.04
            due = (
                now - timedelta(hours=rng.randrange(1, 500))
                if late
                else (now + timedelta(hours=rng.randrange(1, 2000)))
            )
            counts["overdue"] += late
            timers.append(
                {**timer, "due_at": due, "status": TimerStatus.PENDING.value, "fired_at": None}
            )
        if rng.random() < 0.1:
            timers.append(
                {
                    **timer,
                    "name": "earlier",
                    "due_at": updated,
                    "status": TimerStatus.FIRED.value,
                    "fired_at": updated,
                }
            )
        if len(cases) >= CHUNK:
            flush()
            if counts["cases"] % 100_000 == 0:
                print(
                    f"{counts['cases']:>9,} cases  {time.perf_counter() - began:6.0f} s", flush=True
                )
    if cases:
        flush()
    with db.begin() as conn:
        conn.exec_driver_sql("ANALYZE")
    db.dispose()
    print({**counts, "seconds": round(time.perf_counter() - began)}, flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--database-url", required=True)
    p.add_argument("--cases", type=int, default=1_000_000)
    p.add_argument("--seed", type=int, default=16)
    a = p.parse_args()
    build(a.database_url, a.cases, a.seed)


if __name__ == "__main__":
    main()
