"""Console page render times against the JSON API for the same query, same run.

    python bench/console.py [--database-url URL] [--cases N] [--rounds R]

Seeds ``--cases`` brokerage cases through the engine (unless the database
already holds that many: the seeded file is reused), opened over the past
year on a manual clock, so about a third are overdue; one in twenty is put on
hold and one in twenty proposed for closure. Then it starts ``casework serve
--no-worker`` on loopback, logs in to the console and times, interleaved
round by round (so machine noise hits both), the median wall time of:

* search: ``/console/cases`` (overdue brokerage cases, 50 a page, oldest
  opened first, with the total) vs ``GET /v1/cases`` with the same filters
  (no total); and the console's default order, most late first;
* case: ``/console/cases/ID`` (case, explanation, history, allowed events,
  audit verification, an audited read) vs ``GET /v1/cases/ID`` and vs that
  plus ``GET /v1/cases/ID/history``;
* queues: ``/console/queues`` (per workflow: closures, holds, overdue, each
  with a count) vs the API searches that list the same cases (no counts).

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from tests.console.seed import ADMIN_TOKEN, CM, RECORD, WORKFLOWS, write_clients  # noqa: E402


def seed(url: str, n: int) -> None:
    import sqlalchemy as sa

    from engine.clock import ManualClock
    from engine.runtime.engine import Engine

    now = datetime.now(UTC)
    clock = ManualClock(now - timedelta(days=365))
    with Engine.open(url, workflows=WORKFLOWS, clock=clock) as eng:
        db = sa.create_engine(url)
        with db.connect() as conn:
            have = conn.execute(sa.text("select count(*) from cases")).scalar_one()
        db.dispose()
        started = time.perf_counter()
        for i in range(have, n):
            clock.set(now - timedelta(days=365) + timedelta(seconds=i * 365 * 86400 / n))
            case = eng.open_case("brokerage", {**RECORD, "patient_id": f"P-{i:07d}"},
                                 actor="bench", roles=CM)
            if i % 20 == 1:
                eng.send(case.id, "put_on_hold", {"hold_reason": "hospitalised"},
                         actor="bench", roles=CM)
            elif i % 20 == 2:
                eng.send(case.id, "found_ineligible", {}, actor="bench", roles=CM)
            elif i % 3 != 0:  # two in three make first contact in time
                eng.send(case.id, "first_contact_made", {"contact_date": "2026-01-05"},
                         actor="bench", roles=CM)
            if i % 10000 == 9999:
                rate = (i + 1 - have) / (time.perf_counter() - started)
                print(f"seeded {i + 1} ({rate:.0f}/s)", file=sys.stderr, flush=True)


def median_ms(samples: list[float]) -> float:
    return round(statistics.median(samples) * 1000, 1)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--database-url")
    parser.add_argument("--cases", type=int, default=100_000)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--port", type=int, default=8799)
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="console-bench-"))
    url = args.database_url or f"sqlite:///{work / 'bench.db'}"
    seed(url, args.cases)
    clients = write_clients(work / "clients.json")
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--database-url", url, "--clients",
         str(clients), "--port", str(args.port), "--no-worker", "--log-level", "warning"],
        cwd=work, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    base = f"http://127.0.0.1:{args.port}"
    try:
        for _ in range(600):
            try:
                if httpx.get(f"{base}/health", timeout=5).status_code == 200:
                    break
            except httpx.TransportError:
                time.sleep(0.2)
        api = httpx.Client(base_url=base, timeout=120,
                           headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        web = httpx.Client(base_url=base, timeout=120)
        login = web.get("/console/login").text
        csrf = re.search(r'name="login_csrf" value="([^"]+)"', login)
        assert csrf is not None
        web.post("/console/login", data={"login_csrf": csrf.group(1), "token": ADMIN_TOKEN})
        first = api.get("/v1/cases", params={"workflow": "brokerage", "overdue": "true",
                                             "closed": "false", "limit": 1}).json()
        case_id = first["items"][0]["id"]
        workflows = sorted({d["name"] for d in api.get("/v1/definitions").json()["items"]})

        def api_queues() -> None:
            for w in workflows:
                for extra in ({"phase": "closure"}, {"state": "on_hold"}, {"overdue": "true"}):
                    r = api.get("/v1/cases", params={"workflow": w, "closed": "false",
                                                     "limit": 10, **extra})
                    r.raise_for_status()

        search = {"workflow": "brokerage", "overdue": "yes", "closed": "open", "limit": 50}
        jobs = {
            "console_search_opened": lambda: web.get(
                "/console/cases", params={**search, "sort": "opened"}),
            "console_search_late": lambda: web.get(
                "/console/cases", params={**search, "sort": "late"}),
            "api_search": lambda: api.get("/v1/cases", params={
                "workflow": "brokerage", "overdue": "true", "closed": "false", "limit": 50}),
            "console_case": lambda: web.get(f"/console/cases/{case_id}"),
            "api_case": lambda: api.get(f"/v1/cases/{case_id}"),
            "api_case_and_history": lambda: (api.get(f"/v1/cases/{case_id}"),
                                             api.get(f"/v1/cases/{case_id}/history")),
            "console_queues": lambda: web.get("/console/queues"),
            "api_queues": api_queues,
        }
        samples: dict[str, list[float]] = {k: [] for k in jobs}
        for _ in range(args.rounds + 1):  # the first round warms caches and is dropped
            for name, job in jobs.items():
                t0 = time.perf_counter()
                result = job()
                elapsed = time.perf_counter() - t0
                if isinstance(result, httpx.Response):
                    assert result.status_code == 200, (name, result.status_code)
                samples[name].append(elapsed)
        out = {k: median_ms(v[1:]) for k, v in samples.items()}
        out.update(cases=args.cases, database=url.split(":", 1)[0], rounds=args.rounds,
                   date=datetime.now(UTC).date().isoformat())
        print(json.dumps(out))
    finally:
        proc.terminate()
        proc.wait(timeout=30)


if __name__ == "__main__":
    main()
