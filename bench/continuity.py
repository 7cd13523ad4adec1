"""Import and migration rates (cases/s) against plain batched inserts/updates of the same rows.

    python bench/continuity.py [--cases N] [--database-url URL ...] [--no-memory]

Without ``--database-url`` it runs on a temporary SQLite file and, when the server
answers, on a fresh PostgreSQL database (``CASEWORK_BENCH_PG_URL``'s server) that it
drops afterwards. Per database, one JSON line:

* ``import_per_s``: ``casework import`` (``Engine.import_caseload``, batches of 1,000) of
  a CSV of ``--cases`` running outreach v1 cases (tests/fixtures/migration), every row
  checked first, then written: case, ``@import`` history row, key, timers and clocks;
* ``import_baseline_per_s``: the same rows (read back from the engine's tables) inserted
  into a fresh database by plain Core ``executemany``, 1,000 cases a transaction;
* ``migrate_per_s``: ``casework migrate run`` (``Engine.migrate``, batches of 1,000) of
  every case to v2 with tests/fixtures/migration/plans/rename.yaml;
* ``migrate_baseline_per_s``: the same case updates and ``@migrate`` history rows written
  into the baseline database by plain Core, 1,000 cases a transaction;
* ``rss_mb``: peak resident memory of a child process that imports and migrates
  ``--cases`` / 10 and ``--cases`` cases (flat memory: the two should be close).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import resource
import subprocess
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

from engine.clock import ManualClock  # noqa: E402
from engine.runtime.engine import Engine  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import create_database_engine  # noqa: E402

FIX = ROOT / "tests" / "fixtures" / "migration"
PG_URL = os.environ.get(
    "CASEWORK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
NOW = datetime(2026, 3, 2, 15, 0, tzinfo=UTC)
BATCH = 1000


def write_csv(path: Path, n: int) -> None:
    """``n`` rows: two thirds assessing (entered 10 days ago), one third monitoring with
    the reassessment clock from the record's date."""
    cols = [
        "workflow",
        "state",
        "entered_at",
        "record.patient_id",
        "record.risk_level",
        "record.last_assessment_date",
        "clock.annual_reassessment",
    ]
    entered = (NOW - timedelta(days=10)).isoformat()
    with path.open("w", newline="") as fh:
        w = csv.writer(fh)
        w.writerow(cols)
        for i in range(n):
            if i % 3 == 2:
                w.writerow(
                    ["outreach", "monitoring", entered, f"P-{i:07d}", "low", "2025-11-20", "anchor"]
                )
            else:
                w.writerow(["outreach", "assessing", entered, f"P-{i:07d}", "low", "", ""])


def _fresh_pg(name: str) -> str:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return sa.engine.make_url(PG_URL).set(database=name).render_as_string(hide_password=False)


def _drop_pg(name: str) -> None:
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    admin.dispose()


def engine_run(url: str, csv_path: Path) -> dict[str, float]:
    clock = ManualClock(NOW)
    out: dict[str, float] = {}
    with Engine.open(url, workflows=FIX / "v1", clock=clock) as eng:
        t0 = time.perf_counter()
        rep = eng.import_caseload(csv_path, actor="bench", batch=BATCH)
        out["import_s"] = time.perf_counter() - t0
        assert rep.ok, rep.to_dict()
        assert rep.written == rep.rows, rep.to_dict()
    clock.advance(timedelta(hours=1))
    with Engine.open(url, workflows=[FIX / "v1", FIX / "v2"], clock=clock) as eng:
        plan = eng.migration_plan(FIX / "plans" / "rename.yaml")
        t0 = time.perf_counter()
        mig = eng.migrate(plan, actor="bench", batch=BATCH)
        out["migrate_s"] = time.perf_counter() - t0
        assert mig.moved == rep.rows
        assert not mig.refused
    return out


def _rows(db: sa.Engine, table: sa.Table, where: Any = None) -> list[dict[str, Any]]:
    q = sa.select(table)
    if where is not None:
        q = q.where(where)
    with db.connect() as c:
        return [dict(r._mapping) for r in c.execute(q)]


def baseline(url: str, source_url: str, n: int) -> dict[str, float]:
    """Plain Core: the engine's own rows, inserted then updated, BATCH cases a transaction."""
    Engine.open(url, workflows=FIX / "v1").close()  # the schema (and the definitions)
    src = create_database_engine(source_url)
    h = t.history.c
    cases = _rows(src, t.cases)
    hist = {r["case_id"]: r for r in _rows(src, t.history, h.seq == 1)}
    mig = {r["case_id"]: r for r in _rows(src, t.history, h.seq == 2)}
    keys = {r["case_id"]: r for r in _rows(src, t.case_keys)}
    timers: dict[str, list[dict[str, Any]]] = {}
    for r in _rows(src, t.timers):
        r.pop("id")
        timers.setdefault(r["case_id"], []).append(r)
    src.dispose()
    db = create_database_engine(url)
    before = [
        {
            **c,
            "workflow_version": 1,
            "state": "assessing" if c["state"] == "evaluating" else c["state"],
            "version": 1,
        }
        for c in cases
    ]
    out: dict[str, float] = {}
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        chunk = before[i : i + BATCH]
        with db.begin() as c:
            c.execute(sa.insert(t.cases), chunk)
            c.execute(sa.insert(t.history), [hist[x["id"]] for x in chunk])
            c.execute(sa.insert(t.case_keys), [keys[x["id"]] for x in chunk])
            c.execute(sa.insert(t.timers), [r for x in chunk for r in timers.get(x["id"], [])])
    out["import_baseline_s"] = time.perf_counter() - t0
    upd = (
        sa.update(t.cases)
        .where(t.cases.c.id == sa.bindparam("_id"), t.cases.c.version == sa.bindparam("_v"))
        .values(
            workflow_version=sa.bindparam("_wv"),
            state=sa.bindparam("_state"),
            record=sa.bindparam("_record"),
            version=sa.bindparam("_nv"),
            last_hash=sa.bindparam("_hash"),
            updated_at=sa.bindparam("_at"),
        )
        .execution_options(preserve_rowcount=True)
    )
    t0 = time.perf_counter()
    for i in range(0, n, BATCH):
        chunk = cases[i : i + BATCH]
        with db.begin() as c:
            c.execute(
                upd,
                [
                    {
                        "_id": x["id"],
                        "_v": 1,
                        "_wv": 2,
                        "_state": x["state"],
                        "_record": x["record"],
                        "_nv": 2,
                        "_hash": x["last_hash"],
                        "_at": x["updated_at"],
                    }
                    for x in chunk
                ],
            )
            c.execute(sa.insert(t.history), [mig[x["id"]] for x in chunk])
    out["migrate_baseline_s"] = time.perf_counter() - t0
    db.dispose()
    return out


def child(url: str, n: int) -> None:
    """Import and migrate ``n`` cases; print the peak RSS (MB)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "caseload.csv"
        write_csv(p, n)
        engine_run(url, p)
    print(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def _targets(args: argparse.Namespace, tmp: Path) -> list[tuple[str, str, Any]]:
    """(label, make url(tag), cleanup(tag))."""
    out: list[tuple[str, Any, Any]] = [
        ("sqlite", lambda tag: f"sqlite:///{tmp / (tag + '.db')}", lambda tag: None)
    ]
    try:
        eng = sa.create_engine(PG_URL)
        with eng.connect():
            pass
        eng.dispose()
        run = uuid.uuid4().hex[:8]
        out.append(
            (
                "postgresql",
                lambda tag: _fresh_pg(f"cw_cont_{run}_{tag}"),
                lambda tag: _drop_pg(f"cw_cont_{run}_{tag}"),
            )
        )
    except Exception as exc:
        print(json.dumps({"postgresql": f"skipped: {type(exc).__name__}"}))
    return out  # type: ignore[return-value]


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--cases", type=int, default=100_000)
    ap.add_argument("--no-memory", action="store_true")
    ap.add_argument("--child", nargs=2, metavar=("URL", "N"), help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child[0], int(args.child[1]))
        return
    n = args.cases
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        csv_path = tmp / "caseload.csv"
        write_csv(csv_path, n)
        for label, make, drop in _targets(args, tmp):
            try:
                url, base = make("engine"), make("base")
                e = engine_run(url, csv_path)
                b = baseline(base, url, n)
                line: dict[str, Any] = {
                    "database": label,
                    "cases": n,
                    "import_per_s": round(n / e["import_s"]),
                    "import_baseline_per_s": round(n / b["import_baseline_s"]),
                    "import_ratio": round(b["import_baseline_s"] / e["import_s"], 2),
                    "migrate_per_s": round(n / e["migrate_s"]),
                    "migrate_baseline_per_s": round(n / b["migrate_baseline_s"]),
                    "migrate_ratio": round(b["migrate_baseline_s"] / e["migrate_s"], 2),
                }
                drop("engine")
                drop("base")
                if not args.no_memory:
                    rss = {}
                    for size in (n // 10, n):
                        u = make(f"m{size}")
                        res = subprocess.run(
                            [sys.executable, __file__, "--child", u, str(size)],
                            capture_output=True,
                            text=True,
                            check=True,
                        )
                        rss[str(size)] = round(float(res.stdout.strip().splitlines()[-1]))
                        drop(f"m{size}")
                    line["rss_mb"] = rss
                print(json.dumps(line), flush=True)
            finally:
                for tag in ("engine", "base", f"m{n // 10}", f"m{n}"):
                    drop(tag)


if __name__ == "__main__":
    main()
