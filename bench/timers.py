"""Timer firing throughput and lag: the engine's workers against plain SQL transactions.

    python bench/timers.py [--database-url URL] [--timers N] [--workers K[,K...]]
                           [--lag-rate R] [--lag-seconds S] [--clocks-per-case C]

The backlog is a mix: each case has 10 due timer rows, ``10 - C`` timers of
its state and ``C`` case clocks (default 5; ``--clocks-per-case 0`` is the
backlog of state timers only that the figures before case clocks used).

For each worker count K it prints one JSON line:

* ``engine_per_s`` — timers fired per second from a backlog of N due timers
  by K worker processes (each calling ``Engine.fire_due_timers``, what a
  ``TimerWorker`` drain calls:
  claim, check the state entry, apply the timer's event through the normal
  transition path, hash-chained history row, mark fired; one transaction per
  timer);
* ``baseline_per_s`` — the same N due rows worked by K processes with plain
  SQLAlchemy Core transactions doing the rows a firing writes, with the same
  durability settings (one transaction per timer: claim the oldest due timer
  with ``FOR UPDATE SKIP LOCKED`` on PostgreSQL or under ``BEGIN IMMEDIATE``
  on SQLite, reading its case with it (on PostgreSQL ``FOR UPDATE OF``
  timer and case, ``SKIP LOCKED``, as the engine's claim), update the case
  with a version check,
  insert a hash-chained history row, mark the timer fired; no engine);
* ``ratio`` = engine / baseline (target >= 0.7);
* ``claim_only_per_s`` / ``ratio_claim_only`` — a second baseline that only
  claims the timer and marks it fired (no case or history write), for
  transparency: the floor cost of a transaction per timer;
* ``engine_per_s_first_quarter`` / ``engine_per_s_last_quarter`` — the
  engine's rate over the first and the last quarter of its rounds (backlog
  large, backlog nearly drained): a claim whose cost grew with the backlog
  would show a first quarter well below the last;
* ``lag_p50_ms`` / ``lag_p99_ms`` — due → fired lag (the ``lateness`` the
  engine records in the history) while a feeder process arms timers due ten
  seconds later at a steady R per second for S seconds and the K workers run
  with their default settings (5 s sweep, wake-up at the next due instant).
  Ten seconds is more than one sweep: a worker learns of a timer armed by
  another process at its next sweep, so a timer due sooner than that after
  being armed elsewhere can be late by up to the sweep interval (real
  deadlines are hours to months away).

Each run uses a fresh database: a temporary SQLite file (default) or, for a
PostgreSQL URL, a new database created next to the one named and dropped
afterwards. Progress goes to stderr; stdout has only the JSON lines.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import os
import statistics
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))

TIMERS_PER_CASE = 10

_PHASES = """
  assessing:
    phase: assessment
    description: Filler.
    transitions:
      - {event: next, target: planning, roles: [clerk]}
  planning:
    phase: planning
    description: Filler.
    transitions:
      - {event: next, target: delivering, roles: [clerk]}
  delivering:
    phase: service_delivery
    description: Filler.
    transitions:
      - {event: next, target: following_up, roles: [clerk]}
  following_up:
    phase: monitoring
    description: Filler.
    transitions:
      - {event: next, target: done, roles: [clerk]}
  done:
    phase: closure
    description: Finished.
    final: true
"""


def _workflow(
    name: str,
    timers: list[tuple[str, str, str]],
    clocks: list[tuple[str, str, str]] | None = None,
) -> str:
    clocks = clocks or []
    timer_yaml = "".join(
        f"      - {{name: {n}, after: {after}, event: {ev}}}\n" for n, after, ev in timers
    )
    trans_yaml = "".join(
        f"      - {{event: {ev}, internal: true}}\n" for _, _, ev in [*timers, *clocks]
    )
    clock_yaml = "".join(
        f"  - {{name: {n}, start: {{states: [waiting]}}, stop: {{events: [finish]}}, "
        f"after: {after}, event: {ev}}}\n"
        for n, after, ev in clocks
    )
    clock_section = f"clocks:\n{clock_yaml}" if clocks else ""
    return f"""name: {name}
version: 1
title: Benchmark {name}
description: Timers for bench/timers.py.
model: targeted
timezone: UTC
roles:
  clerk:
    description: opens cases
case_schema:
  type: object
  additionalProperties: false
  required: [patient_id]
  properties:
    patient_id: {{type: string}}
initial: waiting
{clock_section}states:
  waiting:
    phase: intake
    description: Timers run.
    timers:
{timer_yaml}    transitions:
{trans_yaml}      - {{event: finish, target: assessing, roles: [clerk]}}
{_PHASES}"""


def write_workflows(folder: Path, clocks_per_case: int = 5) -> Path:
    """The benchmark's workflows; each benchburst case arms TIMERS_PER_CASE timer rows:
    state timers and ``clocks_per_case`` case clocks, interleaved in due order."""
    folder.mkdir(parents=True, exist_ok=True)
    rows = [(f"t{i}", f"PT{i + 1}M", f"tick{i}") for i in range(TIMERS_PER_CASE)]
    step = TIMERS_PER_CASE / clocks_per_case if clocks_per_case else 0
    picked = {int(k * step) for k in range(clocks_per_case)}
    timers = [r for i, r in enumerate(rows) if i not in picked]
    clocks = [r for i, r in enumerate(rows) if i in picked]
    text = _workflow("benchburst", timers, clocks)
    (folder / "benchburst.yaml").write_text(text, encoding="utf-8")
    (folder / "benchlag.yaml").write_text(
        _workflow("benchlag", [("soon", "PT10S", "soon_due")]), encoding="utf-8"
    )
    return folder


def log(message: str) -> None:
    sys.stderr.write(f"[bench] {message}\n")
    sys.stderr.flush()


# -- databases -----------------------------------------------------------------------


@contextmanager
def fresh_database(url: str | None) -> Any:
    """A new empty database for one run (SQLite temp file, or a new PostgreSQL database)."""
    if url is None or sa.engine.make_url(url).get_backend_name() == "sqlite":
        with tempfile.TemporaryDirectory(prefix="casework-bench-") as tmp:
            yield f"sqlite:///{Path(tmp) / 'bench.db'}"
        return
    admin_url = sa.engine.make_url(url)
    if admin_url.drivername in ("postgresql", "postgres"):
        admin_url = admin_url.set(drivername="postgresql+psycopg")
    name = f"casework_bench_{uuid.uuid4().hex[:10]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(sa.text(f'CREATE DATABASE "{name}"'))
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()


# -- engine ----------------------------------------------------------------------------


def seed_engine(url: str, folder: Path, timers: int) -> int:
    from engine.clock import ManualClock
    from engine.runtime.engine import Engine

    cases = (timers + TIMERS_PER_CASE - 1) // TIMERS_PER_CASE
    past = ManualClock(datetime.now(UTC) - timedelta(days=1))
    with Engine.open(url, workflows=folder, clock=past) as engine:
        for i in range(cases):
            engine.open_case("benchburst", {"patient_id": f"P-{i:06d}"}, actor="b", roles=["clerk"])
        return int(engine.stats().pending_timers)


CHUNK = 300  # timers per side per round: the sides alternate so machine noise hits all alike


def engine_worker(url: str, folder: str, cmds: Any, results: Any) -> None:
    """Fire the quota it is given with ``Engine.fire_due_timers`` (what a worker drain calls)."""
    from engine.runtime.engine import Engine

    with Engine.open(url, workflows=Path(folder)) as engine:
        results.put(("ready", os.getpid()))
        while (quota := cmds.get()) is not None:
            results.put(("done", engine.fire_due_timers(limit=int(quota))))


def interleaved(sides: dict[str, tuple[Any, tuple[Any, ...]]], workers: int) -> dict[str, Any]:
    """Work every side's backlog with ``workers`` processes each, in alternating rounds.

    Each round releases one side's processes with a quota of CHUNK timers
    between them and waits for all of them; the sides take turns going first.
    Returns {side: [(seconds, fired) per round]}.
    """
    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    procs: dict[str, list[tuple[Any, Any]]] = {}
    for name, (target, args) in sides.items():
        procs[name] = []
        for _ in range(workers):
            cmds = ctx.Queue()
            proc = ctx.Process(target=target, args=(*args, cmds, results))
            proc.start()
            procs[name].append((proc, cmds))
    for _ in range(workers * len(sides)):
        msg = results.get(timeout=300)
        assert msg[0] == "ready", msg
    rounds: dict[str, list[tuple[float, int]]] = {name: [] for name in sides}
    live = list(sides)
    quota = max(1, CHUNK // workers)
    rnd = 0
    while live:
        order = live[rnd % len(live) :] + live[: rnd % len(live)]
        for name in order:
            start = time.perf_counter()
            for _, cmds in procs[name]:
                cmds.put(quota)
            fired = sum(int(results.get(timeout=3600)[1]) for _ in procs[name])
            rounds[name].append((time.perf_counter() - start, fired))
            if fired == 0:
                live.remove(name)
        rnd += 1
    for name in sides:
        for _proc, cmds in procs[name]:
            cmds.put(None)
        for proc, _ in procs[name]:
            proc.join(timeout=60)
    return rounds


def rounds_rate(rounds: list[tuple[float, int]]) -> float:
    seconds = sum(r[0] for r in rounds)
    return sum(r[1] for r in rounds) / seconds if seconds > 0 else float("nan")


# -- baseline --------------------------------------------------------------------------

_meta = sa.MetaData()


def _timers_table(name: str) -> sa.Table:
    return sa.Table(
        name,
        _meta,
        sa.Column("id", sa.Integer, primary_key=True),
        sa.Column("case_id", sa.String(36), nullable=False),
        sa.Column("name", sa.String(200), nullable=False),
        sa.Column("event", sa.String(200), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("status", sa.String(16), nullable=False),
        sa.Column("fired_at", sa.DateTime(timezone=True)),
        sa.Index(f"{name}_due", "status", "due_at", "id"),  # same claim index as the engine's
    )


bench_timers = _timers_table("bench_timers")  # worked by the primary baseline
claim_timers = _timers_table("bench_claim_timers")  # worked by the claim-only baseline
bench_cases = sa.Table(
    "bench_cases",
    _meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("record", sa.JSON, nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("last_hash", sa.String(64), nullable=False),
    sa.Column("overdue_since", sa.DateTime(timezone=True)),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
bench_history = sa.Table(
    "bench_history",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(36), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("from_state", sa.String(200)),
    sa.Column("to_state", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("roles", sa.JSON, nullable=False),
    sa.Column("payload", sa.JSON, nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.Column("outcome", sa.String(40), nullable=False),
    sa.Column("timer", sa.String(200)),
    sa.Column("lateness_seconds", sa.Float),
    sa.Column("prev_hash", sa.String(64), nullable=False),
    sa.Column("hash", sa.String(64), nullable=False),
    sa.UniqueConstraint("case_id", "seq"),
)


def seed_baseline(url: str, timers: int) -> None:
    from engine.store.database import create_database_engine

    db = create_database_engine(url)
    _meta.drop_all(db)
    _meta.create_all(db)
    due = datetime.now(UTC) - timedelta(days=1)
    cases = (timers + TIMERS_PER_CASE - 1) // TIMERS_PER_CASE
    ids = [str(uuid.uuid4()) for _ in range(cases)]
    with db.begin() as conn:
        conn.execute(
            bench_cases.insert(),
            [
                {
                    "id": cid,
                    "state": "waiting",
                    "record": {"patient_id": f"P-{i:06d}"},
                    "version": 1,
                    "last_hash": "0" * 64,
                    "overdue_since": None,
                    "updated_at": due,
                }
                for i, cid in enumerate(ids)
            ],
        )
        for table in (bench_timers, claim_timers):
            conn.execute(
                table.insert(),
                [
                    {
                        "case_id": ids[i // TIMERS_PER_CASE],
                        "name": f"t{i % TIMERS_PER_CASE}",
                        "event": f"tick{i % TIMERS_PER_CASE}",
                        "due_at": due + timedelta(milliseconds=i),
                        "status": "pending",
                        "fired_at": None,
                    }
                    for i in range(timers)
                ],
            )
    db.dispose()


def baseline_worker(url: str, claim_only: bool, cmds: Any, results: Any) -> None:
    """Plain SQLAlchemy Core transactions, one per timer, same durability as the engine.

    Default (the primary baseline): the rows a firing writes. Claim the oldest
    due timer and read its case in one select (``FOR UPDATE OF`` both ``SKIP
    LOCKED`` on PostgreSQL, as the engine does; ``BEGIN IMMEDIATE`` on
    SQLite), update the case with a version check, insert the history row
    (with a sha256 chain hash), mark the timer fired. ``claim_only``: claim
    the timer and mark it fired, nothing else.
    """
    import hashlib

    from engine.store.database import create_database_engine

    db = create_database_engine(url)
    postgres = db.dialect.name == "postgresql"
    table = claim_timers if claim_only else bench_timers
    tm, cs = table.c, bench_cases.c
    claim = (
        sa.select(tm.id, tm.case_id, tm.name, tm.event, tm.due_at)
        .where(tm.status == "pending", tm.due_at <= sa.bindparam("now"))
        .order_by(tm.due_at, tm.id)
        .limit(1)
    )
    if not claim_only:  # read the case with the claim, as the engine does
        claim = claim.add_columns(cs.state, cs.version, cs.last_hash, cs.overdue_since).join_from(
            table, bench_cases, cs.id == tm.case_id
        )
    if postgres:  # a timer whose case another worker holds is passed over, not waited for
        claim = claim.with_for_update(
            skip_locked=True, of=(table,) if claim_only else (table, bench_cases)
        )
    update_case = (
        sa.update(bench_cases)
        .where(cs.id == sa.bindparam("cid"), cs.version == sa.bindparam("expected"))
        .values(
            version=sa.bindparam("new_version"),
            last_hash=sa.bindparam("new_hash"),
            overdue_since=sa.bindparam("overdue"),
            updated_at=sa.bindparam("now"),
        )
    )
    mark_fired = (
        sa.update(table)
        .where(tm.id == sa.bindparam("tid"))
        .values(status="fired", fired_at=sa.bindparam("now"))
    )
    insert_history = bench_history.insert()

    def fire() -> bool:
        with db.begin() as conn:  # BEGIN IMMEDIATE on SQLite (the engine's write lock)
            now = datetime.now(UTC)
            row = conn.execute(claim, {"now": now}).first()
            if row is None:
                return False
            if not claim_only:
                case = row
                version = int(case.version)
                due = row.due_at if row.due_at.tzinfo else row.due_at.replace(tzinfo=UTC)
                digest = hashlib.sha256(
                    f"{case.last_hash}{row.case_id}{version + 1}{row.event}{now}".encode()
                ).hexdigest()
                done = conn.execute(
                    update_case,
                    {
                        "cid": row.case_id,
                        "expected": version,
                        "new_version": version + 1,
                        "new_hash": digest,
                        "overdue": case.overdue_since or now,
                        "now": now,
                    },
                )
                if done.rowcount != 1:  # the case row is locked: not expected
                    raise RuntimeError("version check failed")
                conn.execute(
                    insert_history,
                    {
                        "case_id": row.case_id,
                        "seq": version + 1,
                        "event": row.event,
                        "from_state": case.state,
                        "to_state": case.state,
                        "actor": "timer",
                        "roles": ["system"],
                        "payload": {},
                        "recorded_at": now,
                        "outcome": "timer",
                        "timer": row.name,
                        "lateness_seconds": (now - due).total_seconds(),
                        "prev_hash": case.last_hash,
                        "hash": digest,
                    },
                )
            conn.execute(mark_fired, {"tid": row.id, "now": now})
        return True

    results.put(("ready", os.getpid()))
    while (quota := cmds.get()) is not None:
        fired = 0
        while fired < int(quota) and fire():
            fired += 1
        results.put(("done", fired))
    db.dispose()


# -- lag -------------------------------------------------------------------------------


def feeder(url: str, folder: str, rate: float, seconds: float, go: Any, results: Any) -> None:
    """Open cases at a steady rate: each arms one timer due ten seconds later."""
    from engine.runtime.engine import Engine

    with Engine.open(url, workflows=Path(folder)) as engine:
        results.put(("ready", os.getpid()))
        go.wait()
        start = time.monotonic()
        n = 0
        ids = []
        while time.monotonic() - start < seconds:
            target = start + n / rate
            delay = target - time.monotonic()
            if delay > 0:
                time.sleep(delay)
            ids.append(
                engine.open_case(
                    "benchlag", {"patient_id": f"L-{n:06d}"}, actor="b", roles=["clerk"]
                ).id
            )
            n += 1
        results.put(("fed", os.getpid(), ids))


def lag_worker(url: str, folder: str, stop: Any, go: Any, results: Any) -> None:
    from engine.runtime.engine import Engine
    from engine.scheduling.worker import TimerWorker

    with Engine.open(url, workflows=Path(folder)) as engine:
        worker = TimerWorker(engine)  # defaults: batch 100, 5 s sweep, wake-ups
        results.put(("ready", os.getpid()))
        go.wait()
        worker.start()
        stop.wait()
        worker.stop(wait=True)
        results.put(("done", os.getpid(), worker.stats.fired, worker.stats.errors, time.time()))


def measure_lag(
    url: str, folder: Path, workers: int, rate: float, seconds: float
) -> tuple[list[float], int]:
    from engine.runtime.engine import Engine

    ctx = mp.get_context("spawn")
    results = ctx.Queue()
    go = ctx.Event()
    stop = ctx.Event()
    procs = [
        ctx.Process(target=lag_worker, args=(url, str(folder), stop, go, results))
        for _ in range(workers)
    ]
    procs.append(ctx.Process(target=feeder, args=(url, str(folder), rate, seconds, go, results)))
    for p in procs:
        p.start()
    for _ in procs:
        msg = results.get(timeout=300)
        assert msg[0] == "ready", msg
    go.set()
    ids: list[str] = []
    msg = results.get(timeout=seconds + 600)
    while msg[0] != "fed":
        msg = results.get(timeout=seconds + 600)
    ids = list(msg[2])
    with Engine.open(url, workflows=folder) as engine:
        deadline = time.monotonic() + 120
        while engine.stats().pending_timers and time.monotonic() < deadline:
            time.sleep(0.2)
        stop.set()
        errors = 0
        for _ in range(workers):
            done = results.get(timeout=120)
            errors += int(done[3])
        for p in procs:
            p.join(timeout=60)
        lags = [
            float(row.lateness_seconds or 0.0) * 1000
            for cid in ids
            for row in engine.history(cid)
            if row.timer is not None
        ]
    return lags, errors


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    if len(values) == 1:
        return values[0]
    return statistics.quantiles(values, n=100, method="inclusive")[int(q) - 1]


# -- one run -----------------------------------------------------------------------------


def run(
    url: str | None,
    timers: int,
    workers: int,
    rate: float,
    seconds: float,
    clocks_per_case: int = 5,
) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="casework-bench-wf-") as tmp:
        folder = write_workflows(Path(tmp), clocks_per_case)
        with fresh_database(url) as db_url:
            backend = sa.engine.make_url(db_url).get_backend_name()
            log(f"{backend}, {workers} worker(s): seeding {timers} due timers through the engine")
            armed = seed_engine(db_url, folder, timers)
            seed_baseline(db_url, armed)
            log(f"firing {armed} timers per side, {workers} process(es) per side, interleaved")
            totals = interleaved(
                {
                    "engine": (engine_worker, (db_url, str(folder))),
                    "baseline": (baseline_worker, (db_url, False)),
                    "claim_only": (baseline_worker, (db_url, True)),
                },
                workers,
            )
            engine_s, engine_fired = (sum(x) for x in zip(*totals["engine"], strict=True))
            base_s, base_fired = (sum(x) for x in zip(*totals["baseline"], strict=True))
            claim_s, claim_fired = (sum(x) for x in zip(*totals["claim_only"], strict=True))
            quarter = max(1, len(totals["engine"]) // 4)
            busy = [r for r in totals["engine"] if r[1]]
            first_q = rounds_rate(busy[:quarter])  # backlog still large
            last_q = rounds_rate(busy[-quarter:])  # nearly drained
            log(f"engine {engine_fired} in {engine_s:.2f}s, baseline {base_fired} in {base_s:.2f}s")
            log(f"claim-only {claim_fired} in {claim_s:.2f}s; lag: {rate}/s, {seconds}s")
            lags, lag_errors = measure_lag(db_url, folder, workers, rate, seconds)
    engine_per_s = engine_fired / engine_s if engine_s > 0 else float("nan")
    base_per_s = base_fired / base_s if base_s > 0 else float("nan")
    claim_per_s = claim_fired / claim_s if claim_s > 0 else float("nan")
    return {
        "database": backend,
        "clocks_per_case": clocks_per_case,
        "timers": armed,
        "workers": workers,
        "engine_per_s": round(engine_per_s, 1),
        "baseline_per_s": round(base_per_s, 1),
        "ratio": round(engine_per_s / base_per_s, 3) if base_per_s else None,
        "claim_only_per_s": round(claim_per_s, 1),
        "ratio_claim_only": round(engine_per_s / claim_per_s, 3) if claim_per_s else None,
        "engine_per_s_first_quarter": round(first_q, 1),
        "engine_per_s_last_quarter": round(last_q, 1),
        "lag_p50_ms": round(percentile(lags, 50), 1),
        "lag_p99_ms": round(percentile(lags, 99), 1),
        "engine_fired": engine_fired,
        "baseline_fired": base_fired,
        "errors": lag_errors,
        "lag_samples": len(lags),
        "lag_rate_per_s": rate,
        "cpu_count": os.cpu_count(),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--database-url", default=None, help="default: a temporary SQLite file")
    parser.add_argument("--timers", type=int, default=10_000)
    parser.add_argument("--workers", default="1", help="worker processes, e.g. 1 or 1,3")
    parser.add_argument("--lag-rate", type=float, default=20.0, help="timers armed per second")
    parser.add_argument("--lag-seconds", type=float, default=15.0)
    parser.add_argument(
        "--clocks-per-case",
        type=int,
        default=5,
        choices=range(TIMERS_PER_CASE + 1),
        metavar=f"0..{TIMERS_PER_CASE}",
        help="of the 10 timer rows per case, how many are case clocks (default 5)",
    )
    args = parser.parse_args(argv)
    for k in (int(x) for x in str(args.workers).split(",")):
        result = run(
            args.database_url,
            args.timers,
            k,
            args.lag_rate,
            args.lag_seconds,
            args.clocks_per_case,
        )
        sys.stdout.write(json.dumps(result) + "\n")
        sys.stdout.flush()
    return 0


if __name__ == "__main__":
    sys.exit(main())
