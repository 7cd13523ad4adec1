"""Helpers of the delivery tests: a receiver process, secrets, polling without timing assertions."""

from __future__ import annotations

import base64
import json
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx

HERE = Path(__file__).resolve().parent
WORKFLOW = HERE / "fixtures" / "dispatch.yaml"
RECEIVER = HERE / "receiver.py"
CLERK = {"actor": "clerk-1", "roles": ["clerk"]}


def new_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_until(check: Callable[[], bool], *, timeout: float = 180.0, what: str = "") -> None:
    """Poll ``check`` until it holds; fail after ``timeout`` (a hang guard, not a measurement)."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"gave up waiting for {what or check}")
        time.sleep(0.02)


class Receiver:
    """tests/delivery/receiver.py as a process on a fixed loopback port."""

    def __init__(self, state: Path, secrets_: list[str], *, port: int | None = None) -> None:
        self.state = state
        self.secrets = secrets_
        self.port = port or free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hooks"

    def start(self, *, die_after: int = 0, status: int = 204, delay: float = 0.0) -> Receiver:
        ready = self.state / "ready"
        ready.unlink(missing_ok=True)
        cmd = [sys.executable, str(RECEIVER), str(self.port), str(self.state)]
        for s in self.secrets:
            cmd += ["--secret", s]
        cmd += ["--die-after", str(die_after), "--status", str(status), "--delay", str(delay)]
        self.proc = subprocess.Popen(cmd, env={**os.environ, "PYTHONUNBUFFERED": "1"})
        wait_until(ready.exists, what="the receiver to listen")
        return self

    def wait_exit(self) -> int:
        assert self.proc is not None
        return self.proc.wait(timeout=60)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=30)
        self.proc = None

    def lines(self, name: str) -> list[str]:
        path = self.state / name
        return path.read_text().split() if path.exists() else []

    def __enter__(self) -> Receiver:
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


def write_clients(path: Path, token: str, *, roles: list[str]) -> Path:
    """A clients file with one client ``host-app`` (read, write, actions) holding ``token``."""
    from engine.api.clients import hash_token

    client = {
        "name": "host-app",
        "actor": "svc:host-app",
        "roles": roles,
        "permissions": ["read", "write", "actions"],
        "token_sha256": hash_token(token),
    }
    path.write_text(json.dumps({"clients": [client]}), encoding="utf-8")
    path.chmod(0o600)
    return path


@contextmanager
def casework_serve(*args: str, token: str) -> Iterator[httpx.Client]:
    """``casework serve ARGS`` as a process on a free loopback port; yields a client holding
    ``token``, once ``/health`` answers. The server is terminated on the way out."""
    port = free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "engine", "serve", *args, "--port", str(port)],
        env={**os.environ, "PYTHONUNBUFFERED": "1"},
        stderr=subprocess.PIPE,
    )
    headers = {"Authorization": f"Bearer {token}"}
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", headers=headers, timeout=30) as http:

            def up() -> bool:
                if server.poll() is not None:
                    err = server.stderr.read().decode(errors="replace") if server.stderr else ""
                    raise AssertionError(f"casework serve exited: {err[-2000:]}")
                try:
                    return http.get("/health").status_code == 200
                except httpx.TransportError:
                    return False

            wait_until(up, timeout=240, what="the server")  # slow start on a loaded box
            yield http
    finally:
        server.terminate()
        server.communicate(timeout=30)
