"""`casework serve --config FILE` as a host application meets it: clients managed with
`casework clients` while the server runs, an event sent on an end user's behalf (JWT), a
case found and driven by its business key, and the change feed. With
CASEWORK_CAPTURE_EXCHANGES=FILE the exchanges are written to FILE (docs/integration.md
shows them)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx
import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from engine.cli.main import main

from .test_host_services_api import AUDIENCE, CONTACT, ISSUER, RECORD, keyed_workflows
from .test_serve import _free_port, _wait_healthy


class Recorder:
    def __init__(self) -> None:
        self.lines: list[str] = []

    def note(self, title: str) -> None:
        self.lines.append(f"\n#### {title}\n")

    def call(self, http: httpx.Client, method: str, url: str, **kw: Any) -> httpx.Response:
        r = http.request(method, url, **kw)
        shown = {k: v for k, v in kw.get("headers", {}).items()}
        for k in list(shown):
            if k.lower() == "authorization":
                shown[k] = "Bearer cw_…"
            if k.lower() == "acting-user":
                shown[k] = shown[k][:24] + "…"
        req = [f"{method} {r.request.url.raw_path.decode()} HTTP/1.1"]
        req += [f"{k}: {v}" for k, v in shown.items()]
        if "json" in kw:
            req += ["", json.dumps(kw["json"], indent=2)]
        resp = [f"HTTP/1.1 {r.status_code} {r.reason_phrase}"]
        for h in ("content-type", "etag", "location"):
            if h in r.headers:
                resp.append(f"{h}: {r.headers[h]}")
        body = r.text
        if r.headers.get("content-type", "").startswith(
            ("application/json", "application/problem")
        ):
            data = r.json()
            if isinstance(data, dict) and len(data.get("allowed_events", [])) > 1:
                n = len(data["allowed_events"])
                data["allowed_events"] = [data["allowed_events"][0], f"… {n - 1} more"]
            body = json.dumps(data, indent=2, ensure_ascii=False)
        resp += ["", body.strip()]
        self.lines.append(
            "```http\n" + "\n".join(req) + "\n```\n```http\n" + "\n".join(resp) + "\n```\n"
        )
        return r

    def save(self) -> None:
        target = os.environ.get("CASEWORK_CAPTURE_EXCHANGES")
        if target:
            Path(target).write_text("".join(self.lines), encoding="utf-8")


@pytest.mark.slow
def test_serve_with_a_configuration_file_serves_every_host_service(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (tmp_path / "idp.pem").write_bytes(
        key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    )
    keyed_workflows(tmp_path / "workflows")
    port = _free_port()
    config = tmp_path / "casework.toml"
    config.write_text(
        f'database_url = "sqlite:///{tmp_path / "casework.db"}"\n'
        'workflows = ["workflows"]\n'
        'log_format = "text"\n\n'
        f'[server]\nport = {port}\nclients_file = "clients.json"\nworker = false\n\n'
        "[changes]\nmax_wait_seconds = 10\nstream_seconds = 1\n\n"
        f'[acting_user]\nissuer = "{ISSUER}"\naudience = "{AUDIENCE}"\n'
        'algorithms = ["RS256"]\npublic_key_file = "idp.pem"\n'
    )
    assert main(["clients", "add", "ward-app", "--config", str(config), "--actor",
                 "svc:ward-app", "--roles", "case_manager,intake_coordinator",
                 "--permissions", "read,write,delegate", "--json"]) == 0  # fmt: skip
    ward = json.loads(capsys.readouterr().out)["token"]
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--config", str(config)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    rec = Recorder()
    try:
        _wait_healthy(url, proc)
        with httpx.Client(base_url=url, timeout=30) as http:
            auth = {"Authorization": f"Bearer {ward}"}
            user = jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "nurse:jane.doe",
                 "roles": ["case_manager"], "exp": int(time.time()) + 600},
                key,
                algorithm="RS256",
            )  # fmt: skip
            as_jane = {**auth, "Acting-User": user}

            rec.note("Acting user: open a case on behalf of nurse:jane.doe")
            opened = rec.call(
                http, "POST", "/v1/cases",
                json={"workflow": "brokerage", "record": {**RECORD, "referral_id": "R-2026-0042"}},
                headers=as_jane,
            )  # fmt: skip
            assert opened.status_code == 201, opened.text
            case_id = opened.json()["id"]

            rec.note("Business keys: search by key")
            found = rec.call(http, "GET", "/v1/cases?key.referral_id=R-2026-0042", headers=auth)
            assert [c["id"] for c in found.json()["items"]] == [case_id]

            rec.note("Business keys: a second open case with the same unique key")
            dup = rec.call(
                http, "POST", "/v1/cases",
                json={"workflow": "brokerage",
                      "record": {**RECORD, "patient_id": "P-0002", "referral_id": "R-2026-0042"}},
                headers=auth,
            )  # fmt: skip
            assert dup.status_code == 409

            rec.note("Business keys: send an event by key, on behalf of the user")
            sent = rec.call(
                http, "POST", "/v1/cases/by-key/events",
                json={"workflow": "brokerage", "keys": {"referral_id": "R-2026-0042"},
                      "event": "first_contact_made", "payload": CONTACT},
                headers=as_jane,
            )  # fmt: skip
            assert sent.status_code == 200, sent.text
            assert sent.json()["id"] == case_id

            rec.note("Acting user: the history records user and client")
            history = rec.call(http, "GET", f"/v1/cases/{case_id}/history", headers=auth)
            entries = history.json()["entries"]
            assert [(e["actor"], e["client"]) for e in entries] == [
                ("nurse:jane.doe", "svc:ward-app")
            ] * 2

            rec.note("Acting user: a role the client is not granted")
            boss = jwt.encode(
                {"iss": ISSUER, "aud": AUDIENCE, "sub": "sup:ann", "roles": ["supervisor"],
                 "exp": int(time.time()) + 600},
                key,
                algorithm="RS256",
            )  # fmt: skip
            refused = rec.call(
                http, "GET", f"/v1/cases/{case_id}", headers={**auth, "Acting-User": boss}
            )
            assert refused.status_code == 403

            rec.note("Change feed: from the beginning")
            feed = rec.call(http, "GET", "/v1/changes?limit=1", headers=auth)
            page = feed.json()
            assert [e["event"] for e in page["items"]] == ["@open"]
            rec.note("Change feed: resume after the cursor")
            more = rec.call(
                http, "GET", f"/v1/changes?after={page['next_cursor']}&wait=5", headers=auth
            )
            assert [e["event"] for e in more.json()["items"]] == ["first_contact_made"]
            rec.note("Change feed: server-sent events, resumed with Last-Event-ID")
            stream = rec.call(
                http, "GET", "/v1/changes/stream",
                headers={**auth, "Last-Event-ID": page["next_cursor"]},
            )  # fmt: skip
            assert "event: change" in stream.text

            rec.note("Configuration: rotate the client while the server runs")
            assert main(["clients", "rotate", "ward-app", "--config", str(config), "--json"]) == 0
            rotated = json.loads(capsys.readouterr().out)["token"]
            old = rec.call(http, "GET", "/v1/definitions", headers=auth)
            assert old.status_code == 401
            new = http.get("/v1/definitions", headers={"Authorization": f"Bearer {rotated}"})
            assert new.status_code == 200
    finally:
        proc.terminate()
        proc.communicate(timeout=60)
        rec.save()
