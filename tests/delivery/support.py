"""Helpers of the delivery tests: a receiver process, secrets, polling without timing assertions."""

from __future__ import annotations

import base64
import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

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
