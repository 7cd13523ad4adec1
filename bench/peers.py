"""Casework against its peers, same durability, one process, interleaved.

    pip install -e '.[bench]'
    python bench/peers.py [--cases 1000] [--runs 3] [--database sqlite|postgresql ...]

Every system gets its own database (a temporary SQLite file, or a fresh
PostgreSQL database dropped afterwards: ``CASEWORK_BENCH_PG_URL``, default
``postgresql+psycopg://postgres@127.0.0.1:5432/test``) and opens ``--cases``
cases (not timed); then each case receives the seven events of
``bench/workflows/chain.yaml`` (eight states in a line), one durable
transaction per event. The systems take turns in chunks of 25 cases, the
order rotating each chunk, so machine noise hits all of them alike.

* ``raw``: plain SQLAlchemy Core writing the minimal rows: read the case (FOR
  UPDATE on PostgreSQL), version-checked update, history insert;
* ``transitions``: the same persistence, the next state decided by a
  ``transitions`` machine rebuilt per event (as a stateless server would);
* ``python-statemachine``: the same persistence, a ``StateMachine`` started
  at the stored state per event;
* ``spiffworkflow``: the workflow serialised as JSON in the case row, loaded,
  the ready task run and saved again per event;
* ``casework``: ``Engine.send`` (validation, roles, the hash-chained history,
  timers and outbox rows of its own transaction).

SQLite runs in WAL mode with ``synchronous=FULL`` and ``BEGIN IMMEDIATE`` for
every system (``engine/store/database.py``). Prints one JSON line per run and
database, then the median events/s of the runs and the ratio to ``raw``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.runtime.engine import Engine  # noqa: E402
from engine.store.database import create_database_engine  # noqa: E402

PG_URL = os.environ.get(
    "CASEWORK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
CHAIN = ROOT / "bench" / "workflows" / "chain.yaml"
STATES = [f"s{i}" for i in range(8)]
EVENTS = [f"e{i}" for i in range(1, 8)]
NEXT = {f"s{i}": f"s{i + 1}" for i in range(7)}
CHUNK = 25
RECORD = {"patient_id": "P-0001"}
WHO = {"actor": "worker-1", "roles": ["worker"]}

# -- the minimal persistence every library peer shares ------------------------------

_meta = sa.MetaData()
peer_cases = sa.Table(
    "peer_cases",
    _meta,
    sa.Column("id", sa.String(36), primary_key=True),
    sa.Column("state", sa.String(200), nullable=False),
    sa.Column("version", sa.Integer, nullable=False),
    sa.Column("record", sa.Text, nullable=False),
    sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False),
)
peer_history = sa.Table(
    "peer_history",
    _meta,
    sa.Column("id", sa.Integer, primary_key=True, autoincrement=True),
    sa.Column("case_id", sa.String(36), nullable=False),
    sa.Column("seq", sa.Integer, nullable=False),
    sa.Column("event", sa.String(200), nullable=False),
    sa.Column("from_state", sa.String(200), nullable=False),
    sa.Column("to_state", sa.String(200), nullable=False),
    sa.Column("actor", sa.String(200), nullable=False),
    sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
    sa.UniqueConstraint("case_id", "seq"),
)

# decide(state, record_text, event) -> (new state, new record text)
Decide = Callable[[str, str, str], tuple[str, str]]


class Persisted:
    """A peer: its own database, the minimal rows, and a rule that picks the next state."""

    def __init__(self, url: str, decide: Decide, initial: Callable[[], str]) -> None:
        self.db = create_database_engine(url)
        _meta.create_all(self.db)
        self.decide = decide
        select = sa.select(peer_cases.c.state, peer_cases.c.version, peer_cases.c.record)
        select = select.where(peer_cases.c.id == sa.bindparam("_id"))
        postgres = self.db.dialect.name == "postgresql"
        self.select = select.with_for_update() if postgres else select
        self.update = (
            sa.update(peer_cases)
            .where(peer_cases.c.id == sa.bindparam("_id"))
            .where(peer_cases.c.version == sa.bindparam("_v"))
        )
        self.insert = sa.insert(peer_history)
        self.initial = initial

    def open(self, n: int) -> list[str]:
        ids = [str(uuid.uuid4()) for _ in range(n)]
        now = datetime.now(UTC)
        rows = [
            {"id": i, "state": "s0", "version": 1, "record": self.initial(), "updated_at": now}
            for i in ids
        ]
        with self.db.begin() as conn:
            conn.execute(sa.insert(peer_cases), rows)
        return ids

    def send(self, case_id: str, event: str) -> None:
        with self.db.begin() as conn:
            state, version, record = conn.execute(self.select, {"_id": case_id}).one()
            target, record = self.decide(state, record, event)
            now = datetime.now(UTC)
            values = {"_id": case_id, "_v": version, "state": target, "version": version + 1}
            done = conn.execute(self.update, {**values, "record": record, "updated_at": now})
            if done.rowcount != 1:
                raise RuntimeError("version conflict")
            conn.execute(
                self.insert,
                {
                    "case_id": case_id,
                    "seq": version + 1,
                    "event": event,
                    "from_state": state,
                    "to_state": target,
                    "actor": WHO["actor"],
                    "recorded_at": now,
                },
            )

    def close(self) -> None:
        self.db.dispose()


def _record() -> str:
    return json.dumps(RECORD)


def raw(url: str) -> Persisted:
    def decide(state: str, record: str, _event: str) -> tuple[str, str]:
        return NEXT[state], record

    return Persisted(url, decide, _record)


def with_transitions(url: str) -> Persisted:
    from transitions import Machine

    rules = [
        {"trigger": e, "source": s, "dest": NEXT[s]} for e, s in zip(EVENTS, STATES, strict=False)
    ]

    def decide(state: str, record: str, event: str) -> tuple[str, str]:
        model = type("Case", (), {})()
        Machine(
            model=model, states=STATES, transitions=rules, initial=state, auto_transitions=False
        )
        model.trigger(event)
        return str(model.state), record

    return Persisted(url, decide, _record)


def with_statemachine(url: str) -> Persisted:
    from statemachine import State, StateMachine

    attrs: dict[str, Any] = {
        s: State(s, value=s, initial=(s == "s0"), final=(s == "s7")) for s in STATES
    }
    for e, s in zip(EVENTS, STATES, strict=False):
        attrs[e] = attrs[s].to(attrs[NEXT[s]])
    chain = type("Chain", (StateMachine,), attrs)

    def decide(state: str, record: str, event: str) -> tuple[str, str]:
        sm = chain(start_value=state)
        sm.send(event)
        return str(sm.current_state_value), record

    return Persisted(url, decide, _record)


def with_spiff(url: str) -> Persisted:
    from SpiffWorkflow.serializer.json import JSONSerializer
    from SpiffWorkflow.specs.Simple import Simple
    from SpiffWorkflow.specs.WorkflowSpec import WorkflowSpec
    from SpiffWorkflow.util.task import TaskState
    from SpiffWorkflow.workflow import Workflow

    spec = WorkflowSpec("chain", addstart=True)
    previous = spec.start
    for s in STATES[1:]:
        task = Simple(spec, s)
        previous.connect(task)
        previous = task
    serializer = JSONSerializer()

    def initial() -> str:
        return str(serializer.serialize_workflow(Workflow(spec)))

    def decide(_state: str, record: str, _event: str) -> tuple[str, str]:
        wf = serializer.deserialize_workflow(record)
        task = wf.get_tasks(state=TaskState.READY)[0]
        task.run()
        done = wf.get_tasks(state=TaskState.READY)[0].task_spec.name
        return STATES[STATES.index(done) - 1], str(serializer.serialize_workflow(wf))

    return Persisted(url, decide, initial)


class CaseworkPeer:
    def __init__(self, url: str) -> None:
        self.engine = Engine.open(url, workflows=CHAIN)

    def open(self, n: int) -> list[str]:
        return [self.engine.open_case("chain", RECORD, **WHO).id for _ in range(n)]

    def send(self, case_id: str, event: str) -> None:
        self.engine.send(case_id, event, {}, **WHO)

    def close(self) -> None:
        self.engine.close()


SYSTEMS: dict[str, Callable[[str], Any]] = {
    "raw": raw,
    "transitions": with_transitions,
    "python-statemachine": with_statemachine,
    "spiffworkflow": with_spiff,
    "casework": CaseworkPeer,
}


@contextmanager
def databases(backend: str, names: list[str]) -> Iterator[dict[str, str]]:
    if backend == "sqlite":
        with tempfile.TemporaryDirectory() as tmp:
            yield {n: f"sqlite:///{Path(tmp) / (n + '.db')}" for n in names}
        return
    admin = sa.create_engine(PG_URL, isolation_level="AUTOCOMMIT")
    made = {n: f"casework_peer_{n.replace('-', '_')}_{uuid.uuid4().hex[:6]}" for n in names}
    with admin.connect() as conn:
        for db in made.values():
            conn.execute(sa.text(f'CREATE DATABASE "{db}"'))
    try:
        base = sa.engine.make_url(PG_URL)
        yield {
            n: base.set(database=db).render_as_string(hide_password=False) for n, db in made.items()
        }
    finally:
        with admin.connect() as conn:
            for db in made.values():
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{db}" WITH (FORCE)'))
        admin.dispose()


def run_once(
    backend: str, names: list[str], cases: int
) -> tuple[dict[str, float], dict[str, float]]:
    """Events per second and process CPU µs per event of each system, one run on fresh
    databases (the CPU figure leaves out the fsync wait and the database server)."""
    with databases(backend, names) as urls:
        systems = {n: SYSTEMS[n](urls[n]) for n in names}
        try:
            ids = {n: s.open(cases) for n, s in systems.items()}
            spent = dict.fromkeys(names, 0.0)
            cpu = dict.fromkeys(names, 0.0)
            turn = 0
            for event in EVENTS:
                for lo in range(0, cases, CHUNK):
                    order = names[turn % len(names) :] + names[: turn % len(names)]
                    turn += 1
                    for n in order:
                        send = systems[n].send
                        chunk = ids[n][lo : lo + CHUNK]
                        start, cpu_start = time.perf_counter(), time.process_time()
                        for case_id in chunk:
                            send(case_id, event)
                        spent[n] += time.perf_counter() - start
                        cpu[n] += time.process_time() - cpu_start
        finally:
            for s in systems.values():
                s.close()
    events = cases * len(EVENTS)
    return {n: events / spent[n] for n in names}, {n: cpu[n] / events * 1e6 for n in names}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--cases", type=int, default=1000)
    ap.add_argument("--runs", type=int, default=3)
    ap.add_argument("--database", action="append", choices=["sqlite", "postgresql"])
    ap.add_argument("--system", action="append", choices=list(SYSTEMS), help="default: all")
    args = ap.parse_args(argv)
    names = args.system or list(SYSTEMS)
    if "raw" not in names:
        names.insert(0, "raw")
    table: dict[str, dict[str, float]] = {}
    cpu_table: dict[str, dict[str, float]] = {}
    for backend in args.database or ["sqlite", "postgresql"]:
        runs, cpus = [], []
        for i in range(args.runs):
            per_s, cpu = run_once(backend, names, args.cases)
            runs.append(per_s)
            cpus.append(cpu)
            line = {"database": backend, "run": i + 1}
            line.update({n: round(v, 1) for n, v in per_s.items()})
            line.update({f"{n}_cpu_us": round(v) for n, v in cpu.items()})
            print(json.dumps(line), flush=True)
        table[backend] = {n: statistics.median(r[n] for r in runs) for n in names}
        cpu_table[backend] = {n: statistics.median(r[n] for r in cpus) for n in names}
    backends = list(table)
    head = " | ".join(f"{b} events/s | ratio to raw | CPU µs/event" for b in backends)
    print(f"\n| system | {head} |\n|---|" + "---:|" * (3 * len(backends)))
    for n in names:
        cells = " | ".join(
            f"{table[b][n]:.0f} | {table[b][n] / table[b]['raw']:.2f} | {cpu_table[b][n]:.0f}"
            for b in backends
        )
        print(f"| {n} | {cells} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
