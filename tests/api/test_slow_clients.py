"""Finding 11: slow clients are cut off (408 and close) while other requests are served."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
from collections.abc import Iterator

import httpx
import pytest
import uvicorn

from engine.api import create_app
from engine.api.slow_clients import timed_h11_protocol
from engine.clock import ManualClock
from engine.runtime.engine import Engine

from .conftest import TOKENS, WORKFLOWS, registry

BOUND = 30.0  # seconds a test waits at most for the server to act


class TimedServer:
    def __init__(self, app: object, header_timeout: float, body_timeout: float) -> None:
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind(("127.0.0.1", 0))
        self.sock.listen(64)
        self.port = self.sock.getsockname()[1]
        config = uvicorn.Config(
            app,
            log_config=None,
            access_log=False,
            lifespan="off",
            ws="none",
            http=timed_h11_protocol(header_timeout, body_timeout),
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(
            target=self.server.run, kwargs={"sockets": [self.sock]}, daemon=True
        )

    def __enter__(self) -> TimedServer:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=30)
        self.sock.close()


@pytest.fixture
def server(sqlite_url: str) -> Iterator[TimedServer]:
    engine = Engine.open(sqlite_url, workflows=WORKFLOWS, clock=ManualClock())
    try:
        app = create_app(engine, clients=registry())
        with TimedServer(app, header_timeout=0.5, body_timeout=0.5) as srv:
            yield srv
    finally:
        engine.close()


def _connect(srv: TimedServer) -> socket.socket:
    s = socket.create_connection(("127.0.0.1", srv.port), timeout=BOUND)
    s.settimeout(0.1)
    return s


def _drip_until_answered(s: socket.socket, drip: list[bytes], http: httpx.Client) -> bytes:
    """Send ``drip`` a piece at a time, serving other requests between pieces, until the
    server answers or closes; returns everything it sent."""
    got = b""
    deadline = time.monotonic() + BOUND
    pieces = iter(drip)
    while time.monotonic() < deadline:
        piece = next(pieces, None)
        if piece is not None:
            with contextlib.suppress(OSError):  # closed by the server
                s.sendall(piece)
        assert http.get("/health").status_code == 200  # others are served meanwhile
        try:
            chunk = s.recv(4096)
        except TimeoutError:
            continue
        if not chunk:
            return got
        got += chunk
    raise AssertionError("the server never cut the slow client off")


def _url(srv: TimedServer) -> str:
    return f"http://127.0.0.1:{srv.port}"


def test_headers_sent_slowly_get_408_and_close_while_others_are_served(
    server: TimedServer,
) -> None:
    headers = b"GET /health HTTP/1.1\r\nHost: x\r\n" + b"".join(
        f"x-slow-{i}: {i}\r\n".encode() for i in range(10_000)
    )
    drip = [headers[i : i + 3] for i in range(0, len(headers), 3)]
    with _connect(server) as s, httpx.Client(base_url=_url(server), timeout=BOUND) as http:
        answer = _drip_until_answered(s, drip, http)
    assert answer.startswith(b"HTTP/1.1 408 ")
    assert b"connection: close" in answer.lower()


def test_a_connection_that_sends_nothing_is_closed(server: TimedServer) -> None:
    with _connect(server) as s, httpx.Client(base_url=_url(server), timeout=BOUND) as http:
        answer = _drip_until_answered(s, [], http)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_a_body_sent_slowly_gets_408(server: TimedServer) -> None:
    head = (
        b"POST /v1/cases HTTP/1.1\r\nHost: x\r\n"
        + f"Authorization: Bearer {TOKENS['cm']}\r\n".encode()
        + b"Content-Type: application/json\r\nContent-Length: 100000\r\n\r\n"
    )
    drip = [head] + [b" "] * 100_000
    with _connect(server) as s, httpx.Client(base_url=_url(server), timeout=BOUND) as http:
        answer = _drip_until_answered(s, drip, http)
    assert answer.startswith(b"HTTP/1.1 408 ")


def test_prompt_clients_keep_their_connection_across_requests(server: TimedServer) -> None:
    with httpx.Client(base_url=_url(server), timeout=BOUND) as http:
        for _ in range(3):
            assert http.get("/health").status_code == 200
        r = http.get("/v1/definitions", headers={"Authorization": f"Bearer {TOKENS['cm']}"})
        assert r.status_code == 200


def test_serve_takes_header_and_body_timeouts() -> None:
    import argparse

    from engine.cli import serve

    parser = argparse.ArgumentParser()
    serve.register(parser.add_subparsers())
    args = parser.parse_args(["serve", "--header-timeout", "2.5", "--body-timeout", "7"])
    assert (args.header_timeout, args.body_timeout) == (2.5, 7.0)
    protocol = timed_h11_protocol(args.header_timeout, args.body_timeout)
    assert (protocol.header_timeout, protocol.body_timeout) == (2.5, 7.0)
    with pytest.raises(ValueError, match="positive"):
        timed_h11_protocol(0, 1)
