"""Finding 6b: opening a case needs one of the workflow's ``open_roles``, over HTTP too."""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import WORKFLOWS, LiveServer
from .test_http_api import RECORD

TOKENS = {
    "no-roles": "no-roles-token-0123456789",
    "supervisor": "supervisor-token-0123456789",
    "intake": "intake-token-0123456789",
}


@pytest.fixture
def http(database_url: str) -> Iterator[httpx.Client]:
    clients = ClientRegistry(
        [
            Client("no-roles", "svc:no-roles", (), hash_token(TOKENS["no-roles"])),
            Client("supervisor", "svc:sup", ("supervisor",), hash_token(TOKENS["supervisor"])),
            Client("intake", "svc:intake", ("intake_coordinator",), hash_token(TOKENS["intake"])),
        ]
    )
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=ManualClock())
    try:
        app = create_app(engine, clients=clients)
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as client:
            yield client
    finally:
        engine.close()


def _open(http: httpx.Client, who: str) -> httpx.Response:
    return http.post(
        "/v1/cases",
        json={"workflow": "brokerage", "record": RECORD},
        headers={"Authorization": f"Bearer {TOKENS[who]}"},
    )


@pytest.mark.parametrize("who", ["no-roles", "supervisor"])
def test_client_without_an_open_role_gets_403_open_denied(http: httpx.Client, who: str) -> None:
    r = _open(http, who)
    assert r.status_code == 403, r.text
    body = r.json()
    assert body["type"].endswith("/open-denied")
    assert body["allowed_roles"] == ["intake_coordinator", "case_manager"]
    assert "P-0001" not in r.text


def test_client_with_an_open_role_opens_the_case(http: httpx.Client) -> None:
    assert _open(http, "intake").status_code == 201
