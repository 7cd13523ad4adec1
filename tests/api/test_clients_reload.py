"""A running server authenticates against the clients file as it is now: `casework clients
add|rotate|revoke` take effect on the next request, without a restart."""

from __future__ import annotations

import json
from pathlib import Path

import httpx
import pytest

from engine.api import create_app
from engine.api.clients_file import ReloadingClientRegistry
from engine.cli.main import main
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import WORKFLOWS, LiveServer


def _token(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main([*argv, "--json"]) == 0
    return str(json.loads(capsys.readouterr().out)["token"])


def test_added_rotated_and_revoked_clients_apply_without_a_restart(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "clients.json"
    first = _token(
        capsys, "clients", "add", "dash", "--clients", str(path), "--permissions", "read"
    )
    registry = ReloadingClientRegistry(path)
    engine = Engine.open(f"sqlite:///{tmp_path / 'db.sqlite'}", workflows=WORKFLOWS,
                         clock=ManualClock())  # fmt: skip
    try:
        app = create_app(engine, clients=registry)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:

            def status(token: str) -> int:
                r = http.get("/v1/definitions", headers={"Authorization": f"Bearer {token}"})
                return r.status_code

            assert status(first) == 200
            second = _token(capsys, "clients", "add", "ward", "--clients", str(path))
            assert status(second) == 200  # added: no restart
            rotated = _token(capsys, "clients", "rotate", "dash", "--clients", str(path))
            assert (status(first), status(rotated)) == (401, 200)
            assert main(["clients", "revoke", "ward", "--clients", str(path)]) == 0
            assert status(second) == 401
            path.write_text("{ half written")  # a broken file keeps the clients loaded before
            path.chmod(0o600)
            assert status(rotated) == 200
            assert registry.reloads == 3
    finally:
        engine.close()
