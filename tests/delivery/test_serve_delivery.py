"""`casework serve --delivery-config`: a case's actions reach a webhook receiver and a pull client.

Everything is a real process on loopback: the server (API and worker), the
receiver (verifying with ``standardwebhooks``) and the pull client (written
against the OpenAPI document only). With ``CASEWORK_CAPTURE_DIR`` set, the
exchanges are written there (docs/integration.md shows one).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from engine.api.clients import hash_token

from .support import WORKFLOW, Receiver, free_port, new_secret, wait_until

TOKEN = "cw_host-app-token-0123456789abcdef"


@pytest.mark.slow
def test_serve_delivers_every_action_by_webhook_and_by_pull(
    database_url: str, tmp_path: Path
) -> None:
    secret = new_secret()
    clients = tmp_path / "clients.json"
    clients.write_text(
        json.dumps(
            {
                "clients": [
                    {
                        "name": "host-app",
                        "actor": "svc:host-app",
                        "roles": ["clerk"],
                        "permissions": ["read", "write", "actions"],
                        "token_sha256": hash_token(TOKEN),
                    }
                ]
            }
        )
    )
    clients.chmod(0o600)
    with Receiver(tmp_path / "rx", [secret]) as rx:
        rx.start()
        config = tmp_path / "casework.toml"
        config.write_text(
            f"""
[delivery]
default_mode = "webhook"
default_webhook = "host"

[delivery.webhooks.host]
url = "{rx.url}"
secrets = ["{secret}"]

[delivery.actions.create_call_task]
mode = "pull"
""",
            encoding="utf-8",
        )
        port = free_port()
        server = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "engine",
                "serve",
                "--database-url",
                database_url,
                "--workflows",
                str(WORKFLOW),
                "--clients",
                str(clients),
                "--delivery-config",
                str(config),
                "--port",
                str(port),
                "--log-level",
                "warning",
            ],
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
            stderr=subprocess.PIPE,
        )
        base = f"http://127.0.0.1:{port}"
        auth = {"Authorization": f"Bearer {TOKEN}"}
        try:
            with httpx.Client(base_url=base, headers=auth, timeout=30) as http:

                def up() -> bool:
                    assert server.poll() is None, "casework serve exited"
                    try:
                        return http.get("/health").status_code == 200
                    except httpx.TransportError:
                        return False

                wait_until(up, timeout=240, what="the server")  # slow start on a loaded box
                r = http.post(
                    "/v1/cases", json={"workflow": "dispatch", "record": {"patient_id": "P-0042"}}
                )
                assert r.status_code == 201, r.text
                case_id = r.json()["id"]
                for event, payload in (("referred", {"reason": "new referral"}), ("assessed", {})):
                    r = http.post(
                        f"/v1/cases/{case_id}/events", json={"event": event, "payload": payload}
                    )
                    assert r.status_code == 200, r.text
                r = http.post(
                    f"/v1/cases/{case_id}/events", json={"event": "planned", "payload": {}}
                )
                wait_until(lambda: len(rx.lines("effects")) == 2, timeout=120, what="two webhooks")
                fetch_body = {
                    "worker": "tasks-1",
                    "actions": ["create_call_task"],
                    "max_items": 5,
                    "lease_seconds": 60,
                }
                fetched = http.post("/v1/actions/fetch-and-lock", json=fetch_body)
                assert fetched.status_code == 200
                items = fetched.json()["items"]
                assert [i["action"] for i in items] == ["create_call_task"]
                task = items[0]
                assert task["case_id"] == case_id
                assert task["arguments"]["reason"] == "new referral"
                done = http.post(
                    f"/v1/actions/{task['outbox_id']}/complete",
                    json={"lease_token": task["lease_token"]},
                )
                assert done.status_code == 200
                assert done.json()["status"] == "done"
                capture = os.environ.get("CASEWORK_CAPTURE_DIR")
                if capture:
                    out = Path(capture)
                    out.mkdir(parents=True, exist_ok=True)
                    (out / "webhooks.jsonl").write_text((rx.state / "exchanges").read_text())
                    (out / "pull.json").write_text(
                        json.dumps(
                            {
                                "fetch_request": fetch_body,
                                "fetch_response": fetched.json(),
                                "complete_request": {"lease_token": task["lease_token"]},
                                "complete_response": done.json(),
                            },
                            indent=2,
                        )
                    )
            exchanges = [
                json.loads(line) for line in (rx.state / "exchanges").read_text().splitlines()
            ]
            actions = sorted(json.loads(e["body"])["data"]["action"] for e in exchanges)
            assert actions == ["notify_team", "send_welcome"]
            assert all(e["headers"]["webhook-signature"].startswith("v1,") for e in exchanges)
        finally:
            server.terminate()
            server.communicate(timeout=30)
