"""Pull delivery over HTTP: fetch-and-lock with a lease, extend, complete, fail, fencing.

Workers are real processes (tests/delivery/pull_worker.py, written against
the OpenAPI document only) talking to a real server on loopback: two race
for the same actions, one is SIGKILLed holding leases. Every action is
counted at the end: completed once, by exactly one worker.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta

import httpx
import pytest
from api.conftest import LiveServer

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.clock import ManualClock
from engine.runtime.delivery_config import DeliveryConfig
from engine.runtime.engine import Engine

from .support import CLERK, HERE, WORKFLOW

TOKENS = {"worker": "pull-worker-token-0123456789", "reader": "reader-token-0123456789"}
ACTIONS = ["send_welcome", "create_call_task", "notify_team"]


@dataclass
class PullApi:
    engine: Engine
    clock: ManualClock
    server: LiveServer
    http: httpx.Client

    def post(self, path: str, body: dict, who: str = "worker") -> httpx.Response:
        return self.http.post(path, json=body, headers={"Authorization": f"Bearer {TOKENS[who]}"})

    def fetch(self, worker: str = "w1", **body: object) -> list[dict]:
        r = self.post("/v1/actions/fetch-and-lock", {"worker": worker, "actions": ACTIONS, **body})
        assert r.status_code == 200, r.text
        return list(r.json()["items"])

    def queue(self, cases: int) -> int:
        for i in range(cases):
            case = self.engine.open_case("dispatch", {"patient_id": f"P-{3000 + i}"}, **CLERK)
            self.engine.send(case.id, "referred", {"reason": "r"}, **CLERK)
            self.engine.send(case.id, "assessed", **CLERK)
            self.engine.send(case.id, "planned", **CLERK)
        return 3 * cases

    def statuses(self) -> dict[int, tuple[str, int]]:
        items = self.engine.outbox(limit=1000).items
        return {i.id: (i.status, i.attempts) for i in items}


def registry() -> ClientRegistry:
    return ClientRegistry(
        [
            Client("worker", "svc:tasks", (), hash_token(TOKENS["worker"]), frozenset({"actions"})),
            Client("reader", "svc:dash", (), hash_token(TOKENS["reader"]), frozenset({"read"})),
        ]
    )


@pytest.fixture
def pull(database_url: str) -> Iterator[PullApi]:
    clock = ManualClock()
    engine = Engine.open(database_url, workflows=WORKFLOW, clock=clock)
    engine.actions.configure(DeliveryConfig.from_mapping({"default_mode": "pull"}))
    app = create_app(engine, clients=registry())
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield PullApi(engine, clock, server, http)
    finally:
        engine.close()


def worker(api: PullApi, mode: str) -> subprocess.Popen[str]:
    script = str(HERE / "pull_worker.py")
    return subprocess.Popen(
        [sys.executable, script, api.server.url, TOKENS["worker"], mode, *ACTIONS],
        stdout=subprocess.PIPE,
        text=True,
    )


def test_fetch_and_lock_leases_and_complete_delivers(pull: PullApi) -> None:
    pull.queue(1)
    items = pull.fetch(max_items=10, lease_seconds=30)
    assert sorted(i["action"] for i in items) == sorted(ACTIONS)
    welcome = next(i for i in items if i["action"] == "send_welcome")
    assert welcome["arguments"] == {"template": "welcome_letter", "priority": "routine"}
    assert welcome["idempotency_key"] == f"outbox-{welcome['outbox_id']}"
    assert (welcome["attempt"], welcome["lease_token"], welcome["history_seq"]) == (1, 1, 2)
    assert pull.fetch() == []  # all leased
    for item in items:
        body = {"lease_token": item["lease_token"]}
        r = pull.post(f"/v1/actions/{item['outbox_id']}/complete", body)
        assert r.status_code == 200
        assert r.json()["status"] == "done"
    assert {s for s, _ in pull.statuses().values()} == {"done"}
    pull.clock.advance(timedelta(hours=2))
    assert pull.fetch() == []


def test_an_expired_lease_returns_and_the_old_holder_is_fenced_off(pull: PullApi) -> None:
    pull.queue(1)
    first = pull.fetch("w1", max_items=1, lease_seconds=60)[0]
    item_id = first["outbox_id"]
    extended = pull.post(
        f"/v1/actions/{item_id}/extend", {"lease_token": first["lease_token"], "lease_seconds": 60}
    )
    assert extended.status_code == 200
    pull.clock.advance(timedelta(seconds=61))
    assert all(i["outbox_id"] != item_id for i in pull.fetch("w2", max_items=2))  # extended
    pull.clock.advance(timedelta(seconds=60))
    taken = [i for i in pull.fetch("w2", max_items=10) if i["outbox_id"] == item_id]
    assert len(taken) == 1
    assert (taken[0]["lease_token"], taken[0]["attempt"]) == (first["lease_token"] + 1, 2)
    stale = {"lease_token": first["lease_token"]}
    for verb, extra in (("complete", {}), ("extend", {"lease_seconds": 5})):
        r = pull.post(f"/v1/actions/{item_id}/{verb}", {**stale, **extra})
        assert r.status_code == 409
        assert r.json()["error"] == "lease-lost"
    r = pull.post(f"/v1/actions/{item_id}/complete", {"lease_token": taken[0]["lease_token"]})
    assert r.status_code == 200
    assert pull.statuses()[item_id] == ("done", 2)


def test_fail_retries_after_the_given_delay_or_dead_letters_when_permanent(pull: PullApi) -> None:
    pull.queue(1)
    a, b = pull.fetch(max_items=2)
    r = pull.post(
        f"/v1/actions/{a['outbox_id']}/fail",
        {"lease_token": a["lease_token"], "error": "TemplateMissing", "retry_after_seconds": 300},
    )
    assert r.status_code == 200
    assert r.json()["status"] == "pending"
    r = pull.post(
        f"/v1/actions/{b['outbox_id']}/fail",
        {"lease_token": b["lease_token"], "error": "PatientDeceased", "permanent": True},
    )
    assert r.json()["status"] == "dead"
    pull.clock.advance(timedelta(seconds=299))
    assert a["outbox_id"] not in {i["outbox_id"] for i in pull.fetch(max_items=10)}
    pull.clock.advance(timedelta(seconds=2))
    again = [i for i in pull.fetch("w9", max_items=10) if i["outbox_id"] == a["outbox_id"]]
    assert [i["attempt"] for i in again] == [2]
    dead = pull.engine.outbox(status="dead").items
    assert [(i.id, i.last_error) for i in dead] == [(b["outbox_id"], "PatientDeceased")]


def test_pull_routes_deny_by_default(pull: PullApi) -> None:
    body = {"worker": "w", "actions": ["send_welcome"]}
    assert pull.http.post("/v1/actions/fetch-and-lock", json=body).status_code == 401
    r = pull.post("/v1/actions/fetch-and-lock", body, who="reader")
    assert r.status_code == 403
    assert r.json()["error"] == "permission-missing"
    r = pull.post("/v1/actions/999/complete", {"lease_token": 1})
    assert (r.status_code, r.json()["error"]) == (404, "action-not-found")


def test_an_action_delivered_another_way_cannot_be_fetched(pull: PullApi) -> None:
    pull.engine.register_action("send_welcome", lambda ctx: None)
    r = pull.post("/v1/actions/fetch-and-lock", {"worker": "w", "actions": ["send_welcome"]})
    assert (r.status_code, r.json()["error"]) == (422, "action-not-pulled")


def test_fetches_are_in_the_access_audit(pull: PullApi) -> None:
    pull.queue(1)
    items = pull.fetch(max_items=1)
    from sqlalchemy import text

    with pull.engine._context.store.db.connect() as conn:  # type: ignore[attr-defined]
        rows = conn.execute(text("select actor, case_id, what from access_log")).all()
    assert [(r[0], r[2]) for r in rows] == [("svc:tasks", f"fetch_action:{items[0]['outbox_id']}")]


@pytest.mark.slow
def test_two_workers_racing_complete_every_action_once(pull: PullApi) -> None:
    queued = pull.queue(10)
    workers = [worker(pull, "drain"), worker(pull, "drain")]
    done = [json.loads(w.communicate(timeout=120)[0]) for w in workers]
    assert all(w.returncode == 0 for w in workers)
    assert set(done[0]).isdisjoint(done[1])
    assert sorted(done[0] + done[1]) == sorted(pull.statuses())
    assert len(pull.statuses()) == queued
    assert {v for v in pull.statuses().values()} == {("done", 1)}


@pytest.mark.slow
def test_a_worker_sigkilled_with_actions_leased_loses_none(pull: PullApi) -> None:
    queued = pull.queue(3)
    holder = worker(pull, "hold")
    assert holder.stdout is not None
    held = json.loads(holder.stdout.readline())
    assert len(held) == 5
    os.kill(holder.pid, signal.SIGKILL)
    holder.wait(timeout=30)
    holder.stdout.close()
    pull.clock.advance(timedelta(seconds=61))  # the leases run out
    drainer = worker(pull, "drain")
    done = json.loads(drainer.communicate(timeout=120)[0])
    assert sorted(done) == sorted(pull.statuses())
    assert len(done) == queued
    statuses = pull.statuses()
    assert {statuses[i] for i, _ in held} == {("done", 2)}  # leased twice, completed once
    for item_id, token in held:  # the dead worker's tokens are fenced off
        r = pull.post(f"/v1/actions/{item_id}/complete", {"lease_token": token})
        assert r.status_code == 409
