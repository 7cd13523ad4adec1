"""Server logs: no exception text or SQL parameters, one escaped JSON object per line.

A 500 caused by the database must log ids and the exception type only: driver
messages quote the offending data (psycopg's CONTEXT quotes the JSON text,
SQLAlchemy appends ``[parameters: ...]``). Path parameters are attacker input
and must not be able to forge log lines.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from engine.api.clients import Client, hash_token

from .conftest import TOKENS

SENTINEL = "PHI-SENTINEL-7731"
# Forged access-log lines, sent as (percent-encoded) path parameters.
# No "/" in them: a slash, even encoded, would leave the {case_id} segment.
FORGED_TEXT = "x actor=-\nGET <unmatched> 200 case=forged actor=api:admin 1.0ms"
FORGED_JSON = 'x\n{"logger": "casework.api.access", "status": 200, "actor": "api:admin"}'

# Run a failing statement whose parameters (and, on PostgreSQL, whose error
# CONTEXT) carry the sentinel: what a NaN in a json column does for real.
_FAILING_SQL = textwrap.dedent(
    """
    def _failing_read(self, case_id):
        import sqlalchemy as sa

        store = self._context.store
        value = '{"patient_name": "SENTINEL_HERE", "score": NaN}'
        sql = "select cast(:v as json)" if store.postgres else "select json(:v)"
        with store.db.connect() as conn:
            conn.execute(sa.text(sql), {"v": value})
        raise AssertionError("the statement should have failed")
    """
).replace("SENTINEL_HERE", SENTINEL)


def _install_failing_read(monkeypatch, engine):
    namespace: dict[str, object] = {}
    exec(_FAILING_SQL, namespace)
    failing = namespace["_failing_read"]
    monkeypatch.setattr(engine, "get", lambda case_id: failing(engine, case_id))


def _auth(who="admin"):
    return {"Authorization": f"Bearer {TOKENS[who]}"}


def _formatted(caplog) -> str:
    """Everything the captured records would print, tracebacks included."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    return "\n".join(formatter.format(r) for r in list(caplog.records))


def _wait_for(predicate, timeout=10.0):
    # Server threads log after the response went out: wait, bounded, for the lines.
    deadline = time.monotonic() + timeout
    while not predicate() and time.monotonic() < deadline:
        time.sleep(0.02)
    return predicate()


def test_database_error_500_logs_ids_and_type_never_the_statement_or_values(
    api, caplog, monkeypatch
):
    _install_failing_read(monkeypatch, api.engine)
    caplog.set_level(logging.DEBUG)
    r = api.http.get("/v1/cases/some-case", headers=_auth())
    assert r.status_code == 500
    assert r.headers["content-type"].startswith("application/problem+json")
    assert SENTINEL not in r.text

    def error_logged() -> bool:
        return any(rec.levelno >= logging.ERROR for rec in list(caplog.records))

    assert _wait_for(error_logged)
    time.sleep(0.2)  # anything uvicorn would add comes right after the response
    text = _formatted(caplog)
    assert SENTINEL not in text
    assert "NaN" not in text
    assert "[parameters" not in text
    assert "Exception in ASGI application" not in text  # nothing re-raised into uvicorn
    request_id = r.headers["x-request-id"]
    assert _wait_for(lambda: request_id in _formatted(caplog))
    errors = [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR]
    assert any("OperationalError" in e or "DataError" in e for e in errors), errors
    assert any("GET /v1/cases/{case_id}" in e and "api:admin" in e for e in errors), errors


def test_path_parameters_cannot_forge_log_lines(api, caplog):
    caplog.set_level(logging.INFO)
    forged = f"/v1/cases/{quote(FORGED_TEXT, safe='')}"
    assert api.http.get(forged, headers=_auth()).status_code == 404
    assert api.http.get(forged).status_code == 401

    def access() -> list[logging.LogRecord]:
        return [r for r in list(caplog.records) if r.name == "casework.api.access"]

    assert _wait_for(lambda: len(access()) >= 2)
    for record in access():
        message = record.getMessage()
        assert "\n" not in message
        assert "\r" not in message
    assert any("\\n" in r.getMessage() for r in access())  # escaped, not dropped


def test_every_response_carries_a_request_id_that_the_access_log_names(api, caplog):
    caplog.set_level(logging.INFO)
    first = api.http.get("/health")
    second = api.http.get("/v1/definitions")
    ids = [first.headers["x-request-id"], second.headers["x-request-id"]]
    assert ids[0] != ids[1]
    assert all(len(i) >= 16 for i in ids)

    def named() -> bool:
        lines = [r.getMessage() for r in list(caplog.records) if r.name == "casework.api.access"]
        return all(any(i in line for line in lines) for i in ids)

    assert _wait_for(named)


# -- `casework serve` in a subprocess: the logging configuration it installs ----------


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _serve(tmp_path: Path, database_url: str, *extra: str) -> tuple[subprocess.Popen[str], str]:
    """`casework serve` with Engine.get patched to run a failing statement."""
    clients = tmp_path / "clients.json"
    admin = Client("admin", "api:admin", ("*",), hash_token(TOKENS["admin"]))
    clients.write_text(json.dumps({"clients": [admin.to_dict()]}))
    clients.chmod(0o600)
    port = _free_port()
    script = _FAILING_SQL + textwrap.dedent(
        """
        import sys
        from engine.runtime.engine import Engine
        from engine.cli.main import main

        Engine.get = _failing_read
        sys.exit(main(sys.argv[1:]))
        """
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("CASEWORK_")}
    cmd = [sys.executable, "-c", script, "serve", "--port", str(port), "--no-worker"]
    cmd += ["--database-url", database_url, "--clients", str(clients), *extra]
    proc = subprocess.Popen(
        cmd, cwd=tmp_path, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120  # generous: the machine is shared
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"serve exited with {proc.returncode}: {proc.stderr.read()}")
        try:
            if httpx.get(f"{url}/health", timeout=5).status_code == 200:
                return proc, url
        except httpx.TransportError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise AssertionError("serve did not become healthy")


def _stop(proc: subprocess.Popen[str]) -> str:
    proc.terminate()
    _, err = proc.communicate(timeout=60)
    return err


def _exercise(url: str) -> dict[str, str]:
    """A database 500, a real write, and forging attempts; returns the request ids."""
    auth = _auth()
    ids: dict[str, str] = {}
    r = httpx.get(f"{url}/v1/cases/some-case", headers=auth, timeout=60)
    assert r.status_code == 500
    ids["500"] = r.headers.get("x-request-id", "-")
    record = {"patient_id": "P-7731", "program": SENTINEL, "priority": "routine"}
    r = httpx.post(
        f"{url}/v1/cases",
        json={"workflow": "brokerage", "record": {**record, "risk_level": "low"}},
        headers=auth,
        timeout=60,
    )
    assert r.status_code == 201, r.text
    for forged in (FORGED_TEXT, FORGED_JSON):
        r = httpx.get(f"{url}/v1/cases/{quote(forged, safe='')}", timeout=60)
        assert r.status_code == 401
        ids.setdefault("forged", r.headers.get("x-request-id", "-"))
    return ids


@pytest.mark.slow
def test_serve_logs_json_lines_without_exception_text_or_parameters(tmp_path, database_url):
    proc, url = _serve(tmp_path, database_url)
    try:
        ids = _exercise(url)
        time.sleep(0.5)  # the access line of the last request is written after its response
    finally:
        err = _stop(proc)
    assert SENTINEL not in err
    assert "[parameters" not in err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.strip()]
    docs = [json.loads(line) for line in lines]  # every line is one JSON object
    assert all(isinstance(d, dict) for d in docs)
    access = [d for d in docs if d.get("logger") == "casework.api.access"]
    by_id = {d["request_id"]: d for d in access}
    failed = by_id[ids["500"]]
    assert (failed["method"], failed["route"], failed["status"]) == (
        "GET",
        "/v1/cases/{case_id}",
        500,
    )
    assert failed["case_id"] == "some-case"
    assert failed["actor"] == "api:admin"
    assert isinstance(failed["duration_ms"], float | int)
    errors = [d for d in docs if d.get("level") == "ERROR" and d.get("request_id") == ids["500"]]
    assert errors, docs
    assert errors[0]["exception"].split(".")[-1] in ("OperationalError", "DataError")
    forged = by_id[ids["forged"]]
    assert forged["case_id"] == FORGED_TEXT  # the newline survived, inside one JSON string
    assert forged["status"] == 401
    assert forged["actor"] is None


@pytest.mark.slow
def test_serve_text_log_format_escapes_path_parameters(tmp_path, sqlite_url):
    proc, url = _serve(tmp_path, sqlite_url, "--log-format", "text")
    try:
        ids = _exercise(url)
        time.sleep(0.5)
    finally:
        err = _stop(proc)
    assert SENTINEL not in err
    assert "[parameters" not in err
    lines = err.splitlines()
    assert not any(line.startswith(("GET ", "{")) for line in lines), err
    assert sum(ids["forged"] in line for line in lines) == 1
    assert any(ids["500"] in line and "OperationalError" in line for line in lines), err
