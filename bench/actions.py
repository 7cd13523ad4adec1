"""Action delivery per second against same-run baselines, on SQLite and PostgreSQL.

    python bench/actions.py [--database-url URL ...] [--cases N]

Without ``--database-url`` it runs on a temporary SQLite file and, when the
server answers, on a fresh PostgreSQL database (``CASEWORK_BENCH_PG_URL``,
default ``postgresql+psycopg://postgres@127.0.0.1:5432/test``) that it drops
afterwards. Each case queues three actions (tests/delivery/fixtures/dispatch.yaml).
One JSON line per database:

* ``webhook_per_s``: actions delivered per second by ``Engine.deliver_outbox``
  as signed webhooks to a loopback receiver (tests/delivery/receiver.py, its
  own process, verifying each signature with the ``standardwebhooks``
  library and recording each effect once); ``post_baseline_per_s``: the same
  number of signed POSTs of the same size to the same receiver in a bare
  httpx loop (no database); ``webhook_ratio`` = webhook / baseline;
* ``pull_per_s``: actions completed per second by a pull worker through
  ``Engine.actions`` (fetch-and-lock 10, complete each: one transaction per
  fetch and per completion); ``claim_baseline_per_s``: the same work in bare
  SQLAlchemy Core (SELECT ... FOR UPDATE SKIP LOCKED LIMIT 10 on PostgreSQL +
  UPDATE of the lease, then an UPDATE per completion fenced by the token);
  ``pull_ratio`` = pull / baseline.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from datetime import timedelta
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from engine.clock import SystemClock  # noqa: E402
from engine.runtime.delivery_config import DeliveryConfig, decode_secret  # noqa: E402
from engine.runtime.engine import Engine  # noqa: E402
from engine.runtime.webhooks import sign  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import create_database_engine  # noqa: E402

PG_URL = os.environ.get(
    "CASEWORK_BENCH_PG_URL", "postgresql+psycopg://postgres@127.0.0.1:5432/test"
)
WORKFLOW = ROOT / "tests" / "delivery" / "fixtures" / "dispatch.yaml"
RECEIVER = ROOT / "tests" / "delivery" / "receiver.py"
CLERK = {"actor": "bench", "roles": ["clerk"]}
ACTIONS = ["send_welcome", "create_call_task", "notify_team"]


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def queue(engine: Engine, cases: int, start: int) -> int:
    for i in range(cases):
        case = engine.open_case("dispatch", {"patient_id": f"P-{start + i:06d}"}, **CLERK)
        engine.send(case.id, "referred", {"reason": "bench"}, **CLERK)
        engine.send(case.id, "assessed", **CLERK)
        engine.send(case.id, "planned", **CLERK)
    return 3 * cases


def pending(url: str) -> int:
    db = create_database_engine(url)
    try:
        with db.connect() as conn:
            q = sa.select(sa.func.count()).where(t.outbox.c.status == "pending")
            return int(conn.execute(q).scalar_one())
    finally:
        db.dispose()


def webhook_bench(engine: Engine, url: str, cases: int, state: Path) -> dict[str, Any]:
    secret = "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()
    port = free_port()
    rx = subprocess.Popen(
        [sys.executable, str(RECEIVER), str(port), str(state), "--secret", secret]
    )
    try:
        while not (state / "ready").exists():
            time.sleep(0.01)
        hook = f"http://127.0.0.1:{port}/hooks"
        engine.actions.configure(
            DeliveryConfig.from_mapping(
                {
                    "default_mode": "webhook",
                    "default_webhook": "h",
                    "webhooks": {"h": {"url": hook, "secrets": [secret]}},
                }
            )
        )
        n = queue(engine, cases, 0)
        t0 = time.perf_counter()
        delivered = 0
        while batch := engine.deliver_outbox(limit=100):
            delivered += batch
        engine_s = time.perf_counter() - t0
        assert delivered == n, (delivered, n)
        assert pending(url) == 0
        key = (decode_secret(secret),)
        sample = engine.outbox(limit=1).items[0]
        body = json.dumps(
            {
                "type": "action.send_welcome",
                "timestamp": "2026-12-02T00:00:00Z",
                "data": {
                    "outbox_id": sample.id,
                    "idempotency_key": "x",
                    "action": "send_welcome",
                    "case_id": sample.case_id,
                    "event": "referred",
                    "history_seq": 2,
                    "workflow": "dispatch",
                    "workflow_version": 1,
                    "attempt": 1,
                    "arguments": {"template": "welcome_letter", "priority": "routine"},
                },
            },
            separators=(",", ":"),
        ).encode()
        with httpx.Client() as http:
            t0 = time.perf_counter()
            for i in range(n):
                msg_id, stamp = f"baseline-{i}", int(time.time())
                r = http.post(
                    hook,
                    content=body,
                    headers={
                        "content-type": "application/json",
                        "webhook-id": msg_id,
                        "webhook-timestamp": str(stamp),
                        "webhook-signature": sign(msg_id, stamp, body, key),
                    },
                )
                assert r.status_code == 204, r.status_code
            base_s = time.perf_counter() - t0
        return {
            "webhooks": n,
            "webhook_per_s": round(n / engine_s, 1),
            "post_baseline_per_s": round(n / base_s, 1),
            "webhook_ratio": round(base_s / engine_s, 3),
        }
    finally:
        rx.terminate()
        rx.wait(timeout=30)
        engine.actions.close()


def pull_bench(engine: Engine, url: str, cases: int) -> dict[str, Any]:
    engine.actions.configure(DeliveryConfig.from_mapping({"default_mode": "pull"}))
    db = create_database_engine(url)
    postgres = db.dialect.name == "postgresql"
    ob = t.outbox.c
    with db.connect() as conn:
        first_id = int(conn.execute(sa.select(sa.func.max(ob.id))).scalar_one() or 0)
    n = queue(engine, cases, 100000)
    t0 = time.perf_counter()
    done = 0
    lease = timedelta(seconds=60)
    while items := engine.actions.fetch_and_lock(
        ACTIONS, worker="bench", lease=lease, limit=10, actor="bench"
    ):
        for item in items:
            engine.actions.complete(item.action.outbox_id, item.lease_token)
            done += 1
    engine_s = time.perf_counter() - t0
    assert done == n, (done, n)
    # the baseline: the same rows made pending again, claimed and completed in bare Core
    with db.begin() as conn:
        conn.execute(
            sa.update(t.outbox)
            .where(ob.id > first_id)
            .values(status="pending", next_attempt_at=SystemClock().now())
        )
    t0 = time.perf_counter()
    base_done = 0
    while True:
        with db.begin() as conn:
            now = SystemClock().now()
            q = (
                sa.select(ob.id, ob.lease_token)
                .where(ob.status == "pending", ob.next_attempt_at <= now, ob.action.in_(ACTIONS))
                .order_by(ob.next_attempt_at, ob.id)
                .limit(10)
            )
            if postgres:
                q = q.with_for_update(skip_locked=True)
            rows = conn.execute(q).all()
            for row in rows:
                conn.execute(
                    sa.update(t.outbox)
                    .where(ob.id == row.id)
                    .values(
                        attempts=ob.attempts + 1,
                        lease_token=row.lease_token + 1,
                        locked_by="bench",
                        next_attempt_at=now + lease,
                    )
                )
        if not rows:
            break
        for row in rows:
            with db.begin() as conn:
                conn.execute(
                    sa.update(t.outbox)
                    .where(
                        ob.id == row.id,
                        ob.lease_token == row.lease_token + 1,
                        ob.status == "pending",
                    )
                    .values(status="done", locked_by=None, next_attempt_at=None)
                )
                base_done += 1
    base_s = time.perf_counter() - t0
    db.dispose()
    assert base_done == n, (base_done, n)
    return {
        "pulled": n,
        "pull_per_s": round(n / engine_s, 1),
        "claim_baseline_per_s": round(n / base_s, 1),
        "pull_ratio": round(base_s / engine_s, 3),
    }


def bench(url: str, label: str, cases: int) -> dict[str, Any]:
    with tempfile.TemporaryDirectory() as tmp, Engine.open(url, workflows=WORKFLOW) as engine:
        result: dict[str, Any] = {"database": label, "cases": cases}
        result.update(webhook_bench(engine, url, cases, Path(tmp) / "rx"))
        result.update(pull_bench(engine, url, cases))
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
    ap.add_argument("--cases", type=int, default=200, help="cases (three actions each)")
    args = ap.parse_args(argv)
    if args.database_url:
        for url in args.database_url:
            label = sa.engine.make_url(url).get_backend_name()
            print(json.dumps(bench(url, label, args.cases)), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(json.dumps(bench(url, "sqlite", args.cases)), flush=True)
    pg = _pg_fresh()
    if pg is not None:
        url, admin, name = pg
        try:
            print(json.dumps(bench(url, "postgresql", args.cases)), flush=True)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
