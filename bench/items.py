"""Work items: item events/s through the engine against plain SQLAlchemy Core, memory, reads.

    python bench/items.py [--database-url URL ...] [--items 50] [--cases 4] [--grow 500]

Without ``--database-url`` it runs on a temporary SQLite file and, when the
server answers, on a fresh PostgreSQL database (as bench/events.py). One JSON
line per database (workflow bench/workflows/tasks.yaml):

* ``engine_per_s``: item events/s through ``Engine.send_item`` on cases holding
  ``--items`` work items each: every item gets ``start`` (a state change that
  arms a timer), ``touch`` (an internal transition whose ``set`` changes the
  item's data) and ``finish`` (a final state: its timer cancelled), one
  transaction each;
* ``baseline_per_s``: the same rows written by plain Core on the same database
  in the same run: lock the case, bump its version and hash, read and update
  the item (version-checked), insert the history row naming the item, cancel
  the item's timer rows and insert the new one; ``ratio`` = engine / baseline;
* ``rss_mb_at_items`` / ``rss_mb_at_grow``: resident memory after events on a
  case with ``--items`` items and after it grew to ``--grow`` items (flat: close);
* ``get_ms_no_items`` / ``get_ms_200_items``: median ``Engine.get`` of a case
  without items and of one with 200 (the case view carries every item).
"""

from __future__ import annotations

import argparse
import gc
import hashlib
import json
import statistics
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
sys.path.insert(0, str(ROOT / "bench"))

from events import _pg_fresh, rss_mb  # noqa: E402

from engine.runtime.engine import Engine  # noqa: E402
from engine.store import tables as t  # noqa: E402
from engine.store.database import create_database_engine  # noqa: E402

WORKFLOW = ROOT / "bench" / "workflows" / "tasks.yaml"
W = {"actor": "w-1", "roles": ["worker"]}
RECORD = {"patient_id": "P-0001"}
# event, item state before -> after, does the item arm its 30-day timer, data change
STEPS = [("start", "open", "doing", True), ("touch", "doing", "doing", False)]
STEPS += [("finish", "doing", "done", False)]
CHUNK = 10  # engine and baseline alternate by item so machine noise hits both alike


class Baseline:
    """The same rows of an item event through plain Core."""

    def __init__(self, url: str) -> None:
        self.db = create_database_engine(url)
        self.postgres = self.db.dialect.name == "postgresql"
        c, i = t.cases.c, t.case_items.c
        select = sa.select(t.cases).where(c.id == sa.bindparam("_id"))
        self.lock = select.with_for_update() if self.postgres else select
        self.update_case = sa.update(t.cases).where(
            c.id == sa.bindparam("_id"), c.version == sa.bindparam("_v")
        )
        self.get_item = sa.select(t.case_items).where(
            i.case_id == sa.bindparam("_id"), i.item_id == sa.bindparam("_item")
        )
        self.update_item = sa.update(t.case_items).where(
            i.case_id == sa.bindparam("_id"),
            i.item_id == sa.bindparam("_item"),
            i.version == sa.bindparam("_iv"),
        )
        self.cancel = (
            sa.update(t.timers)
            .where(
                t.timers.c.case_id == sa.bindparam("_id"),
                t.timers.c.item_id == sa.bindparam("_item"),
                t.timers.c.status == "pending",
            )
            .values(status="cancelled")
        )

    def open_case(self, items: int) -> str:
        now = datetime.now(UTC)
        cid = str(uuid.uuid4())
        with self.db.begin() as conn:
            conn.execute(
                sa.insert(t.cases),
                {
                    "id": cid,
                    "workflow_name": "baseline",
                    "workflow_version": 1,
                    "state": "working",
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
                },
            )
            conn.execute(
                sa.insert(t.case_items),
                [
                    {
                        "case_id": cid,
                        "item_id": f"task-{n}",
                        "workflow_name": "baseline",
                        "type": "task",
                        "state": "open",
                        "data": {"title": f"t{n}", "touches": 0},
                        "version": 1,
                        "opened_at": now,
                        "updated_at": now,
                        "closed_at": None,
                        "opened_seq": 1,
                        "state_entry_seq": 1,
                    }
                    for n in range(1, items + 1)
                ],
            )
        return cid

    def send(self, cid: str, item_id: str, step: tuple[str, str, str, bool]) -> None:
        event, before, after, arms = step
        with self.db.begin() as conn:
            case = conn.execute(self.lock, {"_id": cid}).mappings().one()
            item = conn.execute(self.get_item, {"_id": cid, "_item": item_id}).mappings().one()
            assert item["state"] == before
            seq = case["version"] + 1
            stamp = datetime.now(UTC)
            row_hash = hashlib.sha256(f"{cid}{seq}{event}{item_id}".encode()).hexdigest()
            res = conn.execute(
                self.update_case,
                {
                    "_id": cid,
                    "_v": case["version"],
                    "version": seq,
                    "last_hash": row_hash,
                    "updated_at": stamp,
                },
            )
            assert res.rowcount == 1
            data = dict(item["data"])
            if event == "touch":
                data["touches"] = data.get("touches", 0) + 1
            res = conn.execute(
                self.update_item,
                {
                    "_id": cid,
                    "_item": item_id,
                    "_iv": item["version"],
                    "state": after,
                    "data": data,
                    "version": item["version"] + 1,
                    "updated_at": stamp,
                    "closed_at": stamp if after == "done" else None,
                    "state_entry_seq": seq if after != before else item["state_entry_seq"],
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
                    "to_state": case["state"],
                    "actor": W["actor"],
                    "roles": W["roles"],
                    "payload": {},
                    "idempotency_key": None,
                    "workflow_version": 1,
                    "recorded_at": stamp,
                    "outcome": "transitioned",
                    "timer": None,
                    "lateness_seconds": None,
                    "prev_hash": case["last_hash"],
                    "hash": row_hash,
                    "item_id": item_id,
                    "item_from": before,
                    "item_to": after,
                },
            )
            if after != before:
                conn.execute(self.cancel, {"_id": cid, "_item": item_id})
            if arms:
                conn.execute(
                    sa.insert(t.timers),
                    {
                        "case_id": cid,
                        "name": "due",
                        "event": "due",
                        "state": after,
                        "state_entry_seq": seq,
                        "due_at": stamp + timedelta(days=30),
                        "status": "pending",
                        "recurring": False,
                        "pausable": False,
                        "remaining_seconds": None,
                        "created_at": stamp,
                        "fired_at": None,
                        "scope": "item",
                        "item_id": item_id,
                    },
                )

    def close(self) -> None:
        self.db.dispose()


def _case_with_items(eng: Engine, items: int) -> str:
    cid = eng.open_case("tasks", RECORD, **W).id
    for n in range(items):
        eng.add_item(cid, "task", {"title": f"t{n}"}, **W)
    return cid


def _median_ms(fn: Any, repeat: int = 60) -> float:
    fn()  # warm the statement cache
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return round(statistics.median(times), 2)


def bench(url: str, label: str, items: int, cases: int, grow: int) -> dict[str, Any]:
    with Engine.open(url, workflows=[WORKFLOW]) as eng:
        base = Baseline(url)
        try:
            engine_s = baseline_s = 0.0
            n = 0
            for _ in range(cases):
                cid = _case_with_items(eng, items)
                bid = base.open_case(items)
                for k in range(1, items + 1, CHUNK):
                    ids = [f"task-{j}" for j in range(k, min(k + CHUNK, items + 1))]
                    start = time.perf_counter()
                    for item_id in ids:
                        for step in STEPS:
                            eng.send_item(cid, item_id, step[0], **W)
                    engine_s += time.perf_counter() - start
                    start = time.perf_counter()
                    for item_id in ids:
                        for step in STEPS:
                            base.send(bid, item_id, step)
                    baseline_s += time.perf_counter() - start
                    n += len(ids) * len(STEPS)
            gc.collect()
            rss_items = rss_mb()
            # the same case grows to --grow items, each receiving its events
            for m in range(items, grow):
                eng.add_item(cid, "task", {"title": f"g{m}"}, **W)
                item_id = f"task-{m + 1}"
                for step in STEPS:
                    eng.send_item(cid, item_id, step[0], **W)
            gc.collect()
            rss_grow = rss_mb()
            empty = eng.open_case("tasks", RECORD, **W).id
            full = _case_with_items(eng, 200)
            get_none = _median_ms(lambda: eng.get(empty))
            get_200 = _median_ms(lambda: eng.get(full))
        finally:
            base.close()
    engine_per_s = n / engine_s
    baseline_per_s = n / baseline_s
    return {
        "database": label,
        "items_per_case": items,
        "item_events": n,
        "engine_per_s": round(engine_per_s, 1),
        "baseline_per_s": round(baseline_per_s, 1),
        "ratio": round(engine_per_s / baseline_per_s, 3),
        f"rss_mb_at_{items}_items": round(rss_items, 1),
        f"rss_mb_at_{grow}_items": round(rss_grow, 1),
        "get_ms_no_items": get_none,
        "get_ms_200_items": get_200,
    }


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--database-url", action="append", default=None)
    ap.add_argument("--items", type=int, default=50, help="work items per case")
    ap.add_argument("--cases", type=int, default=4, help="cases whose items receive events")
    ap.add_argument("--grow", type=int, default=500, help="items the last case grows to")
    args = ap.parse_args(argv)
    grow = max(args.grow, args.items)
    if args.database_url:
        for url in args.database_url:
            label = sa.engine.make_url(url).get_backend_name()
            print(json.dumps(bench(url, label, args.items, args.cases, grow)), flush=True)
        return 0
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite:///{Path(tmp) / 'bench.db'}"
        print(json.dumps(bench(url, "sqlite", args.items, args.cases, grow)), flush=True)
    pg = _pg_fresh()
    if pg is not None:
        url, admin, name = pg
        try:
            print(json.dumps(bench(url, "postgresql", args.items, args.cases, grow)), flush=True)
        finally:
            with admin.connect() as conn:
                conn.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
