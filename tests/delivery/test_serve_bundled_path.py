"""Done when of issue 12: `casework serve --config` delivers every action of bundled scripted paths.

A real ``casework serve`` process, configured by one TOML file (``--config``
with a ``[delivery]`` table), runs the timer-free scripted paths of
tests/paths/brokerage.yaml and one of tests/paths/hospital.yaml over HTTP: the
first case by its id (``POST /v1/cases/{id}/events``), the others found by
their business key ``patient_id`` (``GET /v1/cases?key.patient_id=``) and driven
by it (``POST /v1/cases/by-key/events``). Actions go by webhook to the loopback
receiver (verifying with ``standardwebhooks``) or, for the names configured as
``pull``, to tests/delivery/pull_worker.py (plain HTTP, written against the
OpenAPI document only). Every queued action is counted at the end: each one
done, delivered once to its receiver, none lost, none doubled. With
``CASEWORK_CAPTURE_DIR`` set, the exchanges are written there
(docs/integration.md shows them).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import httpx
import pytest
import yaml

from engine.runtime.engine import Engine

from .support import HERE, Receiver, casework_serve, new_secret, wait_until, write_clients

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"
PATHS = ROOT / "tests" / "paths"
PULL_WORKER = HERE / "pull_worker.py"
TOKEN = "cw_host-app-token-0123456789abcdef"
# (workflow, scripted path): timer-free, so a real clock runs them as written
DRIVEN = (
    ("brokerage", "transfer_out_of_area"),  # by case id
    ("brokerage", "death_during_assessment"),  # by business key
    ("hospital", "authorization_denied_then_patient_declines"),  # by business key
)
PULLED = ("send_transfer_summary", "submit_prior_authorization", "send_closure_letter")


def _path(workflow: str, name: str) -> dict[str, Any]:
    doc = yaml.safe_load((PATHS / f"{workflow}.yaml").read_text(encoding="utf-8"))
    (path,) = [p for p in doc["paths"] if p["name"] == name]
    assert not any("advance" in step for step in path["steps"])
    return dict(path)


def _drive(http: httpx.Client, workflow: str, name: str, *, by_key: bool, log: list[Any]) -> str:
    """Open the path's case and send its events over HTTP; the case's id."""
    path = _path(workflow, name)
    opened = http.post("/v1/cases", json={"workflow": workflow, "record": path["record"]})
    assert opened.status_code == 201, opened.text
    case_id = str(opened.json()["id"])
    patient = path["record"]["patient_id"]
    if by_key:
        found = http.get("/v1/cases", params={"workflow": workflow, "key.patient_id": patient})
        assert found.status_code == 200, found.text
        assert [c["id"] for c in found.json()["items"]] == [case_id]
        log.append(
            {"request": f"GET {found.request.url.raw_path.decode()}", "response": found.json()}
        )
    for step in path["steps"]:
        payload = step.get("payload") or {}
        if "add_item" in step or "item" in step:
            # work items are addressed by case id (the by-key route takes case events)
            if "add_item" in step:
                url = f"/v1/cases/{case_id}/items"
                body = {"type": step["add_item"], "payload": payload}
                if step.get("item_id"):
                    body["item_id"] = step["item_id"]
            else:
                url = f"/v1/cases/{case_id}/items/{step['item']}/events"
                body = {"event": step["event"], "payload": payload}
            r = http.post(url, json=body)
            if by_key:
                log.append(
                    {
                        "request": f"POST {url}",
                        "body": r.request.content.decode(),
                        "status": r.status_code,
                        "response": r.json(),
                    }
                )
            assert r.status_code in (200, 201), r.text
            assert r.json()["id"] == case_id
            if "expect" in step:
                assert r.json()["state"] == step["expect"]
            continue
        if by_key:
            body = {"workflow": workflow, "keys": {"patient_id": patient}, "event": step["event"]}
            r = http.post("/v1/cases/by-key/events", json={**body, "payload": payload})
            log.append(
                {
                    "request": "POST /v1/cases/by-key/events",
                    "body": r.request.content.decode(),
                    "status": r.status_code,
                    "response": r.json(),
                }
            )
        else:
            r = http.post(
                f"/v1/cases/{case_id}/events", json={"event": step["event"], "payload": payload}
            )
        assert r.status_code == 200, r.text
        assert (r.json()["id"], r.json()["state"]) == (case_id, step["expect"])
    assert path["final"] == step["expect"]
    return case_id


def _outbox(url: str) -> list[tuple[int, str, str]]:
    """Every queued action as (outbox id, action, status), read from the database."""
    with Engine.open(url, workflows=WORKFLOWS) as eng:
        return [(i.id, i.action, i.status) for i in eng.outbox(status=None, limit=10_000).items]


@pytest.mark.slow
def test_serve_with_a_config_file_delivers_every_action_of_bundled_paths_once(
    database_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    clients = write_clients(tmp_path / "clients.json", TOKEN, roles=["*"])
    log: list[Any] = []
    with Receiver(tmp_path / "rx", [secret]) as rx:
        rx.start()
        pulled_tables = "".join(f'\n[delivery.actions.{a}]\nmode = "pull"\n' for a in PULLED)
        config = tmp_path / "casework.toml"
        config.write_text(
            f"""database_url = "{database_url}"
workflows = ["{WORKFLOWS}"]
log_level = "warning"

[server]
clients_file = "{clients}"

[delivery]
default_mode = "webhook"
default_webhook = "host"

[delivery.webhooks.host]
url = "{rx.url}"
secrets = ["{secret}"]
{pulled_tables}""",
            encoding="utf-8",
        )
        with casework_serve("--config", str(config), token=TOKEN) as http:
            cases = [
                _drive(http, workflow, name, by_key=i > 0, log=log)
                for i, (workflow, name) in enumerate(DRIVEN)
            ]
            queued = _outbox(database_url)
            by_webhook = sorted(f"outbox-{i}" for i, action, _ in queued if action not in PULLED)
            by_pull = sorted(i for i, action, _ in queued if action in PULLED)
            assert by_webhook
            assert by_pull
            wait_until(
                lambda: len(rx.lines("effects")) >= len(by_webhook), timeout=120, what="webhooks"
            )
            puller = subprocess.run(
                [sys.executable, str(PULL_WORKER), str(http.base_url), TOKEN, "drain", *PULLED],
                capture_output=True,
                check=True,
                timeout=120,
            )
            pulled = json.loads(puller.stdout)
        done = _outbox(database_url)
    assert sorted(rx.lines("effects")) == by_webhook  # each webhook's effect once
    assert sorted(pulled) == by_pull  # each pulled action completed once
    assert {status for _, _, status in done} == {"done"}
    assert len(done) == len(queued)  # nothing queued after the count
    exchanges = [json.loads(line) for line in (rx.state / "exchanges").read_text().splitlines()]
    delivered = {json.loads(e["body"])["data"]["case_id"] for e in exchanges}
    assert delivered <= set(cases)
    capture = os.environ.get("CASEWORK_CAPTURE_DIR")
    if capture:
        out = Path(capture)
        out.mkdir(parents=True, exist_ok=True)
        (out / "bundled-by-key.json").write_text(json.dumps(log, indent=2))
        (out / "bundled-webhooks.jsonl").write_text((rx.state / "exchanges").read_text())
        (out / "bundled-casework.toml").write_text(config.read_text().replace(secret, "whsec_…"))
        (out / "bundled-outbox.json").write_text(json.dumps({"queued": queued, "pulled": pulled}))
