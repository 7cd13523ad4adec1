"""``casework serve`` on a fresh directory: one command, SQLite, bundled workflows, a token."""

from __future__ import annotations

import json
import os
import re
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from engine.api.clients import ClientRegistry, bootstrap_clients_file, hash_token
from engine.cli.serve import clients_path_for


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _wait_healthy(url: str, proc: subprocess.Popen[str]) -> None:
    deadline = time.monotonic() + 120  # generous: the machine is shared
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    raise AssertionError("serve did not become healthy")


@pytest.mark.slow
def test_serve_on_a_fresh_directory_creates_db_and_admin_token(tmp_path):
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    proc = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        _wait_healthy(url, proc)
        assert (tmp_path / "casework.db").exists()
        clients_file = tmp_path / "casework-clients.json"
        stored = json.loads(clients_file.read_text())
        assert clients_file.stat().st_mode & 0o077 == 0
        r = httpx.get(f"{url}/v1/definitions", timeout=30)
        assert r.status_code == 401
        ready = httpx.get(f"{url}/ready", timeout=30).json()
        assert ready == {"status": "ok", "checks": {"database": "ok", "schema": "ok"}}
    finally:
        proc.terminate()
        _, err = proc.communicate(timeout=60)
    token = re.search(r"^\s+(cw_\S+)\s*$", err, re.MULTILINE)
    assert token is not None, err
    assert stored["clients"][0]["token_sha256"] == hash_token(token.group(1))
    assert token.group(1) not in clients_file.read_text()
    assert "Uvicorn running" in err or "serving" in err


def test_bootstrap_clients_file_is_created_once(tmp_path):
    path = tmp_path / "clients.json"
    token = bootstrap_clients_file(path)
    assert token is not None
    assert bootstrap_clients_file(path) is None
    registry = ClientRegistry.from_file(path)
    client = registry.authenticate(token)
    assert client is not None
    assert client.may("metrics")
    assert registry.authenticate(token + "x") is None


def test_clients_file_goes_next_to_an_sqlite_database(tmp_path):
    assert clients_path_for(f"sqlite:///{tmp_path}/x/casework.db") == (
        tmp_path / "x" / "casework-clients.json"
    )


def test_clients_file_in_toml(tmp_path):
    path = tmp_path / "clients.toml"
    path.write_text(
        "[[clients]]\n"
        'name = "ward"\nactor = "svc:ward"\nroles = ["nurse"]\n'
        f'token_sha256 = "{hash_token("t0k3n-ward-0000")}"\n'
    )
    path.chmod(0o600)
    client = ClientRegistry.from_file(path).authenticate("t0k3n-ward-0000")
    assert client is not None
    assert (client.actor, client.roles) == ("svc:ward", ("nurse",))
    assert client.may("write")
    assert not client.may("metrics")


@pytest.mark.parametrize(
    "text",
    [
        "{}",
        '{"clients": [{"name": "a", "token_sha256": "abc"}]}',
        '{"clients": [{"name": "a", "token_sha256": "' + "0" * 64 + '", "permissions": ["root"]}]}',
        "not json",
    ],
)
def test_invalid_clients_file_is_rejected(tmp_path, text):
    from engine.api.clients import ClientsFileInvalid

    path = tmp_path / "clients.json"
    path.write_text(text)
    path.chmod(0o600)  # private, so the content is what is refused
    with pytest.raises(ClientsFileInvalid):
        ClientRegistry.from_file(path)


def test_star_role_expands_to_the_workflow_roles():
    from engine.api.clients import Client

    c = Client("a", "a", ("*", "auditor"), "0" * 64)
    assert c.roles_for(["nurse", "auditor"]) == ("auditor", "nurse")


def test_serve_help_lists_the_options():
    from engine.cli.main import build_parser
    from engine.cli.serve import serve_settings

    args = build_parser().parse_args(["serve"])
    settings = serve_settings(args, {})  # no environment, no file: the defaults
    assert (settings.server_host, settings.server_port) == ("127.0.0.1", 8000)
    assert settings.server_worker is True
    assert Path(settings.database_url.removeprefix("sqlite:///")).name == "casework.db"


@pytest.mark.slow
@pytest.mark.postgres
def test_two_serve_processes_share_one_postgresql_database(tmp_path, postgres_url):
    from engine.api.clients import Client

    token = "shared-token-0123456789abcdef"
    clients = tmp_path / "clients.json"
    admin = Client("ops", "svc:ops", ("*",), hash_token(token), frozenset({"read", "write"}))
    clients.write_text(json.dumps({"clients": [admin.to_dict()]}))
    clients.chmod(0o600)
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    ports = [_free_port(), _free_port()]
    procs = [
        subprocess.Popen(
            [
                sys.executable, "-m", "engine", "serve", "--port", str(port),
                "--database-url", postgres_url, "--clients", str(clients),
            ],
            cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
        )
        for port in ports
    ]  # fmt: skip
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for url, proc in zip(urls, procs, strict=True):
            _wait_healthy(url, proc)
        record = {
            "patient_id": "P-0001", "program": "housing", "priority": "routine",
            "risk_level": "low",
        }  # fmt: skip
        r = httpx.post(
            f"{urls[0]}/v1/cases", json={"workflow": "brokerage", "record": record},
            headers=auth, timeout=60,
        )  # fmt: skip
        assert r.status_code == 201, r.text
        case_id = r.json()["id"]
        r = httpx.post(
            f"{urls[1]}/v1/cases/{case_id}/events",
            json={"event": "first_contact_made", "payload": {"contact_date": "2026-01-06"}},
            headers={**auth, "If-Match": '"1"'}, timeout=60,
        )  # fmt: skip
        assert r.status_code == 200, r.text
        r = httpx.get(f"{urls[0]}/v1/cases/{case_id}", headers=auth, timeout=60)
        assert (r.json()["state"], r.headers["etag"]) == ("assessing", '"2"')
        for url in urls:
            assert httpx.get(f"{url}/ready", timeout=60).json()["status"] == "ok"
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.communicate(timeout=60)
    assert not (tmp_path / "casework-clients.json").exists()  # --clients given: no bootstrap
