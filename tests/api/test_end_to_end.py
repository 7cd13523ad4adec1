"""A host service that speaks only HTTP drives a hospital case to closure.

The scripted path (tests/paths/hospital.yaml) is replayed over loopback HTTP:
each step's actor and roles become an API client with its own bearer token;
``advance`` steps move the manual clock behind the app and fire due timers,
as the worker in ``casework serve`` would.
"""

from __future__ import annotations

from typing import Any

import httpx
import pytest
import yaml

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.clock import ManualClock
from engine.definitions.durations import parse_duration
from engine.runtime.engine import Engine

from .conftest import ROOT, WORKFLOWS, LiveServer

PATHS_FILE = ROOT / "tests" / "paths" / "hospital.yaml"


def _paths() -> list[dict[str, Any]]:
    if not PATHS_FILE.exists():
        pytest.skip("tests/paths/hospital.yaml not written yet")
    doc = yaml.safe_load(PATHS_FILE.read_text(encoding="utf-8"))
    assert doc["workflow"] == "hospital"
    return list(doc["paths"])


def _advance(clock: ManualClock, text: str) -> None:
    d = parse_duration(text)
    days = d.years * 365 + d.months * 30 + d.weeks * 7 + d.days
    clock.advance(days=days, hours=d.hours, minutes=d.minutes, seconds=d.seconds)


def _clients(paths: list[dict[str, Any]]) -> tuple[ClientRegistry, dict[tuple[str, ...], str]]:
    """One client per (actor, roles) seen in the script, plus an intake client."""
    tokens: dict[tuple[str, ...], str] = {}
    clients = []
    keys = {("admissions", "case_manager")}  # hospital's open_roles
    for p in paths:
        for step in p["steps"]:
            if "event" in step or "add_item" in step:
                keys.add((step.get("actor", "someone"), *step.get("roles", [])))
    for i, key in enumerate(sorted(keys)):
        token = f"e2e-token-{i:03d}-abcdefghijklmnop"
        tokens[key] = token
        clients.append(Client(f"client-{i}", key[0], tuple(key[1:]), hash_token(token)))
    return ClientRegistry(clients), tokens


def test_http_client_drives_a_hospital_case_from_admission_to_closure(database_url):
    paths = _paths()
    registry, tokens = _clients(paths)
    clock = ManualClock()
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=clock)
    try:
        app = create_app(engine, clients=registry)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:

            def auth(key: tuple[str, ...]) -> dict[str, str]:
                return {"Authorization": f"Bearer {tokens[key]}"}

            intake = auth(("admissions", "case_manager"))
            final_states = set(
                http.get("/v1/definitions/hospital", headers=intake).json()["states"]
            )
            timer_fired = False
            for p in paths:
                r = http.post(
                    "/v1/cases",
                    json={"workflow": "hospital", "record": p["record"]},
                    headers={**intake, "Idempotency-Key": f"admit-{p['name']}"},
                )
                assert r.status_code == 201, r.text
                case_id = r.json()["id"]
                etag = r.headers["etag"]
                for i, step in enumerate(p["steps"]):
                    where = f"hospital/{p['name']} step {i + 1}"
                    if "advance" in step:
                        _advance(clock, step["advance"])
                        while engine.fire_due_timers(limit=500):
                            pass
                    else:
                        key = (step.get("actor", "someone"), *step.get("roles", []))
                        payload = step.get("payload") or {}
                        if "add_item" in step:  # a work item: an authorization, an education topic
                            url, ok = f"/v1/cases/{case_id}/items", 201
                            body = {"type": step["add_item"], "payload": payload}
                            if step.get("item_id"):
                                body["item_id"] = step["item_id"]
                        elif "item" in step:
                            url, ok = f"/v1/cases/{case_id}/items/{step['item']}/events", 200
                            body = {"event": step["event"], "payload": payload}
                        else:
                            url, ok = f"/v1/cases/{case_id}/events", 200
                            body = {"event": step["event"], "payload": payload}
                        r = http.post(
                            url,
                            json=body,
                            headers={
                                **auth(key),
                                "If-Match": etag,
                                "Idempotency-Key": f"{p['name']}-{i}",
                            },
                        )
                        assert r.status_code == ok, f"{where}: {r.text}"
                    r = http.get(f"/v1/cases/{case_id}", headers=intake)
                    assert r.status_code == 200
                    etag = r.headers["etag"]
                    if "expect" in step:
                        assert r.json()["state"] == step["expect"], where
                    if "expect_items" in step:
                        items = {item["id"]: item["state"] for item in r.json()["items"]}
                        for item_id, state in step["expect_items"].items():
                            assert items.get(item_id) == state, f"{where}: item {item_id}"
                case = http.get(f"/v1/cases/{case_id}", headers=intake).json()
                assert case["state"] == p["final"]
                assert case["state"] in final_states
                assert case["closed_at"] is not None
                history = http.get(f"/v1/cases/{case_id}/history", headers=intake).json()
                timer_fired = timer_fired or any(e["actor"] == "timer" for e in history["entries"])
                phases = {e["to_state"] for e in history["entries"]}
                assert len(phases) >= 3
            assert timer_fired, "no timer fired on any scripted hospital path"
    finally:
        engine.close()
