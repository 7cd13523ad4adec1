"""Events per second through the engine against plain SQLAlchemy Core on the same database.

    python bench/events.py [--database-url URL ...] [--cases N] [--event-cases M]

Without ``--database-url`` it runs on a temporary SQLite file and, when the
server answers, on a fresh PostgreSQL database (``CASEWORK_BENCH_PG_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) that it drops
afterwards. One JSON line per database:

* ``engine_per_s``: events/s through ``Engine.send`` (brokerage workflow:
  five events per case: four state changes that cancel and arm timers, one
  internal transition), one transaction each;
* ``baseline_per_s``: the same events written by plain Core on the same
  database with the same durability (WAL + synchronous=FULL + BEGIN IMMEDIATE
  on SQLite): read the case (FOR UPDATE on PostgreSQL), update it with a
  version check, insert the history row, cancel the old timer rows and insert
  the new ones;
* ``ratio`` = engine / baseline (target >= 0.7);
* ``open_per_s``: cases opened per second; ``rss_mb_at_10pct`` and
  ``rss_mb_at_100pct``: resident memory after opening 10% and 100% of
  ``--cases`` cases (flat memory: the two should be close).

Then, on the same database, one line of bench/items.py (a case with 50 work
items receiving item events against its own same-run baseline; memory as the
case grows; reading a case with 200 items vs none); ``--no-items`` skips it.
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import os
import sys
import tempfile
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.runtime.engine import Engine  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import create_database_engine  # noqa: E402

PG_URL = os.environ.get(
    "CASEWORK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)

RECORD = {
    "patient_id": "P-0001",
    "program": "community-brokerage",
    "priority": "routine",
    "risk_level": "moderate",
}
CM = {"actor": "cm-17", "roles": ["case_manager"]}
EVENTS: list[tuple[str, dict[str, Any], dict[str, Any], str, list[str]]] = [
    # event, payload, who, target state, timers armed on entry
    (
        "first_contact_made",
        {"contact_date": "2026-01-06"},
        {"actor": "ic-03", "roles": ["intake_coordinator"]},
        "assessing",
        ["assessment_deadline"],
    ),
    (
        "assessment_completed",
        {"assessed_needs": ["housing"], "risk_level": "moderate"},
        CM,
        "linking_services",
        ["plan_deadline"],
    ),
    (
        "plan_completed",
        {"plan_services": ["transport"], "plan_start_date": "2026-02-02"},
        CM,
        "referrals_pending",
        [],
    ),
    # referrals are work items since brokerage v3 (an item event links the
    # client); the case events here are a hold and its resume
    ("put_on_hold", {"hold_reason": "other"}, CM, "on_hold", ["hold_review", "unreachable_limit"]),
    ("resume", {}, CM, "referrals_pending", []),
]


def rss_mb() -> float:
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return float("nan")


CHUNK = 20  # engine and baseline alternate in chunks so machine noise hits both alike


def open_cases(eng: Engine, cases: int, keep: int) -> tuple[list[str], dict[str, Any]]:
    ids: list[str] = []
    rss_10 = 0.0
    mark = max(1, cases // 10)
    start = time.perf_counter()
    for i in range(cases):
        case = eng.open_case("brokerage", RECORD, actor="ic-03", roles=["intake_coordinator"])
        if i < keep:
            ids.append(case.id)
        if i + 1 == mark:
            gc.collect()
            rss_10 = rss_mb()
    elapsed = time.perf_counter() - start
    gc.collect()
    return ids, {
        "open_per_s": round(cases / elapsed, 1),
        "rss_mb_at_10pct": round(rss_10, 1),
        "rss_mb_at_100pct": round(rss_mb(), 1),
    }


class Baseline:
    """The same rows through plain Core: the floor the engine is measured against."""

    def __init__(self, url: str, count: int) -> None:
        self.db = create_database_engine(url)
        self.postgres = self.db.dialect.name == "postgresql"
        select = sa.select(t.cases).where(t.cases.c.id == sa.bindparam("_id"))
        self.select = select.with_for_update() if self.postgres else select
        self.update = sa.update(t.cases).where(
            t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_v")
        )
        self.cancel = (
            sa.update(t.timers)
            .where(t.timers.c.case_id == sa.bindparam("_id"), t.timers.c.status == "pending")
            .values(status="cancelled")
        )
        now = datetime.now(UTC)
        self.ids = [str(uuid.uuid4()) for _ in range(count)]
        with self.db.begin() as conn:
            conn.execute(
                sa.insert(t.cases),
                [
                    {
                        "id": cid,
                        "workflow_name": "baseline",
                        "workflow_version": 1,
                        "state": "referral_received",
                        "phase": "intake",
                        "record": RECORD,
                        "version": 1,
                        "previous_state": None,
                        "state_entry_seq": 1,
                        "last_hash": "0" * 64,
                        "overdue_since": None,
                        "opened_at": now,
                        "updated_at": now,
                        "closed_at": None,
                    }
                    for cid in self.ids
                ],
            )

    def send(
        self, cid: str, step: tuple[str, dict[str, Any], dict[str, Any], str, list[str]]
    ) -> None:
        event, payload, who, target, armed = step
        with self.db.begin() as conn:
            case = conn.execute(self.select, {"_id": cid}).mappings().one()
            seq = case["version"] + 1
            stamp = datetime.now(UTC)
            row_hash = hashlib.sha256(f"{cid}{seq}{event}".encode()).hexdigest()
            res = conn.execute(
                self.update,
                {
                    "_id": cid,
                    "_v": case["version"],
                    "state": target,
                    "record": {**case["record"], **payload},
                    "version": seq,
                    "state_entry_seq": seq,
                    "last_hash": row_hash,
                    "updated_at": stamp,
                },
            )
            assert res.rowcount == 1
            conn.execute(
                sa.insert(t.history),
                {
                    "case_id": cid,
                    "seq": seq,
                    "event": event,
                    "from_state": case["state"],
                    "to_state": target,
                    "actor": who["actor"],
                    "roles": who["roles"],
                    "payload": payload,
                    "idempotency_key": None,
                    "workflow_version": 1,
                    "recorded_at": stamp,
                    "outcome": "transitioned",
                    "timer": None,
                    "lateness_seconds": None,
                    "prev_hash": case["last_hash"],
                    "hash": row_hash,
                },
            )
            if target != case["state"]:
                conn.execute(self.cancel, {"_id": cid})
                if armed:
                    conn.execute(
                        sa.insert(t.timers),
                        [
                            {
                                "case_id": cid,
                                "name": name,
                                "event": name,
                                "state": target,
                                "state_entry_seq": seq,
                                "due_at": stamp + timedelta(days=30),
                                "status": "pending",
                                "recurring": False,
                                "pausable": False,
                                "remaining_seconds": None,
                                "created_at": stamp,
                                "fired_at": None,
                            }
                            for name in armed
                        ],
                    )

    def close(self) -> None:
        self.db.dispose()


def bench(url: str, label: str, cases: int, event_cases: int) -> dict[str, Any]:
    with Engine.open(url) as eng:
        ids, result = open_cases(eng, cases, event_cases)
        base = Baseline(url, len(ids))
        engine_s = baseline_s = 0.0
        cpu = [0.0, 0.0]  # process CPU seconds: engine, baseline
        n = 0
        try:
            for step in EVENTS:
                event, payload, who, _target, _armed = step
                for lo in range(0, len(ids), CHUNK):
                    engine_first = (lo // CHUNK) % 2 == 0  # alternate who goes first
                    for side in (0, 1) if engine_first else (1, 0):
                        start = time.perf_counter()
                        cpu_start = time.process_time()
                        if side == 0:
                            for cid in ids[lo : lo + CHUNK]:
                                eng.send(cid, event, payload, **who)
                            engine_s += time.perf_counter() - start
                        else:
                            for cid in base.ids[lo : lo + CHUNK]:
                                base.send(cid, step)
                            baseline_s += time.perf_counter() - start
                        cpu[side] += time.process_time() - cpu_start
                    n += len(ids[lo : lo + CHUNK])
        finally:
            base.close()
    engine_per_s = n / engine_s
    baseline_per_s = n / baseline_s
    result.update(
        database=label,
        cases=cases,
        events=n,
        engine_per_s=round(engine_per_s, 1),
        baseline_per_s=round(baseline_per_s, 1),
        ratio=round(engine_per_s / baseline_per_s, 3),
        engine_cpu_us_per_event=round(cpu[0] / n * 1e6),
        baseline_cpu_us_per_event=round(cpu[1] / n * 1e6),
    )
    return result


def _pg_fresh() -> tuple[str, sa.Engine, str] | None:
    try:
        admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
        name = f"casework_bench_{uuid.uuid4().hex[:8]}"
        with admin.connect() as conn:
            conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    except Exception as exc:  # the server is not there: skip PostgreSQL
        print(f"PostgreSQL skipped: {type(exc).__name__}", file=sys.stderr)
        return None
    url = sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)
    return url, admin, name


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", action="append", default=None)
    ap.add_argument("--cases", type=int, default=2000, help="cases to open (memory, open rate)")
    ap.add_argument(
        "--event-cases", type=int, default=400, help="cases that receive the 5 events each"
    )
    ap.add_argument("--no-items", action="store_true", help="skip bench/items.py's line")
    args = ap.parse_args(argv)
    event_cases = min(args.event_cases, args.cases)

    def items_line(url: str, label: str) -> None:
        if not args.no_items:
            from items import bench as items_bench

            print(json.dumps({"bench": "items", **items_bench(url, label, 50, 4, 500)}), flush=True)

    if args.database_url:
        for url in args.database_url:
            label = sa.engine.make_url(url).get_backend_name()
            print(json.dumps(bench(url, label, args.cases, event_cases)), flush=True)
            items_line(url, label)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(json.dumps(bench(url, "sqlite", args.cases, event_cases)), flush=True)
        items_line(url, "sqlite")
    pg = _pg_fresh()
    if pg is not None:
        url, admin, name = pg
        try:
            print(json.dumps(bench(url, "postgresql", args.cases, event_cases)), flush=True)
            items_line(url, "postgresql")
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
