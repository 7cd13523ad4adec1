"""A real server on loopback: uvicorn in a thread, an httpx client, one engine per test."""

from __future__ import annotations

import socket
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
import uvicorn

from engine.api import Client, ClientRegistry, create_app, hash_token
from engine.api.clients import PERMISSIONS
from engine.clock import ManualClock
from engine.runtime.engine import Engine

ROOT = Path(__file__).resolve().parents[2]
WORKFLOWS = ROOT / "workflows"

TOKENS = {
    "admin": "admin-token-0123456789",
    "cm": "case-manager-token-0123456789",
    "reader": "reader-token-0123456789",
    "writer": "writer-token-0123456789",
}


def registry() -> ClientRegistry:
    return ClientRegistry(
        [
            Client("admin", "api:admin", ("*",), hash_token(TOKENS["admin"]), PERMISSIONS),
            Client(
                "cm",
                "svc:ward-app",
                ("case_manager", "intake_coordinator", "nurse", "discharge_planner"),
                hash_token(TOKENS["cm"]),
            ),
            Client(
                "reader", "svc:dashboard", (), hash_token(TOKENS["reader"]), frozenset({"read"})
            ),
            Client(  # a referral feed: opens cases and sends events, never reads them
                "writer",
                "svc:referral-feed",
                ("intake_coordinator", "case_manager"),
                hash_token(TOKENS["writer"]),
                frozenset({"write"}),
            ),
        ]
    )


class LiveServer:
    """uvicorn serving ``app`` on a pre-bound loopback socket, in a thread."""

    def __init__(self, app: object) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        # Accepted sockets inherit TCP_NODELAY; without it every response waits ~40 ms
        # for a delayed ACK (Nagle), because uvicorn writes headers and body separately.
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(128)  # connections queue until the server accepts: no start-up wait
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(app, log_config=None, access_log=False, lifespan="off", ws="none")
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> LiveServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@dataclass
class Api:
    engine: Engine
    clock: ManualClock
    server: LiveServer
    http: httpx.Client

    def as_(self, who: str | None) -> dict[str, str]:
        return {} if who is None else {"Authorization": f"Bearer {TOKENS[who]}"}

    def access_rows(self) -> list[tuple[str, str | None, str]]:
        """The access audit: (actor, case_id, what) in insertion order."""
        from sqlalchemy import text

        store = self.engine._context.store
        with store.db.connect() as conn:
            rows = conn.execute(text("select actor, case_id, what from access_log order by id"))
            return [(r[0], r[1], r[2]) for r in rows]


@pytest.fixture
def api(database_url: str) -> Iterator[Api]:
    clock = ManualClock()
    engine = Engine.open(database_url, workflows=WORKFLOWS, clock=clock)
    app = create_app(engine, clients=registry(), max_body_bytes=64 * 1024)
    try:
        with LiveServer(app) as server, httpx.Client(base_url=server.url, timeout=60) as http:
            yield Api(engine, clock, server, http)
    finally:
        engine.close()
